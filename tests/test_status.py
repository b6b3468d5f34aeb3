"""``largelr status``: names as the other commands take them, done / total, and never more running runs than
the processes that hold them without saying why."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from largelr import store
from largelr.cli import main
from largelr.cli.status_view import settle_running
from largelr.store import leases

HEADLINE_QUICK = 15  # the headline target's quick preset: 5 LRs x 3 seeds (its docstring and the README)


def out_lines(capsys, *argv: str) -> list[str]:
    assert main(["status", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_status_takes_a_reproduce_target_name_and_counts_its_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `largelr status headline` means runs/reproduce/headline, as reproduce writes it
    expected = [
        f"runs/reproduce/headline: 0/{HEADLINE_QUICK} done (-), 0 running, 0 failed, 0 stale, 0 incomplete, "
        f"0 damaged, {HEADLINE_QUICK} of the experiment's runs not started",
        f"  experiment: reproduce headline --preset quick ({HEADLINE_QUICK} runs)",
    ]
    assert out_lines(capsys, "headline") == expected
    for name in ("headline", "reproduce/headline"):  # the same as --experiment, with a directory
        lines = out_lines(capsys, "runs/reproduce/headline", "--experiment", name)
        assert lines == expected
    assert out_lines(capsys, "headline", "--preset", "standard")[1].startswith(
        "  experiment: reproduce headline --preset standard ("
    )


def test_status_reads_the_target_and_preset_a_reproduce_recorded(capsys, study_copy):
    # a directory `largelr reproduce` wrote: its note names the target, so the total needs no flag
    store.write_note(study_copy, {"target": "headline", "preset": "quick"})
    lines = out_lines(capsys, str(study_copy))
    assert lines[0].startswith(f"{study_copy}: 1/{HEADLINE_QUICK + 1} done (1 ok), 0 running")
    assert lines[0].endswith(f", {HEADLINE_QUICK} of the experiment's runs not started")


def test_status_takes_a_shipped_study_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = out_lines(capsys, "quickstart")
    assert lines[0].startswith("runs/quickstart: 0/")
    assert lines[1].startswith("  experiment: quickstart (")


def lease(rd: Path, pid: int | None = None) -> None:
    rd.mkdir(exist_ok=True)
    info = {"host": socket.gethostname(), "pid": pid or os.getpid(), "token": rd.name}
    (rd / store.LEASE).write_text(json.dumps(info))


def test_a_worker_that_moved_on_between_reads_holds_one_running_run(study_copy):
    (done,) = [p for p in study_copy.iterdir() if (p / store.DONE).is_file()]
    lease(done)  # read while it trained; its worker then wrote DONE (and claimed the next run)
    nxt, released = study_copy / "bbbbbbbbbbbbbbbb", study_copy / "cccccccccccccccc"
    lease(nxt)
    released.mkdir()  # read as running, lease released before it was read: no host, no pid to show
    states = {done.name: "running", nxt.name: "running", released.name: "running"}
    running, notes = settle_running(study_copy, states)
    assert states == {done.name: "done", nxt.name: "running", released.name: "incomplete"}
    assert list(running) == [nxt.name] and running[nxt.name]["pid"] == os.getpid()
    assert notes == []


def test_more_running_runs_than_processes_is_explained(capsys, study_copy):
    a, b = study_copy / "aaaaaaaaaaaaaaaa", study_copy / "bbbbbbbbbbbbbbbb"
    for rd in (a, b):
        lease(rd)  # two fresh leases of this one process: a worker trains one run at a time
    lines = out_lines(capsys, str(study_copy))
    assert lines[0] == f"{study_copy}: 1 done (1 ok), 2 running, 0 failed, 0 stale, 0 incomplete, 0 damaged"
    host = socket.gethostname()
    assert lines[1:3] == [f"  running  {rd.name} {host} pid {os.getpid()}" for rd in (a, b)]
    assert lines[3].startswith(f"  note: 2 running runs hold fresh leases of one process ({host} pid {os.getpid()})")
    assert f"{leases.LEASE_TIMEOUT:g} s" in lines[3]

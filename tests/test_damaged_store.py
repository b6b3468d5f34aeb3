"""The store never follows a link out of itself, every damage of any shape (a
link, a directory where a file belongs, a fifo, an unreadable or missing file, weights of another model)
is named per run by status, report and repair without a crash or a hang, repair deletes only inside the
store, and a write that fails (disk full) leaves the run cleanly incomplete with one ``error:`` line."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from largelr import store
from largelr.cli import main
from largelr.errors import UserError
from test_cli_errors import assert_user_error
from test_user_mistakes import _status
from tiny import TINY, TINY_SET

EXPERIMENT = (
    "from largelr.config import RunConfig, apply_overrides\n\n"
    f"TINY = {TINY!r}\n\n"
    "def sweep():\n"
    "    return [apply_overrides(RunConfig(), [*TINY, f'optim.lr={lr}']) for lr in ('0.1', '0.2')]\n"
)  # the two configs of the two_runs fixture


@pytest.fixture
def study(two_runs, tmp_path) -> Path:
    dst = tmp_path / "study"
    shutil.copytree(two_runs, dst)
    return dst


@pytest.fixture
def experiment(tmp_path) -> Path:
    path = tmp_path / "two.py"
    path.write_text(EXPERIMENT)
    return path


status_lines = _status  # `largelr status` output lines, exit 0 and no traceback (tests/test_user_mistakes.py)


def outside_folder(tmp_path: Path, rd: Path) -> Path:
    """Move run ``rd`` out of the store (unfinished: no DONE), put a file of the user's beside its files,
    and leave a symbolic link to it where the run was."""
    outside = tmp_path / "elsewhere"
    shutil.move(rd, outside)
    (outside / store.DONE).unlink()
    (outside / "precious.txt").write_text("the user's")
    rd.symlink_to(outside, target_is_directory=True)
    return outside


def trainer(rd: Path) -> tuple[int, int]:
    """(pid, DONE's mtime) of a finished run: changes only when the run is trained again."""
    return json.loads((rd / store.ENV).read_text())["worker"]["pid"], (rd / store.DONE).stat().st_mtime_ns


def test_a_sweep_never_writes_through_a_linked_run_directory(capsys, study, experiment, tmp_path, snapshot):
    """An unfinished run's directory is a link to a folder elsewhere; begin() used to
    empty that folder and write the run into it, exit 0."""
    linked, good = store.run_dirs(study)
    outside = outside_folder(tmp_path, linked)
    before, good_before = snapshot(outside), trainer(good)
    assert main(["sweep", str(experiment), "--out", str(study), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert (
        "2 runs: 1 already done, 0 run now" in out and f"1 runs are damaged and were not redone ({linked.name})" in out
    )
    assert snapshot(outside) == before and trainer(good) == good_before
    lines = status_lines(capsys, study)
    assert lines[0] == f"{study}: 1 done (1 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 1 damaged"
    assert lines[1] == (
        f"damaged {linked}: the run directory is a symbolic link (to {outside}); the store never follows links"
    )
    with pytest.raises(UserError, match="is a symbolic link"):
        store.begin(linked, None, {})  # refused before anything: the config is never read
    with pytest.raises(UserError, match="is a symbolic link"):
        store.claim(linked)
    assert snapshot(outside) == before
    # repair removes the link, never what it points to; the next sweep redoes exactly that run
    assert main(["repair", str(study), "--yes"]) == 0
    assert "deleted 1 damaged runs" in capsys.readouterr().out
    assert not os.path.lexists(linked) and snapshot(outside) == before
    assert main(["sweep", str(experiment), "--out", str(study), "--no-progress"]) == 0
    assert "2 runs: 1 already done, 1 run now (1 ok)" in capsys.readouterr().out
    assert trainer(good) == good_before and store.verify_run(linked, deep=True) == []
    assert not linked.is_symlink() and snapshot(outside) == before


def test_repair_verify_goes_past_a_linked_run_and_deletes_only_inside(capsys, study, tmp_path, snapshot):
    """A finished run's directory that is a link used to crash ``repair --yes --verify`` ("Cannot call
    rmtree on a symbolic link"), leaving the damaged runs after it."""
    a, b = store.run_dirs(study)
    outside = tmp_path / "elsewhere"
    shutil.copytree(a, outside)
    shutil.rmtree(a)
    a.symlink_to(outside, target_is_directory=True)
    (b / store.RESULT).unlink()
    (b / store.RESULT).mkdir()  # a directory where result.json belongs
    (b / store.RESULT / "x").write_text("x")
    fifo = study / "ffffffffffffffff"
    os.mkfifo(fifo)  # an entry named like a run that is a fifo
    before = snapshot(outside)
    assert main(["repair", str(study), "--yes", "--verify"]) == 0
    out = capsys.readouterr().out
    assert f"damaged {a}: the run directory is a symbolic link" in out
    assert f"damaged {b}: result.json is a directory, not a regular file" in out
    assert f"damaged {fifo}: the run directory is a fifo, not a directory" in out
    assert "deleted 3 damaged runs" in out
    assert not any(os.path.lexists(p) for p in (a, b, fifo)) and snapshot(outside) == before


DAMAGES = {  # name: (file, how to damage it, the problem status names)
    "result_is_a_directory": (store.RESULT, "dir", "result.json is a directory, not a regular file"),
    "history_is_a_directory": (store.HISTORY, "dir", "history.jsonl is a directory, not a regular file"),
    "result_is_a_fifo": (store.RESULT, "fifo", "result.json is a fifo, not a regular file"),
    "history_is_a_fifo": (store.HISTORY, "fifo", "history.jsonl is a fifo, not a regular file"),
    "weights_is_a_fifo": (store.WEIGHTS, "fifo", "model.pt is a fifo, not a regular file"),
    "config_is_a_link": (store.CONFIG, "link", "config.json is a symbolic link (to "),
    "env_is_a_link": (store.ENV, "link", "env.json is a symbolic link (to "),
    "history_missing": (store.HISTORY, "delete", "history.jsonl is missing"),
    "result_unreadable": (store.RESULT, "unreadable", "result.json is corrupt (cannot be read (Permission denied))"),
}


def damage(rd: Path, fname: str, how: str, elsewhere: Path, monkeypatch) -> None:
    path = rd / fname
    shutil.copy(path, elsewhere)  # a file outside the store: it must survive whatever repair does
    if how == "unreadable":  # root reads any file whatever its mode: make reading it fail instead
        real = Path.read_bytes

        def read_bytes(p: Path) -> bytes:
            if p == path:
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(p)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
        return
    path.unlink()
    if how == "dir":
        path.mkdir()
    elif how == "fifo":
        os.mkfifo(path)  # opening it to read would block forever
    elif how == "link":
        path.symlink_to(elsewhere)


@pytest.mark.parametrize("name", list(DAMAGES))
def test_damage_of_any_shape_is_named_by_status_report_and_repair(capsys, study, tmp_path, monkeypatch, name):
    fname, how, problem = DAMAGES[name]
    bad, good = store.run_dirs(study)
    damage(bad, fname, how, tmp_path / "copy", monkeypatch)
    for extra in ((), ("--verify",)):
        lines = status_lines(capsys, study, *extra)
        assert lines[0] == f"{study}: 1 done (1 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 1 damaged"
        assert lines[1].startswith(f"damaged {bad}: ") and problem in lines[1], lines[1]
    assert main(["report", str(study), "--out", str(tmp_path / "r")]) == 0
    assert bad.name not in (tmp_path / "r" / "runs.csv").read_text()
    assert good.name in (tmp_path / "r" / "runs.csv").read_text()
    capsys.readouterr()
    assert_user_error(capsys, ["report", str(study), "--strict", "--out", str(tmp_path / "r2")], [bad.name, problem])
    assert main(["repair", str(study), "--yes", "--verify"]) == 0
    assert "deleted 1 damaged runs" in capsys.readouterr().out
    assert not bad.exists() and good.exists() and (tmp_path / "copy").exists()


def test_verify_finds_weights_of_another_model(capsys, study, tmp_path, make_cfg):
    """A model.pt holding another model's tensors used to pass --verify (it only checked for a dict)."""
    import torch

    from largelr.run import execute

    a, b = store.run_dirs(study)
    wide = make_cfg("model.kwargs.width=48")
    execute(wide, tmp_path / "other")
    shutil.copy(store.run_dir(tmp_path / "other", wide) / store.WEIGHTS, a / store.WEIGHTS)
    assert store.verify_run(a) == []  # the shallow check sees a file
    (problem,) = store.verify_run(a, deep=True)
    assert problem.startswith("model.pt does not fit the model the config builds: ")
    assert "has shape [48, 1568], the config's model [32, 1568]" in problem
    torch.save({"w": torch.zeros(2)}, b / store.WEIGHTS)
    (problem,) = store.verify_run(b, deep=True)
    assert "missing " in problem and "unexpected w" in problem
    lines = status_lines(capsys, study, "--verify")
    assert lines[0].endswith("0 done (-), 0 running, 0 failed, 0 stale, 0 incomplete, 2 damaged")


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "model.pt")


@pytest.mark.parametrize("where", ["weights", "lease"])
def test_disk_full_is_one_error_line_and_leaves_the_run_cleanly_incomplete(capsys, tmp_path, monkeypatch, where):
    """``run --out`` on a full filesystem used to give an OSError traceback and left the run with
    its LEASE. Now: exit 2, one line, no DONE, no LEASE, no temporary file; the same command redoes it."""
    out = tmp_path / "out"
    if where == "weights":
        real = store.atomic_write
        monkeypatch.setattr(
            store.layout, "atomic_write", lambda p, d: _no_space() if p.name == store.WEIGHTS else real(p, d)
        )
    else:  # writing the LEASE itself fails
        monkeypatch.setattr(store.leases.os, "fsync", _no_space)
    line = assert_user_error(capsys, ["run", "--out", str(out), *TINY_SET], ["No space left on device", "incomplete"])
    assert "the same command redoes it" in line
    (rd,) = [p for p in out.iterdir() if store.looks_like_run_id(p.name)]
    left = sorted(p.name for p in rd.iterdir())
    assert store.DONE not in left and store.LEASE not in left and not [n for n in left if n.endswith(".tmp")]
    assert store.run_state(rd) in ("incomplete", "missing")
    monkeypatch.undo()
    assert main(["run", "--out", str(out), *TINY_SET]) == 0
    assert store.verify_run(rd, deep=True) == [] and not (rd / store.LEASE).exists()


def test_report_on_a_full_disk_is_one_error_line(capsys, study, tmp_path, monkeypatch):
    real = Path.write_text

    def write_text(p: Path, *args, **kwargs):
        if p.name == "report.md":
            raise OSError(errno.ENOSPC, "No space left on device", str(p))
        return real(p, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    assert_user_error(capsys, ["report", str(study), "--out", str(tmp_path / "r")], ["No space left on device"])
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".report-*"))


def test_status_and_repair_refuse_a_directory_that_is_not_a_study(capsys, tmp_path):
    empty, unrelated = tmp_path / "empty", tmp_path / "unrelated"
    empty.mkdir()
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("x")
    (unrelated / "photos").mkdir()
    for d in (empty, unrelated):
        for cmd in ("status", "repair"):
            assert_user_error(capsys, [cmd, str(d)], [str(d), "is not a results directory", "no run directories"])
    assert sorted(p.name for p in unrelated.iterdir()) == ["notes.txt", "photos"]
    f = tmp_path / "file"
    f.write_text("x")
    assert_user_error(capsys, ["status", str(f)], [str(f), "not found"])


def test_status_with_experiment_counts_a_study_not_started_yet(capsys, tmp_path, experiment):
    lines = status_lines(capsys, tmp_path / "new", "--experiment", str(experiment))
    assert lines == [
        f"{tmp_path / 'new'}: 0/2 done (-), 0 running, 0 failed, 0 stale, 0 incomplete, 0 damaged, "
        "2 of the experiment's runs not started",
        "  experiment: two (2 runs)",
    ]

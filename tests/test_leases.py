"""Leases: a run directory is claimed atomically; fresh leases are respected, stale ones taken over by
exactly one contender, and only the holder may clear the directory."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from largelr import leases, store


def fake_lease(rd: Path, *, host: str, pid: int, age: float = 0.0) -> None:
    rd.mkdir(parents=True, exist_ok=True)
    (rd / store.LEASE).write_text(json.dumps({"host": host, "pid": pid, "token": "other"}))
    t = time.time() - age
    os.utime(rd / store.LEASE, (t, t))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claim_is_exclusive_and_release_frees_it(tmp_path):
    rd = tmp_path / "run"
    lease = leases.claim(rd)
    assert lease is not None and lease.held()
    assert json.loads((rd / store.LEASE).read_text())["pid"] == os.getpid()
    assert leases.claim(rd) is None  # our own fresh lease counts like anyone's
    assert leases.run_state(rd) == "running"
    lease.release()
    assert not (rd / store.LEASE).exists()
    assert leases.claim(rd) is not None


@pytest.mark.parametrize(
    "host, pid, age, taken",
    [
        ("elsewhere", 1, 0.0, False),  # fresh lease of another machine: skip
        ("elsewhere", 1, leases.LEASE_TIMEOUT + 5, True),  # no heartbeat for longer than the timeout
        ("elsewhere", 1, leases.LEASE_TIMEOUT - 5, False),  # heartbeat just within the timeout
        ("here", "dead", 0.0, True),  # this host, process gone: stale at once
        ("here", "self", 0.0, False),  # this host, process alive
    ],
)
def test_stale_leases_are_taken_over_and_fresh_ones_respected(tmp_path, host, pid, age, taken):
    rd = tmp_path / "run"
    host = socket.gethostname() if host == "here" else host
    pid = {"dead": dead_pid(), "self": os.getpid()}.get(pid, pid)
    fake_lease(rd, host=host, pid=pid, age=age)
    assert leases.run_state(rd) == ("stale" if taken else "running")
    lease = leases.claim(rd)
    assert (lease is not None) == taken
    owner = json.loads((rd / store.LEASE).read_text())
    assert owner["token"] == (lease.info["token"] if taken else "other")
    assert [p.name for p in rd.iterdir()] == [store.LEASE]  # nothing left aside


def test_heartbeat_keeps_a_lease_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(leases, "HEARTBEAT_EVERY", 0.05)
    rd = tmp_path / "run"
    lease = leases.claim(rd)
    old = time.time() - 1000
    os.utime(rd / store.LEASE, (old, old))
    with lease:
        time.sleep(0.5)
        assert time.time() - (rd / store.LEASE).stat().st_mtime < 5
    assert not (rd / store.LEASE).exists()  # released on exit


def test_only_the_holder_clears_a_directory(tmp_path):
    from largelr.config import RunConfig

    rd = tmp_path / "run"
    lease = leases.claim(rd)
    (rd / "junk").write_text("x")
    fake_lease(rd, host="elsewhere", pid=1)  # taken over meanwhile (we missed heartbeats)
    assert not lease.held()
    with pytest.raises(RuntimeError, match="lease lost"):
        store.begin(rd, RunConfig(), {}, lease)
    assert (rd / "junk").exists()
    lease.release()  # not ours any more: left alone
    assert json.loads((rd / store.LEASE).read_text())["token"] == "other"


def _contend(rd: str, start: float, out, finished) -> None:
    while time.time() < start:
        pass
    lease = leases.claim(Path(rd))
    out.put(None if lease is None else lease.info["token"])
    finished.wait(120)  # stay alive: a holder whose process is gone has a stale lease


@pytest.mark.parametrize("initial", ["none", "stale"])
def test_of_many_simultaneous_claims_exactly_one_wins(tmp_path, initial):
    """8 processes claim the same run at the same instant, on a free run and on one whose lease is stale."""
    rd = tmp_path / "run"
    if initial == "stale":
        fake_lease(rd, host="elsewhere", pid=1, age=leases.LEASE_TIMEOUT + 60)
    ctx = multiprocessing.get_context("fork")
    out, finished = ctx.Queue(), ctx.Event()
    start = time.time() + 1.0
    procs = [ctx.Process(target=_contend, args=(str(rd), start, out, finished)) for _ in range(8)]
    for p in procs:
        p.start()
    tokens = [out.get(timeout=60) for _ in procs]
    finished.set()
    for p in procs:
        p.join()
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1
    assert json.loads((rd / store.LEASE).read_text())["token"] == winners[0]

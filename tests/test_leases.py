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

from largelr import store


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
    lease = store.claim(rd)
    assert lease is not None and lease.held()
    assert json.loads((rd / store.LEASE).read_text())["pid"] == os.getpid()
    assert store.claim(rd) is None  # our own fresh lease counts like anyone's
    assert store.run_state(rd) == "running"
    lease.release()
    assert not (rd / store.LEASE).exists()
    assert store.claim(rd) is not None


@pytest.mark.parametrize(
    "host, pid, age, taken",
    [
        ("elsewhere", 1, 0.0, False),  # fresh lease of another machine: skip
        ("elsewhere", 1, store.leases.LEASE_TIMEOUT + 5, True),  # no heartbeat for longer than the timeout
        ("elsewhere", 1, store.leases.LEASE_TIMEOUT - 5, False),  # heartbeat just within the timeout
        ("here", "dead", 0.0, True),  # this host, process gone: stale at once
        ("here", "self", 0.0, False),  # this host, process alive
    ],
)
def test_stale_leases_are_taken_over_and_fresh_ones_respected(tmp_path, host, pid, age, taken):
    rd = tmp_path / "run"
    host = socket.gethostname() if host == "here" else host
    pid = {"dead": dead_pid(), "self": os.getpid()}.get(pid, pid)
    fake_lease(rd, host=host, pid=pid, age=age)
    assert store.run_state(rd) == ("stale" if taken else "running")
    lease = store.claim(rd)
    assert (lease is not None) == taken
    owner = json.loads((rd / store.LEASE).read_text())
    assert owner["token"] == (lease.info["token"] if taken else "other")
    assert [p.name for p in rd.iterdir()] == [store.LEASE]  # nothing left aside


def test_heartbeat_keeps_a_lease_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(store.leases, "HEARTBEAT_EVERY", 0.05)
    rd = tmp_path / "run"
    lease = store.claim(rd)
    old = time.time() - 1000
    os.utime(rd / store.LEASE, (old, old))
    with lease:  # wait for the observable state (a heartbeat touched the file), not for a duration:
        deadline = time.time() + 60  # under load the heartbeat thread may not run within any fixed time
        while (rd / store.LEASE).stat().st_mtime < old + 500 and time.time() < deadline:
            time.sleep(0.01)
        assert time.time() - (rd / store.LEASE).stat().st_mtime < 60
    assert not (rd / store.LEASE).exists()  # released on exit


def test_only_the_holder_clears_a_directory(tmp_path):
    from largelr.config import RunConfig

    rd = tmp_path / "run"
    lease = store.claim(rd)
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
    lease = store.claim(Path(rd))
    out.put(None if lease is None else lease.info["token"])
    finished.wait(120)  # stay alive: a holder whose process is gone has a stale lease


@pytest.mark.parametrize("initial", ["none", "stale"])
def test_of_many_simultaneous_claims_exactly_one_wins(tmp_path, initial):
    """8 processes claim the same run at the same instant, on a free run and on one whose lease is stale."""
    rd = tmp_path / "run"
    if initial == "stale":
        fake_lease(rd, host="elsewhere", pid=1, age=store.leases.LEASE_TIMEOUT + 60)
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


def test_a_takeover_never_removes_a_claim_made_after_the_lease_was_judged_stale(tmp_path):
    """The interleaving behind two winners (seen once under load): B judges the lease stale; A takes it over and
    is between its O_EXCL create and its write (an empty file); then B's takeover must leave A's claim alone."""
    rd = tmp_path / "run"
    fake_lease(rd, host="elsewhere", pid=1, age=store.leases.LEASE_TIMEOUT + 60)
    path = rd / store.LEASE
    assert store.leases.may_take_over(path)  # B's view
    path.unlink()  # A's takeover ...
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # ... and its claim, not written yet
    assert not store.leases.remove_stale(path)  # B re-reads under the guard: a fresh claim
    os.write(fd, json.dumps({"host": "elsewhere", "pid": 1, "token": "A"}).encode())
    os.close(fd)
    assert store.claim(rd) is None
    assert json.loads(path.read_text())["token"] == "A"
    assert [p.name for p in rd.iterdir()] == [store.LEASE]  # the guard is gone


def test_only_the_holder_of_the_takeover_guard_removes_a_stale_lease(tmp_path):
    rd = tmp_path / "run"
    fake_lease(rd, host="elsewhere", pid=1, age=store.leases.LEASE_TIMEOUT + 60)
    guard = rd / f".{store.LEASE}.takeover"
    guard.write_text("")  # another worker is taking it over
    assert store.claim(rd) is None and (rd / store.LEASE).exists()
    old = time.time() - store.leases.LEASE_TIMEOUT - 1  # ... and died doing so
    os.utime(guard, (old, old))
    assert store.claim(rd) is None and not guard.exists()  # the dead guard is cleared, the run left to the next claim
    lease = store.claim(rd)
    assert lease is not None and json.loads((rd / store.LEASE).read_text())["token"] == lease.info["token"]


def test_run_state_names_every_state(tmp_path):
    rd = tmp_path / "run"
    assert store.run_state(rd) == "missing"
    rd.mkdir()
    assert store.run_state(rd) == "incomplete"
    (rd / store.FAILED).write_text("Traceback ...")
    assert store.run_state(rd) == "failed"
    fake_lease(rd, host="elsewhere", pid=1)  # a lease wins over FAILED: the run is being retried
    assert store.run_state(rd) == "running"
    assert store.run_state(rd, timeout=0.0) == "stale"  # the timeout is the caller's
    (rd / store.DONE).write_text("")
    assert store.run_state(rd) == "done"


def test_staleness_at_the_boundaries(tmp_path):
    now = time.time()
    other = {"host": "elsewhere", "pid": os.getpid()}
    assert not store.leases.lease_is_stale({**other, "heartbeat": now - 50.0}, timeout=60.0)
    assert store.leases.lease_is_stale({**other, "heartbeat": now - 70.0}, timeout=60.0)
    # a dead pid of another host says nothing: that machine's process table is not ours
    assert not store.leases.lease_is_stale({"host": "elsewhere", "pid": dead_pid(), "heartbeat": now})
    here = socket.gethostname()
    assert store.leases.lease_is_stale({"host": here, "pid": dead_pid(), "heartbeat": now})
    assert not store.leases.lease_is_stale({"host": here, "pid": os.getpid(), "heartbeat": now})
    assert not store.leases.lease_is_stale(
        {"host": here, "pid": "1", "heartbeat": now}
    )  # not a pid: trust the heartbeat


def test_read_lease_accepts_only_a_json_object(tmp_path):
    path = tmp_path / store.LEASE
    path.write_text("[1, 2]")
    assert store.leases.read_lease(path) is None
    path.write_text('{"host": "h", "pid": 3')  # being written
    assert store.leases.read_lease(path) is None
    path.write_text('{"host": "h", "pid": 3}')
    info = store.leases.read_lease(path)
    assert info == {"host": "h", "pid": 3, "heartbeat": path.stat().st_mtime}


def test_a_lease_being_written_is_respected_and_an_abandoned_empty_one_taken_over(tmp_path):
    rd = tmp_path / "run"
    rd.mkdir()
    (rd / store.LEASE).write_text("")  # its holder is between open and write
    assert store.claim(rd) is None
    assert (rd / store.LEASE).read_text() == ""
    old = time.time() - store.leases.LEASE_TIMEOUT - 5
    os.utime(rd / store.LEASE, (old, old))  # ... or died there long ago
    lease = store.claim(rd)
    assert lease is not None and lease.held()
    info = json.loads((rd / store.LEASE).read_text())
    assert set(info) == {"host", "pid", "token", "claimed"} and abs(info["claimed"] - time.time()) < 60
    assert [p.name for p in rd.iterdir()] == [store.LEASE]
    assert (rd / store.LEASE).stat().st_mode & 0o777 == 0o644 & ~store.current_umask()


def test_the_heartbeat_thread_is_a_named_daemon_that_ends_with_the_lease(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(store.leases, "HEARTBEAT_EVERY", 0.05)
    lease = store.claim(tmp_path / "run")
    with lease:
        beats = [t for t in threading.enumerate() if t.name == "largelr-lease"]
        assert len(beats) == 1 and beats[0].daemon  # never keeps a finished worker process alive
    beats[0].join(timeout=60)  # a hang guard: it ends when the lease does
    assert not beats[0].is_alive()
    (tmp_path / "run" / store.LEASE).unlink(missing_ok=True)
    lease.heartbeat()  # the file is gone (taken over and released): a beat must not raise


def test_claim_uses_its_own_timeout(tmp_path):
    rd = tmp_path / "run"
    fake_lease(rd, host="elsewhere", pid=1, age=30.0)  # fresh by the default 120 s, stale by 10 s
    assert store.claim(rd) is None
    assert store.claim(rd, timeout=10.0) is not None

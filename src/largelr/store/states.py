"""The one run-state vocabulary: what a run directory's files say about the run, and claiming a run.

``RunState`` is what ``largelr status``, the progress bars, the sweep (which runs to launch) and the
workers (whether a run was already done) all use. Status comes only from the filesystem: DONE means
finished, a fresh LEASE means a worker trains it now, FAILED that it raised, any other directory that it
was interrupted.
"""

from __future__ import annotations

import enum
from pathlib import Path

from largelr.store import leases
from largelr.store.entries import odd_entry
from largelr.store.layout import DONE, FAILED, LEASE, check_run_dir, run_dirs


class RunState(enum.StrEnum):
    """The state of one run directory (a ``str``: ``RunState.DONE == "done"``)."""

    MISSING = "missing"  # never started: no directory
    INCOMPLETE = "incomplete"  # started, neither finished nor claimed (interrupted): the next sweep redoes it
    RUNNING = "running"  # a worker holds a fresh lease on it
    STALE = "stale"  # a lease without heartbeat: the next sweep takes it over
    FAILED = "failed"  # raised (FAILED holds the traceback); the next sweep retries it
    DONE = "done"  # DONE written (last)
    DAMAGED = "damaged"  # not a real directory (a link, a file, a fifo): never read or written through


def run_state(rd: Path, timeout: float = leases.LEASE_TIMEOUT) -> RunState:
    """The ``RunState`` of run directory ``rd``, from its files alone."""
    if odd_entry(rd, "dir"):
        return RunState.DAMAGED
    if (rd / DONE).is_file():
        return RunState.DONE
    lease = leases.read_lease(rd / LEASE)
    if lease is not None:
        return RunState.STALE if leases.lease_is_stale(lease, timeout) else RunState.RUNNING
    if (rd / FAILED).is_file():
        return RunState.FAILED
    return RunState.INCOMPLETE if rd.exists() else RunState.MISSING


def study_states(study: str | Path, run_ids: list[str] | None = None) -> dict[str, RunState]:
    """``{run_id: run_state}`` for ``run_ids`` (default: every run directory of the study)."""
    study = Path(study)
    if run_ids is None:
        run_ids = [rd.name for rd in run_dirs(study)]
    return {r: run_state(study / r) for r in run_ids}


def claim(rd: Path, timeout: float = leases.LEASE_TIMEOUT) -> leases.Lease | None:
    """Claim run directory ``rd`` for this process (its LEASE, ``leases.claim``); None when another
    worker holds a fresh lease on it. A link in place of the directory is never followed."""
    check_run_dir(rd)  # a link is never followed: the lease would land outside the store
    rd.mkdir(parents=True, exist_ok=True)
    return leases.claim(rd / LEASE, timeout)

"""What ``largelr status`` needs beyond the run states: which experiment a results directory belongs to (so it
can say done / total), and a consistent view of the running runs while workers move on underneath.

A status is read from the filesystem one run at a time while a sweep may be running. A worker that finishes run
A (DONE, then its lease released) and claims run B between two reads makes a naive scan count A and B as
running for one worker, and a lease released between reading a run's state and reading its lease shows a
running run with no host. ``settle_running`` rereads exactly those runs, so each worker holds at most one
running run, and says why when one still appears to hold more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from largelr import store
from largelr.errors import UserError
from largelr.store import leases


@dataclass(frozen=True)
class Expected:
    """The runs a results directory should hold: their ids and what they came from (for the message)."""

    label: str
    run_ids: list[str]


def resolve_dir(name: str) -> tuple[Path, str | None]:
    """``(results directory, experiment name or None)`` for ``largelr status NAME``.

    An existing directory is itself; otherwise a reproduce target's name means its default directory
    ``runs/reproduce/NAME`` and a shipped study's name ``runs/NAME``, as ``reproduce`` and ``sweep`` write them.
    """
    path = Path(name)
    if path.exists() or path.is_symlink():
        return path, None
    from largelr.reproduce import target_names
    from largelr.studies import study_path

    bare = name.removeprefix("reproduce/")
    if bare in target_names():
        return Path("runs") / "reproduce" / bare, f"reproduce/{bare}"
    if study_path(name):
        return Path("runs") / name, name
    return path, None


def expected_runs(study: Path, experiment: str | None, preset: str | None) -> Expected | None:
    """The run ids of ``experiment`` (a shipped study, a reproduce target such as ``headline``, or an experiment
    file); without one, those of the reproduce target recorded in the directory's note, if any.

    A reproduce target's preset is ``preset``, else the one its note records, else ``quick``.
    """
    from largelr.reproduce import load_target, target_names
    from largelr.sweep import load_experiment

    note = store.read_note(study) if study.is_dir() else {}
    if experiment is None:
        if not note.get("target"):
            return None
        experiment = f"reproduce/{note['target']}"
    bare = experiment.removeprefix("reproduce/")
    if not experiment.endswith(".py") and bare in target_names():
        chosen = preset or (note.get("preset") if note.get("target") == bare else None) or "quick"
        configs = load_target(bare).configs(chosen)
        label = f"reproduce {bare} --preset {chosen}"
    else:
        if preset:
            raise UserError(f"--preset applies to reproduce targets ({', '.join(target_names())}), not {experiment}")
        exp = load_experiment(experiment)
        configs, label = exp.configs, exp.name
    return Expected(label, [store.run_dir(study, c).name for c in configs])


def settle_running(study: Path, states: dict[str, str]) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    """Reread the runs that ``states`` calls running until each worker holds one; update ``states`` in place.

    Returns:
        ({run id: its lease (None when unreadable)} of the runs still running, notes explaining a process
        that still holds several fresh leases).
    """
    running = {rid: leases.read_lease(study / rid / store.LEASE) for rid, st in states.items() if st == "running"}
    by_worker: dict[tuple[Any, Any], list[str]] = defaultdict(list)
    for rid, lease in running.items():
        by_worker[(lease or {}).get("host"), (lease or {}).get("pid")].append(rid)
    recheck = [rid for rid, lease in running.items() if lease is None]
    recheck += [rid for key, rids in by_worker.items() if len(rids) > 1 and key != (None, None) for rid in rids]
    for rid in recheck:  # a worker moved on between two reads: the run it left is done (or released) now
        states[rid] = store.run_state(study / rid)
        lease = leases.read_lease(study / rid / store.LEASE)
        if states[rid] == "running" and lease is not None:
            running[rid] = lease
        else:
            running.pop(rid, None)
            if states[rid] == "running":  # released between the two reads just now: count it as what it is now
                states[rid] = "incomplete" if (study / rid).exists() else "missing"
    by_worker = defaultdict(list)
    for rid, lease in running.items():
        by_worker[(lease or {}).get("host"), (lease or {}).get("pid")].append(rid)
    notes = [
        f"{len(rids)} running runs hold fresh leases of one process ({host} pid {pid}), which trains one run at a "
        f"time: all but one are leases it left behind (e.g. a run interrupted inside a worker that went on); "
        f"they turn stale {leases.LEASE_TIMEOUT:g} s after their last heartbeat"
        for (host, pid), rids in by_worker.items()
        if len(rids) > 1
    ]
    return running, notes

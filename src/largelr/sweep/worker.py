"""What every executor runs for one config, wherever it runs: ``run_one(cfg, study) -> Outcome``.

A run that raises keeps its traceback in the run directory (``FAILED``) and is reported as an error,
not raised, so schedulers with retries (Ray) retry only lost workers, never a broken config. A run
whose lease another live worker holds is skipped ("busy"). ``python -m largelr.sweep.worker CONFIG
STUDY`` does the same in a subprocess (the pool), exiting 0 done, 3 busy, 1 error, 143 preempted.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from largelr import config as config_mod
from largelr import store
from largelr.config import RunConfig

EXIT = {"done": 0, "error": 1, "busy": 3, "preempted": 143}


@dataclass
class Outcome:
    """``kind``: "done" (finished now or earlier), "busy", "error" or "preempted"; ``result`` when done."""

    kind: str
    result: dict[str, Any] | None = None
    message: str = ""
    trained: bool = field(default=False)  # trained by this call (not loaded because already done)
    signum: int = 0  # the signal that preempted the run


OnDone = Callable[[RunConfig, Outcome], None]


def run_one(cfg: RunConfig, study: str | Path) -> Outcome:
    """Run ``cfg`` into ``study`` through ``runner.execute``; never raises for a failing run."""
    from largelr.checkpoint import Preempted
    from largelr.runner import RunBusy, execute

    rd = store.run_dir(study, cfg)
    was_done = store.status(rd) == "done"
    try:
        result = execute(cfg, study)
    except RunBusy as e:
        return Outcome("busy", message=str(e))
    except Preempted as e:
        return Outcome("preempted", message=str(e), signum=e.signum)
    except Exception as e:  # the run's own failure: keep the traceback, report, go on with the others
        store.record_failure(rd, traceback.format_exc())
        return Outcome("error", message=f"{type(e).__name__}: {e} (traceback: {rd / store.FAILED})")
    return Outcome("done", result, trained=not was_done and trained_by(rd, os.getpid()))


def trained_by(rd: Path, pid: int) -> bool:
    """Whether the finished run in ``rd`` was trained by process ``pid`` of this host (env.json "worker")."""
    import socket

    worker = store.read_json(rd / store.ENV).get("worker", {})
    return worker.get("pid") == pid and worker.get("host") == socket.gethostname()


def run_queued(config_path: str, study: str, threads: int = 0) -> Outcome:
    """``run_one`` for a config written by ``store.queue_config`` (how configs reach remote workers)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return run_one(config_mod.load_json(config_path), study)


def die_with_parent(parent_pid: int) -> None:
    """Get SIGTERM when ``parent_pid`` (the sweep driver) dies: PR_SET_PDEATHSIG on Linux, where the
    signal checkpoints the run and stops it; exit at once if the parent is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        raise SystemExit(EXIT["preempted"])


def main(argv: list[str] | None = None) -> int:
    """``python -m largelr.sweep.worker CONFIG_JSON STUDY``: one run in a pool subprocess."""
    import logging

    config_path, study = argv or sys.argv[1:]
    if "LARGELR_PARENT_PID" in os.environ:
        die_with_parent(int(os.environ["LARGELR_PARENT_PID"]))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    outcome = run_queued(config_path, study)
    if outcome.message:
        print(f"{outcome.kind}: {outcome.message}", file=sys.stderr)
    return EXIT[outcome.kind]


if __name__ == "__main__":
    raise SystemExit(main())

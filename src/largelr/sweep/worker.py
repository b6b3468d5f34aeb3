"""What every executor runs for one config, wherever it runs: ``run_one(cfg, study) -> Outcome``.

A run that raises keeps its traceback in the run directory (``FAILED``) and is reported as an error,
not raised, so schedulers with retries (Ray) retry only lost workers, never a broken config. A run
whose lease another live worker holds is skipped ("busy").

``python -m largelr.sweep.worker STUDY`` is a pool worker of the local executor: a long-lived process
that reads config paths from stdin, one per line, runs each with ``run_one`` (its output going to
``STUDY/_logs/<run_id>.log``) and answers one JSON line per run on stdout; it exits 0 at the end of its
input and 143 after a preempted run. One process serves many runs, so imports, data sources and built
datasets are paid once per worker, not once per run.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
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

PREEMPTED = 143  # a worker's exit status after SIGTERM/SIGUSR1 stopped its run (128 + SIGTERM)
LOG_DIR = "_logs"


@dataclass
class Outcome:
    """``kind``: "done" (finished now or earlier), "busy", "invalid" (a bad config or input: rerunning cannot
    help), "error" (a crash: rerunning may) or "preempted"; ``result`` when done."""

    kind: str
    result: dict[str, Any] | None = None
    message: str = ""
    trained: bool = field(default=False)  # trained by this call (not loaded because already done)
    signum: int = 0  # the signal that preempted the run


OnDone = Callable[[RunConfig, Outcome], None]


def run_one(cfg: RunConfig, study: str | Path) -> Outcome:
    """Run ``cfg`` into ``study`` through ``largelr.run.execute``; never raises for a failing run."""
    from largelr.checkpoint import Preempted
    from largelr.errors import UserError
    from largelr.run import RunBusy, execute

    rd = store.run_dir(study, cfg)
    was_done = store.run_state(rd) is store.RunState.DONE
    try:
        result = execute(cfg, study)
    except RunBusy as e:
        return Outcome("busy", message=str(e))
    except Preempted as e:
        return Outcome("preempted", message=str(e), signum=e.signum)
    except UserError as e:  # a bad config or input (ConfigError included): classified here, where it is caught
        store.record_failure(rd, traceback.format_exc())
        return Outcome("invalid", message=f"{type(e).__name__}: {e} (traceback: {rd / store.FAILED})")
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
        raise SystemExit(PREEMPTED)


def log_path(study: str | Path, cfg: RunConfig) -> Path:
    """Where a pool worker writes the output of run ``cfg``: ``STUDY/_logs/<run_id>.log``."""
    return Path(study) / LOG_DIR / f"{store.run_dir(study, cfg).name}.log"


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors 1 and 2, so C-level output too) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def serve(study: str, requests, replies) -> int:
    """Run each config path read from ``requests`` (one per line) into ``study``; one JSON reply line
    per run on ``replies``. Returns at end of input (0) or after a preempted run (143)."""
    for line in requests:
        cfg = config_mod.load_json(line.strip())
        with output_to(log_path(study, cfg)):
            outcome = run_one(cfg, study)
            if outcome.message:
                print(f"{outcome.kind}: {outcome.message}", file=sys.stderr)
        reply = {"kind": outcome.kind, "message": outcome.message, "trained": outcome.trained, "signum": outcome.signum}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        if outcome.kind == "preempted":
            return PREEMPTED
    return 0


def outcome_of(reply: str) -> Outcome:
    """The ``Outcome`` a pool worker's reply line describes (without ``result``: the driver reads it from the store)."""
    return Outcome(**json.loads(reply))


def main(argv: list[str] | None = None) -> int:
    """``python -m largelr.sweep.worker STUDY``: a pool worker (see the module docstring)."""
    import logging

    (study,) = argv or sys.argv[1:]
    if "LARGELR_PARENT_PID" in os.environ:
        die_with_parent(int(os.environ["LARGELR_PARENT_PID"]))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    replies = os.fdopen(os.dup(1), "w")  # runs' own output goes to their logs through fds 1 and 2
    return serve(study, sys.stdin, replies)


if __name__ == "__main__":
    raise SystemExit(main())

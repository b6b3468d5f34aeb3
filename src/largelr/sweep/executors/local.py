"""The local executor: this machine, serially in-process (``--jobs 1``) or in a pool of subprocesses.

Pool children run ``python -m largelr.sweep.worker`` and die with the driver (PR_SET_PDEATHSIG: a
SIGTERM that makes them checkpoint and stop), so killing the driver leaves no orphan training on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from largelr import store
from largelr.checkpoint import Preempted
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.sweep.executors import EXECUTORS
from largelr.sweep.worker import EXIT, OnDone, Outcome, run_one, trained_by

LOG_DIR = "_logs"

OPTIONS = argparse.ArgumentParser(add_help=False)
OPTIONS.add_argument_group("local executor").add_argument(
    "--jobs", type=int, default=1, help="runs in parallel (default 1: serial, in this process)"
)


def check(opts: argparse.Namespace) -> None:
    if opts.jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {opts.jobs}")


@EXECUTORS.register(
    "local", options=[OPTIONS], check=check, help="this machine: serial in-process, or --jobs N subprocesses"
)
def run_local(configs: Sequence[RunConfig], study: Path, opts: argparse.Namespace, on_done: OnDone) -> None:
    check(opts)
    if opts.jobs == 1:
        for cfg in configs:  # in this process: breakpoints work
            outcome = run_one(cfg, study)
            on_done(cfg, outcome)
            if outcome.kind == "preempted":  # SIGTERM/SIGUSR1 to the sweep itself: stop, don't start the next
                raise Preempted(outcome.message, outcome.signum)
    else:
        run_pool(configs, study, opts.jobs, on_done)


def run_pool(configs: Sequence[RunConfig], study: Path, jobs: int, on_done: OnDone) -> None:
    """``jobs`` subprocesses at a time, threads split between them; output in ``study/_logs/<run_id>.log``.

    On KeyboardInterrupt the children get SIGTERM: they checkpoint and the next sweep resumes them.
    """
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {
        **os.environ,
        "LARGELR_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "LARGELR_PARENT_PID": str(os.getpid()),
    }
    (study / LOG_DIR).mkdir(parents=True, exist_ok=True)
    pending = list(configs)
    running: dict[subprocess.Popen, RunConfig] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                cfg = pending.pop(0)
                cmd = [sys.executable, "-m", "largelr.sweep.worker", str(store.queue_config(study, cfg)), str(study)]
                with open(study / LOG_DIR / f"{store.run_dir(study, cfg).name}.log", "w") as logf:
                    running[subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)] = cfg
            for proc in [p for p in running if p.poll() is not None]:
                cfg = running.pop(proc)
                on_done(cfg, _child_outcome(cfg, study, proc))
            time.sleep(0.05)
    finally:
        for proc in running:
            proc.terminate()
        for proc in running:
            proc.wait()


def _child_outcome(cfg: RunConfig, study: Path, proc: subprocess.Popen) -> Outcome:
    rd = store.run_dir(study, cfg)
    logpath = study / LOG_DIR / f"{rd.name}.log"
    tail = logpath.read_text().strip().splitlines()[-1:] if logpath.exists() else []
    last = tail[0] if tail else ""
    if proc.returncode == EXIT["done"] and store.status(rd) == "done":
        return Outcome("done", store.load_run(rd)["result"], trained=trained_by(rd, proc.pid))
    if proc.returncode == EXIT["busy"]:
        return Outcome("busy", message=last)
    if proc.returncode == EXIT["preempted"]:
        return Outcome("preempted", message=last)
    return Outcome("error", message=f"exit code {proc.returncode}: {last} (log: {logpath})")

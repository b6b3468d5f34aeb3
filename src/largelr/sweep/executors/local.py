"""The local executor: this machine, serially in-process (``--jobs 1``) or in a pool of subprocesses.

Pool workers are long-lived ``python -m largelr.sweep.worker STUDY`` processes, each running many
runs (imports and datasets paid once per worker), and die with the driver (PR_SET_PDEATHSIG: a
SIGTERM that makes them checkpoint and stop), so killing the driver leaves no orphan training on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from largelr import store
from largelr.checkpoint import Preempted
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.sweep.executors.base import EXECUTORS
from largelr.sweep.worker import LOG_DIR, OnDone, Outcome, log_path, outcome_of, run_one

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
    """``jobs`` long-lived worker subprocesses, threads split between them, each fed one run at a time;
    each run's output in ``study/_logs/<run_id>.log``. A worker that dies takes only its current run
    with it (reported as an error); a fresh one replaces it while runs remain.

    On KeyboardInterrupt the workers get SIGTERM: they checkpoint and the next sweep resumes them.
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
    workers: list[_Worker] = []
    try:
        with selectors.DefaultSelector() as sel:
            while pending or any(w.cfg is not None for w in workers):
                for w in [w for w in workers if w.cfg is None]:
                    if pending:
                        w.give(pending.pop(0), study)
                while pending and len(workers) < jobs:
                    w = _Worker(study, env)
                    sel.register(w.proc.stdout, selectors.EVENT_READ, w)
                    workers.append(w)
                    w.give(pending.pop(0), study)
                for key, _ in sel.select(timeout=0.5):
                    w = key.data
                    cfg, reply = w.cfg, w.proc.stdout.readline()
                    w.cfg = None
                    outcome = _outcome(cfg, study, outcome_of(reply)) if reply and cfg else None
                    if outcome is None or outcome.kind == "preempted":  # the worker is gone or going
                        sel.unregister(w.proc.stdout)
                        workers.remove(w)
                        w.stop()
                    if cfg is not None:  # a worker that died (killed, out of memory) takes only its own run
                        on_done(cfg, outcome or _died(cfg, study, w.proc.returncode))
    finally:
        for w in workers:
            w.stop()


class _Worker:
    """One ``python -m largelr.sweep.worker STUDY`` process and the run it is busy with (``cfg``)."""

    def __init__(self, study: Path, env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "largelr.sweep.worker", str(study)]
        with open(study / LOG_DIR / "workers.log", "a") as errors:  # what a worker says outside any run
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                         env=env, text=True)  # fmt: skip
        self.cfg: RunConfig | None = None

    def give(self, cfg: RunConfig, study: Path) -> None:
        self.cfg = cfg
        self.proc.stdin.write(f"{store.queue_config(study, cfg)}\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """Idle: end of input; busy: SIGTERM (the run checkpoints). Then wait."""
        if self.cfg is not None:
            self.proc.terminate()
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


def _outcome(cfg: RunConfig, study: Path, outcome: Outcome) -> Outcome:
    rd = store.run_dir(study, cfg)
    if outcome.kind == "done":
        outcome.result = store.load_run(rd)["result"]
    elif outcome.kind in ("error", "invalid"):
        outcome.message += f" (log: {log_path(study, cfg)})"
    return outcome


def _died(cfg: RunConfig, study: Path, returncode: int) -> Outcome:
    logpath = log_path(study, cfg)
    tail = logpath.read_text().strip().splitlines()[-1:] if logpath.exists() else []
    return Outcome("error", message=f"worker died (exit code {returncode}): {tail[0] if tail else ''} (log: {logpath})")

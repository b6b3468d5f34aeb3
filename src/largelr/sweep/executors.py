"""Executors: hand a list of run configs to something that runs them.

An executor is ``fn(configs, study, *, jobs, on_done) -> None`` and is looked up by name in
``EXECUTORS``. Each run writes its own directory through ``largelr.runner.execute``; executors
only decide where and when that happens. ``on_done(cfg, result_or_error)`` is called as each
run ends, with the result dict or an error string.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from largelr import config as config_mod
from largelr import store
from largelr.config import RunConfig
from largelr.errors import UserError

log = logging.getLogger(__name__)
OnDone = Callable[[RunConfig, "dict[str, Any] | str"], None]
LOG_DIR = "_logs"


def run_local(configs: Sequence[RunConfig], study: Path, *, jobs: int, on_done: OnDone) -> None:
    """Serial, in this process (breakpoints work). A crash in one run is reported and the next goes on."""
    from largelr.runner import execute

    for cfg in configs:
        try:
            result = execute(cfg, study)
        except (UserError, RuntimeError, ValueError) as e:
            on_done(cfg, f"{type(e).__name__}: {e}")
            continue
        on_done(cfg, result)


def run_pool(configs: Sequence[RunConfig], study: Path, *, jobs: int, on_done: OnDone) -> None:
    """``jobs`` subprocesses at a time, ``largelr run --config -`` each, threads split between them.

    Each child's output goes to ``study/_logs/<run_id>.log``. On KeyboardInterrupt the children are
    terminated; their run directories have no DONE marker and are redone by the next sweep.
    """
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "LARGELR_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    (study / LOG_DIR).mkdir(parents=True, exist_ok=True)
    pending = list(configs)
    running: dict[subprocess.Popen, RunConfig] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                cfg = pending.pop(0)
                logf = open(study / LOG_DIR / f"{config_mod.run_id(cfg)}.log", "w")  # noqa: SIM115
                cmd = [sys.executable, "-m", "largelr", "run", "--config", "-", "--out", str(study)]
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT, env=env)
                logf.close()
                assert proc.stdin is not None
                proc.stdin.write(config_mod.to_json(cfg).encode())
                proc.stdin.close()
                running[proc] = cfg
            for proc in [p for p in running if p.poll() is not None]:
                cfg = running.pop(proc)
                on_done(cfg, _child_result(cfg, study, proc.returncode))
            time.sleep(0.05)
    finally:
        for proc in running:
            proc.terminate()
        for proc in running:
            proc.wait()


def _child_result(cfg: RunConfig, study: Path, returncode: int) -> dict[str, Any] | str:
    rd = store.run_dir(study, cfg)
    logpath = study / LOG_DIR / f"{rd.name}.log"
    if returncode == 0 and store.status(rd) == "done":
        return json.loads((rd / store.RESULT).read_text())
    tail = logpath.read_text().strip().splitlines()[-1:] if logpath.exists() else []
    return f"exit code {returncode}: {tail[0] if tail else ''} (log: {logpath})"


def run_dry(configs: Sequence[RunConfig], study: Path, *, jobs: int, on_done: OnDone) -> None:
    """Print the command each run would get, run nothing."""
    for cfg in configs:
        print(f"largelr run --out {study} --config - <<< '{config_mod.to_json(cfg)}'")


EXECUTORS: dict[str, Callable[..., None]] = {"local": run_local, "pool": run_pool, "dry": run_dry}

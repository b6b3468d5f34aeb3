"""Run a sweep: only the runs without DONE, in a seeded shuffled order, with a live progress bar."""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from largelr import store
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.store import RunState
from largelr.sweep.executors import EXECUTORS, check_foreign_options, executor_options
from largelr.sweep.worker import Outcome

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    total: int
    skipped: int  # already done before this invocation
    statuses: Counter = field(default_factory=Counter)  # ok / diverged / failed / error, for runs done now
    errors: list[str] = field(default_factory=list)  # crashes: rerunning may help
    config_errors: list[str] = field(default_factory=list)  # invalid configs: rerunning cannot help
    damaged: list[str] = field(default_factory=list)  # finished but damaged run ids, not redone
    busy: list[str] = field(default_factory=list)  # runs another worker was training (lease held)
    elsewhere: int = 0  # runs found done by another worker while this sweep ran


def sweep_status(configs: Sequence[RunConfig], study: str | Path) -> dict[RunState, list[RunConfig]]:
    """Configs grouped by their run directory's ``RunState`` (every state a key, possibly empty).

    A finished run that ``store.verify_run`` finds a problem with (e.g. DONE without config.json) is
    ``DAMAGED``: ``largelr status`` and ``largelr report`` see the same; ``largelr repair`` removes it.
    """
    out: dict[RunState, list[RunConfig]] = {s: [] for s in RunState}
    for cfg in configs:
        rd = store.run_dir(study, cfg)
        state = store.run_state(rd)
        if state is RunState.DONE and store.verify_run(rd):
            state = RunState.DAMAGED
        out[state].append(cfg)
    return out


def progress_counts(states: dict[str, RunState]) -> Counter:
    """How many runs are in each ``RunState`` but damaged, from ``{run_id: store.run_state}``."""
    c = Counter(states.values())
    return Counter({s.value: c[s] for s in RunState if s is not RunState.DAMAGED})


def run_sweep(
    configs: Sequence[RunConfig],
    study: str | Path,
    *,
    executor: str = "local",
    options: argparse.Namespace | None = None,
    shuffle_seed: int = 0,
    progress: bool = True,
    **given: Any,
) -> SweepSummary:
    """Run every config not yet done into ``study``.

    Args:
        executor: a name in EXECUTORS ("local", "ray", "slurm", "dry").
        options: the executor's options (as parsed by the CLI); else its defaults updated with ``given``
            (e.g. ``run_sweep(configs, out, jobs=2)``).
        shuffle_seed: launch order is shuffled with it, so a partial sweep covers the grid evenly.
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS.names())}")
    if options is not None:
        check_foreign_options(executor, options)
    opts = options or executor_options(executor, **given)
    spec = EXECUTORS.spec(executor)
    if spec.check is not None:
        spec.check(opts)  # bad options fail before anything is written
    from largelr.run import resolve_device

    if executor in ("local",):
        for device in sorted({c.train.device for c in configs}):
            resolve_device(device)  # an unavailable device fails here, before anything is written
    study = Path(study)
    groups = sweep_status(configs, study)
    # every unfinished run is launched (a fresh lease makes its worker skip it: "busy"); started ones first
    started = {
        id(c) for s in (RunState.INCOMPLETE, RunState.RUNNING, RunState.STALE, RunState.FAILED) for c in groups[s]
    }
    todo = [c for c in configs if id(c) in started] + groups[RunState.MISSING]
    random.Random(shuffle_seed).shuffle(todo)
    summary = SweepSummary(total=len(configs), skipped=len(groups[RunState.DONE]))
    summary.damaged = [store.run_dir(study, c).name for c in groups[RunState.DAMAGED]]
    if not todo:
        log.info("all %d runs in %s are done; nothing to do", len(configs), study)
        return summary
    if spec.writes:
        store.check_writable(study)
        study.mkdir(parents=True, exist_ok=True)
    ids = [store.run_dir(study, c).name for c in configs]
    progress = progress and sys.stderr.isatty()  # a log file gets one line per finished run, not bar redraws
    bar = tqdm(total=len(configs), initial=summary.skipped, unit="run", disable=not progress, dynamic_ncols=True)
    stop = threading.Event()

    def poll() -> None:  # progress from the filesystem, whatever the executor
        while not stop.wait(1.0):
            counts = progress_counts(store.study_states(study, ids))
            bar.n = counts["done"] + counts["failed"]
            bar.set_postfix(running=counts["running"], failed=counts["failed"], refresh=False)
            bar.refresh()

    def on_done(cfg: RunConfig, outcome: Outcome) -> None:
        from largelr.run import summary_line

        name = store.run_dir(study, cfg).name
        if outcome.kind == "done" and outcome.result is not None:
            if outcome.trained:
                summary.statuses[outcome.result["status"]] += 1
                bar.write(summary_line(cfg, outcome.result))
            else:
                summary.elsewhere += 1
        elif outcome.kind == "busy":
            summary.busy.append(name)
        else:
            summary.statuses["error"] += 1
            errors = summary.config_errors if outcome.kind == "invalid" else summary.errors
            errors.append(f"{name}: {outcome.message}")
            bar.write(f"ERROR {name} lr={cfg.optim.lr:g}: {outcome.message}")

    poller = threading.Thread(target=poll, daemon=True)
    if progress:
        poller.start()
    try:
        EXECUTORS.get(executor)(todo, study, opts, on_done)
    finally:
        stop.set()
        if progress:
            poller.join()
        bar.close()
    return summary

"""Run a sweep: only the runs without DONE, in a seeded shuffled order, with a progress bar."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from largelr import store
from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.sweep.executors import EXECUTORS

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    total: int
    skipped: int  # already done before this invocation
    statuses: Counter = field(default_factory=Counter)  # ok / diverged / failed / error, for runs done now
    errors: list[str] = field(default_factory=list)  # crashes: rerunning may help
    config_errors: list[str] = field(default_factory=list)  # invalid configs: rerunning cannot help
    damaged: list[str] = field(default_factory=list)  # finished but damaged run ids, not redone


def sweep_status(configs: Sequence[RunConfig], study: str | Path) -> dict[str, list[RunConfig]]:
    """Configs grouped by their run directory's state: "done", "damaged", "incomplete", "missing".

    "damaged" is a finished run that ``store.verify_run`` finds a problem with (e.g. DONE without
    config.json): ``largelr status`` and ``largelr report`` see the same; ``largelr repair`` removes it.
    """
    out: dict[str, list[RunConfig]] = {"done": [], "damaged": [], "incomplete": [], "missing": []}
    for cfg in configs:
        rd = store.run_dir(study, cfg)
        state = store.status(rd)
        if state == "done" and store.verify_run(rd):
            state = "damaged"
        out[state].append(cfg)
    return out


def is_config_error(outcome: str) -> bool:
    """Whether a failed run's error string is a bad config or input (rerunning cannot help), not a crash:
    a UserError raised in this process, or a ``largelr run`` child that exited with code 2."""
    return outcome.startswith(("UserError:", "ConfigError:", "exit code 2:"))


def run_sweep(
    configs: Sequence[RunConfig],
    study: str | Path,
    *,
    jobs: int = 1,
    executor: str | None = None,
    shuffle_seed: int = 0,
    progress: bool = True,
) -> SweepSummary:
    """Run every config not yet done into ``study``.

    Args:
        jobs: parallel runs; 1 runs serially in this process unless ``executor`` says otherwise.
        executor: a key of EXECUTORS; default "local" for jobs=1, "pool" otherwise.
        shuffle_seed: launch order is shuffled with it, so a partial sweep covers the grid evenly.
    """
    if jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {jobs}")
    name = executor or ("local" if jobs == 1 else "pool")
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; known: {', '.join(sorted(EXECUTORS))}")
    from largelr.runner import resolve_device

    for device in sorted({c.train.device for c in configs}):
        resolve_device(device)  # an unavailable device fails here, before anything is written
    study = Path(study)
    groups = sweep_status(configs, study)
    todo = groups["incomplete"] + groups["missing"]
    random.Random(shuffle_seed).shuffle(todo)
    summary = SweepSummary(total=len(configs), skipped=len(groups["done"]))
    summary.damaged = [store.run_dir(study, c).name for c in groups["damaged"]]
    if not todo:
        log.info("all %d runs in %s are done; nothing to do", len(configs), study)
        return summary
    if name != "dry":
        store.check_writable(study)
        study.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(configs), initial=summary.skipped, unit="run", disable=not progress, dynamic_ncols=True)

    def on_done(cfg: RunConfig, outcome: dict[str, Any] | str) -> None:
        from largelr.runner import summary_line

        if isinstance(outcome, str):
            summary.statuses["error"] += 1
            errors = summary.config_errors if is_config_error(outcome) else summary.errors
            errors.append(f"{store.run_dir(study, cfg).name}: {outcome}")
            bar.write(f"ERROR {store.run_dir(study, cfg).name} lr={cfg.optim.lr:g}: {outcome}")
        else:
            summary.statuses[outcome["status"]] += 1
            bar.write(summary_line(cfg, outcome))
        bar.update(1)

    try:
        EXECUTORS[name](todo, study, jobs=jobs, on_done=on_done)
    finally:
        bar.close()
    return summary

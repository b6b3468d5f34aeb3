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
    errors: list[str] = field(default_factory=list)


def sweep_status(configs: Sequence[RunConfig], study: str | Path) -> dict[str, list[RunConfig]]:
    """Configs grouped by their run directory's state: "done", "incomplete", "missing"."""
    out: dict[str, list[RunConfig]] = {"done": [], "incomplete": [], "missing": []}
    for cfg in configs:
        out[store.status(store.run_dir(study, cfg))].append(cfg)
    return out


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
    if not todo:
        log.info("all %d runs in %s are done; nothing to do", len(configs), study)
        return summary
    if name != "dry":
        study.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(configs), initial=summary.skipped, unit="run", disable=not progress, dynamic_ncols=True)

    def on_done(cfg: RunConfig, outcome: dict[str, Any] | str) -> None:
        from largelr.runner import summary_line

        if isinstance(outcome, str):
            summary.statuses["error"] += 1
            summary.errors.append(f"{store.run_dir(study, cfg).name}: {outcome}")
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

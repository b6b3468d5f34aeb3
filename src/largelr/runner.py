"""Run one config end to end into a study directory: build data, train, evaluate, write the store.

This is what ``largelr run`` and every sweep executor call. Writes go through ``largelr.store``
only, and depend only on the config and the outcome, not on how the run was launched.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from largelr import provenance, store
from largelr.config import RunConfig, run_id
from largelr.errors import UserError
from largelr.validate import check_config

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """The torch device a config names; a clear error when it is not available here."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={name!r} but CUDA is not available on this machine; use train.device=cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("train.device='mps' but MPS is not available on this machine; use train.device=cpu")
    return torch.device(name)


def setup_torch() -> None:
    """Deterministic kernels; thread count from LARGELR_THREADS (set by the pool executor)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    if "LARGELR_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["LARGELR_THREADS"]))


def execute(cfg: RunConfig, study: str | Path, force: bool = False) -> dict[str, Any]:
    """Train and evaluate ``cfg`` into ``study/<run_id>/`` unless it is already done.

    Returns:
        The run's result dict (also written to result.json). A finished run is loaded, not redone,
        unless ``force``.
    """
    from largelr.data import build_dataset
    from largelr.evaluate import evaluate
    from largelr.metrics import plan_metrics
    from largelr.models import build_model
    from largelr.train import train

    check_config(cfg)
    rd = store.run_dir(study, cfg)
    if store.status(rd) == "done" and not force:
        log.info("run %s already done, skipping", rd.name)
        return store.load_run(rd)["result"]
    device = resolve_device(cfg.train.device)
    setup_torch()
    t0 = time.perf_counter()
    data = build_dataset(cfg.data, seed=cfg.seeds.data).to(device)
    plan_metrics(cfg.eval.metrics, data)  # a metric the dataset cannot support fails before training
    with torch.random.fork_rng(devices=[]):  # a model the data cannot feed (a CNN on vectors) fails here too
        build_model(cfg.model, data.input_shape, data.num_classes)
    if force and rd.exists():
        (rd / store.DONE).unlink(missing_ok=True)
    store.begin(rd, cfg, provenance.environment(str(device)))
    outcome = train(cfg, data, on_eval=lambda row: store.append_history(rd, row))
    t_eval = time.perf_counter()
    if outcome.status == "diverged":
        # the last finite evaluation's numbers; nulls when there was none after step 0
        row = outcome.last_finite
        metrics: dict[str, Any] = {k: row.get(k) for k in outcome.history[0] if k not in ("step", "epoch")}
        timings: dict[str, float] = {}
    else:
        metrics, timings = evaluate(outcome.model, data, cfg.eval, seed=cfg.seeds.data)
    store.save_weights(rd, outcome.model.state_dict())
    last = outcome.history[-1]
    result = {
        "run_id": run_id(cfg),
        "status": outcome.status,
        "converged": outcome.converged,
        "steps": outcome.steps,
        "final_train_loss": last["train/loss"],
        "final_train_acc": last["train/acc"],
        "metrics": metrics,
        "seconds": {
            "total": time.perf_counter() - t0,
            "train": outcome.train_seconds,
            "history_eval": outcome.eval_seconds,
            "final_eval": time.perf_counter() - t_eval,
            "metrics": timings,
        },
    }
    store.finalize(rd, result, {"end_time": provenance.now()})
    return result


def summary_line(cfg: RunConfig, result: dict[str, Any]) -> str:
    """One line per finished run, for sweep progress output."""
    m = result["metrics"]

    def f(key: str) -> str:
        v = m.get(key)
        return f"{v:.3f}" if isinstance(v, (int, float)) else "n/a"

    return (
        f"{run_id(cfg)} lr={cfg.optim.lr:g} seeds={cfg.seeds.data}/{cfg.seeds.init}/{cfg.seeds.order} "
        f"{result['status']}{' (converged)' if result.get('converged') else ''} steps={result['steps']} "
        f"test/acc={f('test/acc')} test/acc_bc={f('test/acc_bc')} test/worst={f('test/worst_group_acc')} "
        f"comp={f('weights/comp')}"
    )

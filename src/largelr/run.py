"""Run one config end to end into a study directory: build data, train, evaluate, write the store.

This is what ``largelr run`` and every sweep executor call (``execute``, the only way a run happens). Writes
go through ``largelr.store`` only, and depend only on the config and the outcome, not on how the run was
launched. The module is callable: the public ``largelr.run(cfg, study)`` is ``execute`` (the package attribute
``largelr.run`` becomes this module once it is imported, so the module itself must do what the function did).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch

from largelr import provenance, store
from largelr.config import RunConfig, run_id
from largelr.errors import ConfigError, UserError
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


TRAIN_BYTES_PER_PARAM = 16  # float32 weights, gradients, optimizer state and one copy (metrics, pruning)


def memory_bytes(device: torch.device) -> int:
    """Memory a run can use on ``device``: the GPU's total memory, or this machine's physical memory."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_model_size(cfg: RunConfig, model: torch.nn.Module, device: torch.device) -> None:
    """ConfigError when training ``model`` (built on the meta device) cannot fit in ``device``'s memory:
    refused before anything is allocated, with the estimate."""
    n = sum(p.numel() for p in model.parameters())
    need, have = n * TRAIN_BYTES_PER_PARAM, memory_bytes(device)
    if need > have:
        raise ConfigError(
            f"model {cfg.model.name!r} with model.kwargs={cfg.model.kwargs} has {n:,} parameters: training it needs "
            f"about {need / 2**30:,.1f} GiB ({TRAIN_BYTES_PER_PARAM} bytes per parameter), more than the "
            f"{have / 2**30:,.1f} GiB of {device}; choose a smaller width or depth"
        )


class RunBusy(UserError):
    """Another live worker holds the run's lease (it is training it now)."""


def execute(cfg: RunConfig, study: str | Path, force: bool = False) -> dict[str, Any]:
    """Train and evaluate ``cfg`` into ``study/<run_id>/`` unless it is already done.

    The run's directory is claimed first (``store.claim``); a checkpoint left by an interrupted
    attempt is resumed from.

    Returns:
        The run's result dict (also written to result.json). A finished run is loaded, not redone,
        unless ``force``.

    Raises:
        RunBusy: another worker holds a fresh lease on the run.
        largelr.checkpoint.Preempted: SIGTERM/SIGUSR1 arrived; a checkpoint was written.
    """
    from largelr.data import build_dataset
    from largelr.metrics import plan_metrics
    from largelr.models import build_model

    check_config(cfg)
    rd = store.run_dir(study, cfg)
    store.check_run_dir(rd)  # a link, file or fifo in place of the run's directory: damage, never followed
    if store.run_state(rd) == "done" and not force:
        log.info("run %s already done, skipping", rd.name)
        return store.load_run(rd)["result"]
    store.check_writable(study)
    device = resolve_device(cfg.train.device)
    setup_torch()
    # everything that can reject the config (dataset, model construction, metric plan) runs before
    # the run directory exists, so a bad config leaves nothing behind
    data = build_dataset(cfg.data, seed=cfg.seeds.data).to(device)
    plan_metrics(cfg.eval.metrics, data)  # a metric the dataset cannot support fails before training
    try:
        with torch.device("meta"):  # a model the data cannot feed (a CNN on vectors) fails here, allocating nothing
            model = build_model(cfg.model, data.input_shape, data.num_classes)
    except (RuntimeError, OverflowError) as e:
        if "overflow" not in str(e).lower():
            raise
        raise ConfigError(
            f"model {cfg.model.name!r} with model.kwargs={cfg.model.kwargs} is too large to build at all (a weight's "
            f"size overflows: {str(e).splitlines()[0][:100]}); choose a smaller width or depth"
        ) from None
    check_model_size(cfg, model, device)
    try:
        lease = store.claim(rd)
        if lease is None:
            held = store.leases.read_lease(rd / store.LEASE) or {}
            raise RunBusy(f"run {rd.name} is being trained by {held.get('host')} pid {held.get('pid')}; skipped")
        with lease:
            if store.run_state(rd) == "done":
                if not force:
                    return store.load_run(rd)["result"]
                (rd / store.DONE).unlink()
            return _train_and_store(cfg, data, rd, lease, device, resume=not force)
    except OSError as e:  # a full disk, a lost mount, a permission changed mid-run
        raise StoreWriteError(
            f"run {rd} stopped: {e.strerror or e}{f' ({e.filename})' if e.filename else ''}; it is left incomplete "
            "(no DONE, no lease) and the same command redoes it once the cause is fixed"
        ) from None


class StoreWriteError(UserError):
    """An OSError (e.g. ENOSPC, disk full) while a run wrote its directory; the run is left incomplete."""


def _train_and_store(cfg: RunConfig, data, rd: Path, lease: store.leases.Lease, device, resume: bool) -> dict[str, Any]:
    from largelr.checkpoint import Checkpointer
    from largelr.evaluate import evaluate
    from largelr.train import train

    t0 = time.perf_counter()
    state = store.load_checkpoint(rd) if resume else None
    env = {**provenance.environment(str(device)), "worker": {k: lease.info[k] for k in ("host", "pid")}}
    if state is not None:
        env["resumed_from_step"] = state["step"]
    store.begin(rd, cfg, env, lease, keep_checkpoint=state is not None)
    if state is not None:
        log.info("run %s resumes from its checkpoint at step %d", rd.name, state["step"])
        store.write_history(rd, state["history"])
    on_eval, close = _history_writers(cfg, rd)
    ckpt = Checkpointer(lambda s: store.save_checkpoint(rd, s), cfg.train.checkpoint_every, state)
    try:
        with ckpt:
            outcome = train(cfg, data, on_eval=on_eval, checkpoint=ckpt)
    finally:
        close()
    t_eval = time.perf_counter()
    if outcome.status == "diverged":
        # the last finite evaluation's numbers; nulls when there was none after step 0
        row = outcome.last_finite
        metrics: dict[str, Any] = {k: row.get(k) for k in outcome.history[0] if k not in ("step", "epoch")}
        timings: dict[str, float] = {}
    else:
        metrics, timings = evaluate(outcome.model, data, cfg.eval, seed=cfg.seeds.data, lr=outcome.history[-1]["lr"])
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


def _history_writers(cfg: RunConfig, rd: Path):
    """``on_eval(row)`` appending to history.jsonl (and TensorBoard scalars if asked), and a close()."""
    if not cfg.train.tensorboard:
        return (lambda row: store.append_history(rd, row)), (lambda: None)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(store.tensorboard_dir(rd)))

    def on_eval(row: dict[str, Any]) -> None:
        store.append_history(rd, row)
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)):
                writer.add_scalar(key, value, row["step"])
        writer.flush()

    return on_eval, writer.close


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


class _CallableModule(types.ModuleType):
    """This module, callable: importing the submodule ``largelr.run`` rebinds the package attribute ``largelr.run``
    to it, so the documented ``largelr.run(cfg, study)`` keeps working only if the module itself can be called
    (assigning a module's ``__class__`` to a ModuleType subclass is supported since Python 3.5)."""

    def __call__(self, cfg: RunConfig, study: str | Path, force: bool = False) -> dict[str, Any]:
        return execute(cfg, study, force)


sys.modules[__name__].__class__ = _CallableModule  # largelr.run(cfg, study) == execute(cfg, study)

"""The training loop: plain PyTorch, readable top to bottom, pure in its config.

``train(cfg, data)`` trains one model on in-memory tensors batched by index (optimizer, LR schedule
and augmentation come from ``optim`` and ``augment``, the loss from ``objectives``), records the
history metrics (``evaluate.evaluate_history``) every ``train.eval_every`` steps, and stops on
convergence, divergence, failure or the step budget. It computes no metric itself. It returns the
trained model and the history; it writes nothing (``largelr.run`` decides where results go).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from largelr.augment import augmenter
from largelr.checkpoint import Checkpointer, resume, snapshot
from largelr.config import RunConfig, total_steps
from largelr.data import SpuriousDataset
from largelr.evaluate import evaluate_history
from largelr.metrics.observatory import Observatory, due
from largelr.models import batched_forward, build_model
from largelr.objectives import objective
from largelr.optim import build_optimizer, lr_at, set_lr
from largelr.seeding import derive_seed, make_generator

log = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    """What a training run produced. ``status`` is "ok", "diverged" or "failed"."""

    model: nn.Module
    status: str
    converged: bool
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0  # optimisation only, evaluations excluded
    eval_seconds: float = 0.0

    @property
    def last_finite(self) -> dict[str, Any]:
        """The last history row after step 0 whose train loss is finite (the metrics a diverged run
        reports); empty when it diverged before its first evaluation after step 0 (the step-0 row
        describes the untrained model, not this run)."""
        for row in reversed(self.history):
            if row["step"] > 0 and math.isfinite(row["train/loss"]):
                return row
        return {}


def is_failed(step: int, total: int, train_acc: float, num_classes: int, fail_after: int) -> bool:
    """The failure rule: train accuracy at most 1.25x chance at an evaluation at or after
    ``fail_after``, or at the last step (so a budget ending before ``fail_after`` is still checked)."""
    return (step >= fail_after or step == total) and train_acc <= 1.25 / num_classes


def init_model(cfg: RunConfig, data: SpuriousDataset, device: torch.device) -> nn.Module:
    """The model, initialised from the init seed alone (independent of data and order seeds)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seeds.init, "init"))
        model = build_model(cfg.model, data.input_shape, data.num_classes)
    return model.to(device)


def train(
    cfg: RunConfig,
    data: SpuriousDataset,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    checkpoint: Checkpointer | None = None,
) -> TrainOutcome:
    """Train one model. ``data`` must already be on ``cfg.train.device``.

    Args:
        cfg: the run config; ``model``, ``optim``, ``train``, ``augment``, ``seeds`` and ``eval`` (the history
            metrics' settings) are read.
        data: the dataset (built from ``cfg.data`` and ``cfg.seeds.data``).
        on_eval: called with each history row as it is produced (e.g. to append it to the store).
        checkpoint: saves the loop's state when due and resumes from ``checkpoint.state`` if given.
    """
    t = cfg.train
    device = data.splits["train"].x.device
    model = init_model(cfg, data, device)
    optimizer = build_optimizer(model, cfg.optim)
    order = make_generator(cfg.seeds.order, "order")  # CPU generator: same order on every device
    X, Y = data.splits["train"].x, data.splits["train"].y
    N, B = len(Y), t.batch_size
    T = total_steps(t, N)
    augment = augmenter(cfg.augment, cfg.seeds.order, X.shape)  # identity when augmentation is off
    outcome = TrainOutcome(model, "ok", False, 0)
    loss_of = objective(cfg, data, jtt_error_set=lambda: erm_error_set(cfg, data))  # (logits, idx) -> loss
    obs = Observatory(data, cfg.seeds.data, cfg.eval.observatory_every) if cfg.eval.observatory else None

    def evaluate_now(step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        lr = lr_at(max(step - 1, 0), cfg.optim, T)  # the LR of the last update (step 0: of the first)
        row = {
            "step": step,
            "epoch": step * B / N,
            "lr": lr,
            **evaluate_history(model, data, cfg.eval, cfg.seeds.data, lr),
        }
        previous = outcome.history[-1]["step"] if outcome.history else None  # opt-in history metrics (observatory)
        if obs is not None and due(step, previous, obs.every, step == T):
            row.update(obs.measure(model, lr))
        outcome.eval_seconds += time.perf_counter() - t0
        outcome.history.append(row)
        if on_eval:
            on_eval(row)
        return row

    noise = contextlib.ExitStack()  # dropout masks come from the global RNG: seed it from the order seed,
    noise.enter_context(torch.random.fork_rng(devices=[device] if device.type == "cuda" else []))  # restore after
    torch.manual_seed(derive_seed(cfg.seeds.order, "dropout"))
    generators = {"augment": augment.generator} if hasattr(augment, "generator") else {}
    perm, pos, first = torch.empty(0, dtype=torch.long, device=device), N, 1
    if checkpoint is not None and checkpoint.state is not None:  # after seeding: resume restores the RNGs
        first, perm, pos = resume(checkpoint.state, model, optimizer, order, outcome, generators)
        perm = perm.to(device)
    else:
        evaluate_now(0)
    t_start = time.perf_counter()
    try:  # a preemption (SIGTERM) raises out of after_step; the global RNG is restored either way
        for step in range(first, T + 1):
            if pos + B > N:  # new epoch; the last partial batch is dropped
                perm, pos = torch.randperm(N, generator=order).to(device), 0
            idx = perm[pos : pos + B]
            pos += B
            set_lr(optimizer, lr_at(step - 1, cfg.optim, T))  # schedule: a pure function of the step
            loss = loss_of(model(augment(X[idx])), idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            if step % t.eval_every == 0 or step == T:
                outcome.train_seconds += time.perf_counter() - t_start
                row = evaluate_now(step)
                outcome.steps = step
                if not math.isfinite(row["train/loss"]):
                    outcome.status = "diverged"
                    break
                if t.until == "converged" and row["train/acc"] == 1.0 and row["train/loss"] < t.loss_tol:
                    outcome.converged = True
                    break
                if is_failed(step, T, row["train/acc"], data.num_classes, t.fail_after):
                    outcome.status = "failed"
                    break
                t_start = time.perf_counter()
            if checkpoint is not None:
                checkpoint.after_step(
                    step,
                    lambda: snapshot(model, optimizer, order, perm, pos, outcome, generators),  # noqa: B023
                )
    finally:
        noise.close()
    log.debug("trained %d steps: %s", outcome.steps, outcome.status)
    return outcome


def erm_error_set(cfg: RunConfig, data: SpuriousDataset) -> Tensor:
    """JTT's identification step: the training samples misclassified by a plain ERM model (same config
    and seeds, ``bc_weight`` 1) trained for ``train.jtt_steps`` steps. Returns a bool mask (data's device)."""
    t = cfg.train
    erm_train = replace(t, bc_weight=1.0, until="budget", steps=t.jtt_steps, epochs=None, eval_every=t.jtt_steps)
    erm_cfg = replace(cfg, train=replace(erm_train, fail_after=t.jtt_steps + 1), eval=replace(cfg.eval, n_dynamics=0))
    erm = train(erm_cfg, data)
    split = data.splits["train"]
    with torch.no_grad():
        erm.model.eval()
        wrong = batched_forward(erm.model, split.x).argmax(1) != split.y
    bc = ~split.aligned
    log.info(
        "JTT error set: %d of %d training samples (%d of %d true BC) after %d ERM steps (%s)",
        int(wrong.sum()), len(wrong), int((wrong & bc).sum()), int(bc.sum()), erm.steps, erm.status,
    )  # fmt: skip
    return wrong

"""Suggest the largest learning rate that still trains, from the stability edge and a short divergence probe.

``suggest_lr(cfg)`` measures the sharpness lambda_0 of the training loss at initialisation (its stability
edge 2(1 + momentum)/lambda_0 anchors the ladder for SGD), trains short probes at a ladder of LRs on the sweep's
log grid (ratio sqrt 3, ``grid_lr``; a few hundred steps each, each stopped at divergence or failure), classifies
each rung's regime (stable / spiking / catapult / divergent / failed) and recommends the largest grid LR that
trained, one grid step (ratio sqrt 3) lower as a safety margin. Each probe is ``largelr.train.train`` on the
config with only the LR and the budget changed, so a rung trains exactly as the first steps of a real run
would. Pure in the config and its seeds; writes nothing (``largelr.cli.suggest`` prints and saves).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from largelr.config import RunConfig, total_steps
from largelr.data import SpuriousDataset
from largelr.errors import UserError
from largelr.metrics.catapult import catapults, detect_spikes
from largelr.metrics.sharpness import SUBSET, TopEigen, sharpness_of, stability_edge
from largelr.optim import OPTIMIZERS

log = logging.getLogger(__name__)

RATIO = math.sqrt(3)  # ladder and sweep grid ratio (the log grid)
PROBE_STEPS = 300  # optimizer steps per rung (ours: catapults of the default MLP end within ~100 steps)
BELOW = 2  # the ladder starts this many grid steps below its anchor (the grid LR at or below 2/lambda_0 for SGD)
MAX_RUNGS = 12
# the suggestion is this many grid steps below the largest rung that trained: a probe of a few hundred steps
# cannot see a failure that comes later in a full run (ReLUs that die after 1,000 steps), so one step back
MARGIN_RUNGS = 1
PROBE_EVAL_POINTS = 60  # full-train-loss evaluations per probe: the resolution of the spike detector
PROBE_EVAL_SAMPLES = 64  # val/test samples kept for a probe's history rows (they are not read)
TRAINS = ("stable", "spiking", "catapult")


@dataclass(frozen=True)
class Rung:
    """One LR of the ladder and what its probe did.

    Attributes:
        lr: the learning rate.
        regime: "stable" (trained, no spike), "catapult" (trained after a loss spike near the initial loss,
            ``largelr.metrics.catapult.catapults``), "spiking" (trained, with later spikes only: the edge of
            stability reached by sharpening), "divergent" (the loss became non-finite) or "failed" (did not
            train: ``did_train``).
        steps: optimizer steps the probe ran (fewer than asked when it diverged or converged).
        initial_loss: full-train loss at initialisation.
        final_loss: full-train loss at the probe's last evaluation (non-finite when divergent).
        final_acc: train accuracy there.
        curve: (step, full-train loss) at every evaluation of the probe.
    """

    lr: float
    regime: str
    steps: int
    initial_loss: float
    final_loss: float
    final_acc: float
    curve: tuple[tuple[int, float], ...]

    @property
    def trains(self) -> bool:
        return self.regime in TRAINS


@dataclass(frozen=True)
class Suggestion:
    """What ``suggest_lr`` found.

    Attributes:
        lr: the suggested LR (None when no rung trained).
        largest_trains: the largest rung that trained (None when none did).
        lambda0: sharpness at initialisation (lambda_max of the training loss, ``sharpness_of``).
        edge: the stability edge at initialisation, 2 (1 + momentum) / lambda_0.
        anchor: the grid LR the ladder was built around (for SGD the largest ``grid_lr`` at or below ``edge``;
            for Adam/AdamW, whose stability edge involves its preconditioner, the optimizer's smallest default
            grid LR).
        rungs: the probes, by increasing LR.
        margin_rungs: grid steps between ``largest_trains`` and ``lr``.
        hvp_products: Hessian-vector products spent on lambda_0 (each over ``SUBSET`` training samples).
        probe_steps: optimizer steps spent on the probes.
        sweep_lrs: LRs of the sweep this replaces: a ratio-sqrt 3 grid over the optimizer's default LR range.
        sweep_steps: that sweep's optimizer steps at the config's full budget (one seed).
    """

    lr: float | None
    largest_trains: float | None
    lambda0: float
    edge: float
    anchor: float
    rungs: tuple[Rung, ...]
    margin_rungs: int
    hvp_products: int
    probe_steps: int
    sweep_lrs: int
    sweep_steps: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rungs": [asdict(r) for r in self.rungs]}

    def text(self) -> str:
        """The evidence, as printed by ``largelr suggest-lr``."""
        lines = [
            f"lambda_0 (sharpness at init) = {self.lambda0:.4g}  ->  stability edge 2(1+momentum)/lambda_0 = "
            f"{self.edge:.4g}",
            f"{'lr':>10}  {'lr/edge':>8}  {'regime':<9}  {'steps':>5}  {'loss 0 -> end':>20}  train acc",
        ]
        for r in self.rungs:
            lines.append(
                f"{r.lr:>10.4g}  {r.lr / self.edge:>8.3g}  {r.regime:<9}  {r.steps:>5}  "
                f"{r.initial_loss:>9.4g} -> {r.final_loss:<9.4g}  {r.final_acc:.3f}"
            )
        if self.lr is None:
            lines.append("no rung trained: lower the ladder (check the config) before sweeping")
        else:
            lines.append(
                f"suggested lr = {self.lr:.4g}: the largest rung that trained ({self.largest_trains:.4g}) divided by "
                f"sqrt(3)^{self.margin_rungs} (safety margin: {self.margin_rungs} grid step(s))"
            )
        share = self.probe_steps / self.sweep_steps if self.sweep_steps else math.nan
        lines.append(
            f"cost: {self.probe_steps} probe steps + {self.hvp_products} Hessian-vector products on {SUBSET} samples, "
            f"vs {self.sweep_steps} steps for a sweep of {self.sweep_lrs} LRs (ratio sqrt 3) at the full budget "
            f"({share:.1%} of its steps)"
        )
        return "\n".join(lines)


def probe_data(data: SpuriousDataset) -> SpuriousDataset:
    """The dataset a probe trains on: the whole training split, and only the first ``PROBE_EVAL_SAMPLES``
    val/test samples (a probe's history rows evaluate them, and nothing reads them)."""
    keep = {}
    for name in ("val", "test"):
        split = data.splits[name]
        keep[name] = split.subset(torch.arange(min(PROBE_EVAL_SAMPLES, len(split.y)), device=split.y.device))
    return replace(data, splits={**data.splits, **keep})


def initial_sharpness(cfg: RunConfig, data: SpuriousDataset) -> TopEigen:
    """lambda_0: the sharpness of the model as ``cfg`` initialises it (``train.init_model``), on the fixed
    training subset of ``sharpness_of`` (drawn from ``cfg.seeds.data``)."""
    from largelr.train import init_model

    model = init_model(cfg, data, data.splits["train"].x.device)
    return sharpness_of(model, data.splits["train"], seed=cfg.seeds.data)


def probe(cfg: RunConfig, data: SpuriousDataset, *, lr: float, steps: int = PROBE_STEPS) -> Rung:
    """Train ``cfg`` at ``lr`` for ``steps`` steps (stopping at divergence, failure or convergence) and classify
    its regime (see ``Rung``). ``data`` is on the config's device (``probe_data`` keeps it cheap)."""
    from largelr.train import train

    every = max(1, steps // PROBE_EVAL_POINTS)
    t = replace(
        cfg.train, steps=steps, epochs=None, eval_every=every, fail_after=steps, checkpoint_every=0, tensorboard=False
    )
    run_cfg = replace(cfg, optim=replace(cfg.optim, lr=lr), train=t, eval=replace(cfg.eval, n_dynamics=0))
    outcome = train(run_cfg, data)
    curve = tuple((int(r["step"]), float(r["train/loss"])) for r in outcome.history)
    first, last = outcome.history[0], outcome.history[-1]
    if outcome.status == "diverged":
        regime = "divergent"
    elif not did_train(outcome.status, first["train/loss"], last["train/loss"]):
        regime = "failed"
    elif catapults(losses := [loss for _, loss in curve]):
        regime = "catapult"
    elif detect_spikes(losses):
        regime = "spiking"
    else:
        regime = "stable"
    return Rung(lr, regime, outcome.steps, first["train/loss"], last["train/loss"], last["train/acc"], curve)


def did_train(status: str, initial_loss: float, final_loss: float) -> bool:
    """What "trains" means, for a probe and for a full run alike: the training loop's status is "ok" (neither
    diverged nor failed: train accuracy above 1.25 x chance, ``largelr.train.is_failed``) and the last full-train
    loss is at most the initial one.

    >>> did_train("ok", 2.3, 0.1), did_train("ok", 2.3, 2.31), did_train("failed", 2.3, 2.0)
    (True, False, False)
    """
    return status == "ok" and final_loss <= initial_loss


def grid_lr(optimizer: str, k: int) -> float:
    """The k-th LR of the log grid with ratio sqrt 3 that the ladder and the sweep it replaces share: the
    optimizer's smallest default grid LR times sqrt(3)**k (k < 0 below it).

    >>> round(grid_lr("sgd", 0), 6), round(grid_lr("sgd", 4), 6), round(grid_lr("sgd", -2), 7)
    (0.001, 0.009, 0.0003333)
    """
    return min(OPTIMIZERS[optimizer].lr_grid) * RATIO**k


def grid_index(optimizer: str, lr: float) -> int:
    """The k of the largest ``grid_lr(optimizer, k)`` at or below ``lr`` (a grid LR is its own, despite rounding).

    >>> grid_index("sgd", 0.009), grid_index("sgd", 0.0155), grid_index("sgd", grid_lr("sgd", 7))
    (4, 4, 7)
    """
    return math.floor(math.log(lr / grid_lr(optimizer, 0)) / math.log(RATIO) + 1e-9)


def sweep_grid(optimizer: str) -> list[float]:
    """The sweep ``suggest_lr`` replaces: the ratio-sqrt 3 grid LRs (``grid_lr``) spanning the optimizer's
    default LR grid."""
    lo, hi = min(OPTIMIZERS[optimizer].lr_grid), max(OPTIMIZERS[optimizer].lr_grid)
    n = math.ceil(math.log(hi / lo) / math.log(RATIO) - 1e-9) + 1
    return [grid_lr(optimizer, k) for k in range(n)]


def suggest_lr(
    cfg: RunConfig,
    *,
    data: SpuriousDataset | None = None,
    steps: int = PROBE_STEPS,
    margin_rungs: int = MARGIN_RUNGS,
    max_rungs: int = MAX_RUNGS,
) -> Suggestion:
    """Estimate the largest LR that trains ``cfg`` and suggest it with a safety margin.

    The ladder (ours): the LRs of the sweep's log grid (``grid_lr``, ratio sqrt 3), starting ``BELOW`` grid
    steps under the anchor (for SGD the grid LR at or below the stability edge 2(1 + momentum)/lambda_0). If
    that rung trains, the ladder climbs until a rung does not (diverges or fails); if it does not, the ladder
    descends until one does. So it assumes one boundary between LRs that train and LRs that do not, as in the
    paper's sweeps. At most ``max_rungs`` probes, each ``min(steps, the config's budget)`` steps. The
    suggestion is the largest rung that trained divided by sqrt(3)**``margin_rungs``: a grid LR too, so when a
    full run trains wherever its probe did, it lies exactly ``margin_rungs`` grid steps below the largest LR
    of the sweep that trains.

    Args:
        cfg: the config to tune (dataset, model, optimizer, batch size, schedule; ``optim.lr`` is ignored).
        data: the dataset built from ``cfg`` on its device (built here when None).
        steps: optimizer steps per probe.
        margin_rungs: safety margin, in grid steps (ratio sqrt 3).
        max_rungs: the most probes.

    Raises:
        UserError: ``steps``, ``margin_rungs`` or ``max_rungs`` out of range, or a config error.
    """
    if steps < 10:
        raise UserError(f"steps per probe must be at least 10, got {steps}")
    if margin_rungs < 0:
        raise UserError(f"the safety margin must be >= 0 grid steps, got {margin_rungs}")
    if max_rungs < 1:
        raise UserError(f"max_rungs must be >= 1, got {max_rungs}")
    if data is None:
        from largelr.data import build_dataset
        from largelr.run import resolve_device
        from largelr.validate import check_config

        check_config(cfg)
        data = build_dataset(cfg.data, seed=cfg.seeds.data).to(resolve_device(cfg.train.device))
    top = initial_sharpness(cfg, data)
    edge = stability_edge(top.value, momentum=cfg.optim.momentum)
    opt = cfg.optim.name
    k0 = grid_index(opt, edge) if opt == "sgd" and math.isfinite(edge) and edge > 0 else 0
    small = probe_data(data)
    steps = min(steps, total_steps(cfg.train, cfg.data.n_train))
    rungs: dict[int, Rung] = {}

    def run(k: int) -> Rung:
        rungs[k] = probe(cfg, small, lr=grid_lr(opt, k), steps=steps)
        log.info("rung lr=%.4g: %s after %d steps", rungs[k].lr, rungs[k].regime, rungs[k].steps)
        return rungs[k]

    k = k0 - BELOW
    step = 1 if run(k).trains else -1  # climb from a rung that trains, descend from one that does not
    while len(rungs) < max_rungs:
        k += step
        if run(k).trains != (step == 1):
            break
    ordered = tuple(rungs[i] for i in sorted(rungs))
    good = [r.lr for r in ordered if r.trains]
    largest = max(good) if good else None
    grid = sweep_grid(opt)
    return Suggestion(
        lr=largest / RATIO**margin_rungs if largest is not None else None,
        largest_trains=largest,
        lambda0=top.value,
        edge=edge,
        anchor=grid_lr(opt, k0),
        rungs=ordered,
        margin_rungs=margin_rungs,
        hvp_products=top.iterations,
        probe_steps=sum(r.steps for r in ordered),
        sweep_lrs=len(grid),
        sweep_steps=len(grid) * total_steps(cfg.train, cfg.data.n_train),
    )

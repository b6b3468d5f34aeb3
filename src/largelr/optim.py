"""Optimizers and learning-rate schedules; ``train.py`` only calls ``build_optimizer`` and ``lr_at``.

Optimizers live in the plain dict ``OPTIMIZERS`` (name -> ``Optimizer``: factory, whether weight decay
reaches norm parameters and biases by default, the default LR grid). Schedules are pure functions of
the update index in the plain dict ``SCHEDULES`` (style.md 3.2); ``lr_at`` composes a linear warm-up
with any of them. Nothing here reads the data or the model's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from largelr.config import OptimConfig


def _sgd(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def _adam(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=cfg.lr)


def _adamw(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=cfg.lr)


@dataclass(frozen=True)
class Optimizer:
    """One optimizer as a config names it.

    Attributes:
        build: ``(param_groups, cfg) -> torch optimizer``; each group carries its own weight decay.
        decay_norm_and_bias: the default of ``optim.decay_norm_and_bias`` for this optimizer.
        lr_grid: the default LR grid for an LR study with this optimizer (log-spaced, paper-spec 4).
        doc: what ``weight_decay`` means for it.
    """

    build: Callable[[list[dict], OptimConfig], torch.optim.Optimizer]
    decay_norm_and_bias: bool
    lr_grid: tuple[float, ...]
    doc: str


OPTIMIZERS: dict[str, Optimizer] = {
    # L2 penalty coupled to the gradient, on every parameter by default (torch's and the paper's setup)
    "sgd": Optimizer(
        _sgd, True, (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5), "SGD, optional momentum/Nesterov; L2 weight decay"
    ),
    "adam": Optimizer(_adam, True, (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3), "Adam; L2 weight decay (coupled)"),
    # decoupled decay (Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101); norm and bias excluded
    # by default as in their and most AdamW training recipes
    "adamw": Optimizer(_adamw, False, (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3), "AdamW; decoupled weight decay"),
}

# The default LR grid of each optimizer, declared with it above.
DEFAULT_LR_GRID: dict[str, tuple[float, ...]] = {name: o.lr_grid for name, o in OPTIMIZERS.items()}


def is_norm_or_bias(name: str, param: nn.Parameter) -> bool:
    """Norm-layer scales/shifts and biases: every parameter with fewer than 2 dimensions."""
    return param.ndim < 2


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Two parameter groups: decayed, and norm/bias (decayed only if ``decay_norm_and_bias``).

    ``optim.decay_norm_and_bias=None`` takes the optimizer's default (``OPTIMIZERS[name]``).
    Empty groups are dropped, so a bias-free MLP gives one group.
    """
    decay_nb = cfg.decay_norm_and_bias
    if decay_nb is None:
        decay_nb = OPTIMIZERS[cfg.name].decay_norm_and_bias
    main, nb = [], []
    for name, p in model.named_parameters():
        (nb if is_norm_or_bias(name, p) else main).append(p)
    groups = [{"params": main, "weight_decay": cfg.weight_decay}]
    groups.append({"params": nb, "weight_decay": cfg.weight_decay if decay_nb else 0.0})
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg.name`` over ``model``'s parameters, at the base LR ``cfg.lr``."""
    return OPTIMIZERS[cfg.name].build(param_groups(model, cfg), cfg)


# ---------------------------------------------------------------------------------------------
# schedules: factor by which the base LR is multiplied at update t (0-based) of a span of n updates


def constant(t: int, n: int, cfg: OptimConfig) -> float:
    """1 at every update."""
    return 1.0


def step_decay(t: int, n: int, cfg: OptimConfig) -> float:
    """``gamma ** (t // step_every)``: the LR is multiplied by gamma every ``step_every`` updates."""
    return cfg.gamma ** (t // cfg.step_every)


def cosine(t: int, n: int, cfg: OptimConfig) -> float:
    """Half a cosine from 1 at t = 0 to 0 at t = n (Loshchilov & Hutter 2017, without restarts)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(t, n) / max(n, 1)))


SCHEDULES: dict[str, Callable[[int, int, OptimConfig], float]] = {
    "constant": constant,
    "step": step_decay,
    "cosine": cosine,
    "linear_warmup": constant,  # the warm-up (optim.warmup_steps > 0) then constant
}


def lr_at(t: int, cfg: OptimConfig, total: int) -> float:
    """The LR of update ``t`` (0-based) of a ``total``-update run: a pure function of the step.

    During the first ``warmup_steps`` updates the LR rises linearly, ``lr * (t + 1) / warmup_steps``
    (so the first update is not wasted at LR 0); afterwards the schedule runs over the remaining
    ``total - warmup_steps`` updates, starting from its own t = 0.

    >>> cfg = OptimConfig(lr=0.1, schedule="step", step_every=10, gamma=0.5, warmup_steps=4)
    >>> [round(lr_at(t, cfg, 100), 4) for t in (0, 3, 4, 13, 14)]
    [0.025, 0.1, 0.1, 0.1, 0.05]
    """
    w = cfg.warmup_steps
    if t < w:
        return cfg.lr * (t + 1) / w
    return cfg.lr * SCHEDULES[cfg.schedule](t - w, max(total - w, 1), cfg)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Put ``lr`` in force for every parameter group."""
    for g in optimizer.param_groups:
        g["lr"] = lr


def lr_curve(cfg: OptimConfig, total: int) -> list[float]:
    """The LR of every update of a run (for plots and tests)."""
    return [lr_at(t, cfg, total) for t in range(total)]

"""Dynamics observatory: opt-in measurements at history rows (sharpness against 2/eta, linear decodability of y and s).

With ``eval.observatory=True`` the training loop adds the keys of ``KEYS`` to the history rows at step 0, at the
first row at or after each multiple of ``eval.observatory_every`` steps, and at the budget's last step (``due``):

- the sharpness lambda_max of the training loss (``largelr.metrics.sharpness``; at step 0 it is lambda_0, whose
  2/lambda_0 is the catapult threshold of Lewkowycz et al. 2020) and lambda_max * eta / 2, which full-batch
  gradient descent drives to about 1 (edge of stability, Cohen et al. 2021,
  https://arxiv.org/abs/2103.00065);
- held-out linear-probe accuracies for the core label y and the spurious attribute s from the penultimate
  features (``largelr.metrics.probes.probe_accuracy``, cross-fitted halves of a fixed unbiased test subset):
  which of the two the network makes decodable first, and when (Li, Wei & Ma 2019,
  https://arxiv.org/abs/1907.04595: a small LR learns an easy-to-fit pattern first).

Beside them the report shows the loss history with its catapults (``largelr.metrics.catapult``) and the BC
share of the loss (``dyn/ebcr``, ``largelr.metrics.dynamics``). Measurements read the model in eval mode and use
their own seeded generators, so a run's trajectory is the same with the observatory on or off (a test checks
it); their time counts as evaluation time. The cost per measurement (ours): up to ``ITERS`` Hessian-vector
products over ``SUBSET`` training samples, all in one pass (the gradient graph is built once and each product is
one more backward through it; memory: that graph for ``SUBSET`` samples) and four logistic-regression fits on
``N_PROBE`` test features; ``benchmarks/observatory_cost.py`` measures the share of training time. After the
first measurement Lanczos starts from the previous measurement's top eigenvector plus a seeded Gaussian of the
same norm (``warm_start``): on the quickstart run it then stops after 3 products instead of 6 at the same 1%
tolerance (the Gaussian keeps every direction in the start, so a new top direction is still found). So a value
depends on the measurement before it within that tolerance, and a resumed run, whose first measurement starts
cold, agrees with an uninterrupted one to about 1%, not bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from largelr.metrics.probes import probe_accuracy
from largelr.metrics.sharpness import CHUNK, SUBSET, gaussian_start, hessian_max_eigenvalue, training_subset
from largelr.seeding import make_generator

EVERY = 1000  # the default of eval.observatory_every (steps between measurements)
ITERS = 20  # Lanczos products per sharpness measurement (the end-of-run metric allows 30)
TOL = 1e-2  # relative change at which Lanczos stops: a curve against 2/eta needs 1%, not the metric's 0.1%
N_PROBE = 1000  # unbiased test samples whose penultimate features the probes read (two halves of 500)

KEYS = {  # every key a measurement adds to a history row, with its label (the report's and the figure's)
    "obs/sharpness": "sharpness λ_max of the training loss",
    "obs/sharpness_x_lr_over_2": "λ_max·η/2 (1 = edge of stability of plain GD)",
    "obs/sharpness_iters": "Hessian-vector products spent on λ_max",
    "obs/probe_y": "linear-probe accuracy for the core label y",
    "obs/probe_s": "linear-probe accuracy for the spurious attribute s",
}


def due(step: int, previous: int | None, every: int, last: bool) -> bool:
    """Whether the history row at ``step`` gets a measurement: step 0, the last row, and the first row at or
    after each multiple of ``every`` (``previous``: the step of the row before; None for the first row).
    A pure function of the steps, so a resumed run measures at the same rows.

    >>> [s for s, p in ((0, None), (500, 0), (1000, 500), (1500, 1000), (2000, 1500)) if due(s, p, 1000, False)]
    [0, 1000, 2000]
    >>> due(1250, 750, 1000, False), due(1300, 1250, 1000, True)
    (True, True)
    """
    return step == 0 or previous is None or last or step // every > previous // every


class Observatory:
    """The fixed samples and the measurement of one run (built once per ``train`` call).

    Args:
        data: the run's dataset (on its device).
        seed: the data seed: every LR of a sweep measures the same training and test samples.
        every: steps between measurements (``eval.observatory_every``).
    """

    def __init__(self, data: Any, seed: int, every: int) -> None:
        self.every = every
        self.seed = seed
        self.sharp = training_subset(data.splits["train"], SUBSET, seed)
        test = data.splits["test"]
        pick = torch.randperm(len(test.y), generator=make_generator(seed, "observatory_probe"))[:N_PROBE]
        pick = pick.sort().values.to(test.x.device)
        self.x, self.y, self.s = test.x[pick], test.y[pick].cpu(), test.s[pick].cpu()
        self.num_classes, self.num_attrs = data.num_classes, data.num_attrs
        self.previous: tuple[Tensor, ...] | None = None  # the last measurement's top eigenvector

    def measure(self, model: nn.Module, lr: float) -> dict[str, float]:
        """The ``KEYS`` of ``model`` now (eval mode; its mode is restored); ``lr`` is the LR of the last update."""
        was_training = model.training
        model.eval()
        try:
            start = None if self.previous is None else warm_start(self.previous, self.seed)
            top = hessian_max_eigenvalue(  # one chunk: the gradient graph is built once for every product
                model, F.cross_entropy, self.sharp, iters=ITERS, tol=TOL, seed=self.seed, chunk=None, start=start
            )
            self.previous = top.vector
            with torch.no_grad():
                Z = torch.cat([model.features(self.x[i : i + CHUNK]) for i in range(0, len(self.x), CHUNK)]).cpu()
        finally:
            model.train(was_training)
        return {
            "obs/sharpness": top.value,
            "obs/sharpness_x_lr_over_2": top.value * lr / 2,
            "obs/sharpness_iters": float(top.iterations),
            "obs/probe_y": probe_accuracy(Z, self.y, self.num_classes, self.seed, "observatory"),
            "obs/probe_s": probe_accuracy(Z, self.s, self.num_attrs, self.seed, "observatory"),
        }


def warm_start(previous: Sequence[Tensor], seed: int) -> list[Tensor]:
    """A Lanczos start near ``previous`` (a unit vector, one tensor per parameter): it plus a Gaussian drawn from
    ``gaussian_start`` (the cold start) scaled to the same norm, so that the start keeps a
    component along every direction. (On the quickstart run, measured: a start of the previous vector alone or
    with 0.3 times the unit Gaussian stopped after as many products.)

    >>> v = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]
    >>> w = warm_start(v, seed=0)
    >>> [tuple(a.shape) for a in w], round(float(sum(((a - b) ** 2).sum() for a, b in zip(w, v))), 6)
    ([(2,), (1,)], 1.0)
    """
    noise = gaussian_start(previous, seed)
    size = math.sqrt(sum(float((n * n).sum()) for n in noise)) or 1.0
    return [p + n / size for p, n in zip(previous, noise, strict=True)]


def learned_at(steps: Any, acc: Any, chance: float, share: float = 0.5) -> float:
    """The first step at which a probe accuracy has covered ``share`` of its way from its value at step 0 to its
    highest value, by linear interpolation between rows (ours: "when a feature becomes decodable"); NaN when the
    curve never rises by more than 0.01 above its start and ``chance`` (nothing was learned).

    >>> learned_at([0, 100, 200, 300], [0.1, 0.2, 0.8, 0.9], chance=0.1)  # halfway from 0.1 to 0.9 is 0.5
    150.0
    """
    steps, acc = np.asarray(steps, float), np.asarray(acc, float)
    ok = np.isfinite(acc)
    steps, acc = steps[ok], acc[ok]
    if len(acc) < 2:
        return math.nan
    start, top = acc[0], acc.max()
    if top - max(start, chance) <= 0.01:
        return math.nan
    level = start + share * (top - start)
    i = int(np.flatnonzero(acc >= level)[0])
    if i == 0:
        return float(steps[0])
    f = (level - acc[i - 1]) / (acc[i] - acc[i - 1])
    return float(steps[i - 1] + f * (steps[i] - steps[i - 1]))

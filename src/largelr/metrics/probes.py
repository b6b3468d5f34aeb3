"""Linear read-outs of the penultimate features: probes for y and s, and last-layer retraining (DFR).

Both fit logistic regressions on features of the unbiased test split, cross-fitted over two fixed
halves (fit on one half, score on the other, then swap and average), so no number is scored on the
samples it was fitted on. The biased val split is not used: there y and s are confounded, so a
probe for s could succeed by reading y.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from largelr.metrics.base import METRICS, Key
from largelr.metrics.robustness import group_accuracy, worst_group
from largelr.seeding import make_generator

PROBE_C = 1.0  # inverse L2 strength on standardised features (scikit-learn's C); fixed, not tuned (ours)
# L-BFGS iterations: on Double MNIST MLP features held-out accuracies move by < 0.005 from 50 to 1000
# iterations, while the cost grows linearly; an unconverged read-out is a slightly under-fitted one
MAX_ITER = 50


def halves(n: int, seed: int, tag: str) -> tuple[Tensor, Tensor]:
    """Two fixed disjoint halves of range(n) (seeded permutation)."""
    perm = torch.randperm(n, generator=make_generator(seed, "halves", tag))
    return perm[: n // 2].sort().values, perm[n // 2 :].sort().values


@dataclass(frozen=True)
class LinearReadout:
    """A fitted multinomial logistic regression on standardised features."""

    mean: Tensor  # (D,) feature means of the fit set
    scale: Tensor  # (D,) feature standard deviations of the fit set (1 where constant)
    W: Tensor  # (D, K)
    b: Tensor  # (K,)

    def logits(self, Z: Tensor) -> Tensor:
        return ((Z.double() - self.mean) / self.scale) @ self.W + self.b

    def predict(self, Z: Tensor) -> Tensor:
        return self.logits(Z).argmax(1)


def fit_logistic(
    Z: Tensor, t: Tensor, num_classes: int, sample_weight: Tensor | None = None, C: float = PROBE_C
) -> LinearReadout:
    """L2-regularised multinomial logistic regression on standardised features, full-batch L-BFGS.

    Minimises sum_i w_i CE_i / sum_i w_i + |W|^2 / (2 C N) (the intercept is not penalised), which
    with unit weights is scikit-learn's ``LogisticRegression(C=C)`` objective divided by C * N. Written
    in torch because it is an order of magnitude faster than scikit-learn's lbfgs on these features; the
    gradient is written out (W: X^T w (softmax - onehot) + W / (C N)), not taken by autograd.

    Args:
        Z: (N, D) features; t: (N,) targets in [0, num_classes).
        sample_weight: (N,) nonnegative weights, or None for equal weights.
    """
    Z = Z.double()
    mean, scale = Z.mean(0), Z.std(0, correction=0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    X = (Z - mean) / scale
    w = torch.ones(len(t), dtype=torch.double) if sample_weight is None else sample_weight.double()
    w = w / w.sum()
    W = torch.zeros(X.shape[1], num_classes, dtype=torch.double, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.double, requires_grad=True)
    opt = torch.optim.LBFGS(
        [W, b],
        lr=1,
        max_iter=MAX_ITER,
        history_size=20,
        tolerance_grad=1e-7,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )
    l2 = 1.0 / (2.0 * C * len(t))
    rows = torch.arange(len(t))

    def closure() -> Tensor:
        # the objective and its gradient in closed form (softmax minus one-hot), without autograd: the same
        # numbers up to rounding, in about half the time of a backward pass (these fits are small and many)
        with torch.no_grad():
            logp = torch.log_softmax(X @ W + b, dim=1)
            loss = -(w * logp[rows, t]).sum() + l2 * (W**2).sum()
            G = logp.exp()
            G[rows, t] -= 1.0
            G *= w[:, None]
            W.grad = X.T @ G + (2.0 * l2) * W
            b.grad = G.sum(0)
        return loss

    opt.step(closure)
    return LinearReadout(mean, scale, W.detach(), b.detach())


def probe_accuracy(Z: Tensor, target: Tensor, num_values: int, seed: int, tag: str) -> float:
    """Held-out accuracy of a linear probe for ``target``, cross-fitted over two fixed halves.

    Returns NaN when a half holds fewer than two target values (nothing to discriminate).
    """
    a, b = halves(len(target), seed, tag)
    accs = []
    for fit, score in ((a, b), (b, a)):
        if len(torch.unique(target[fit])) < 2:
            return float("nan")
        probe = fit_logistic(Z[fit], target[fit], num_values)
        accs.append(float((probe.predict(Z[score]) == target[score]).double().mean()))
    return float(np.mean(accs))


@METRICS.register(
    "probes",
    keys={
        "test/probe_gap": Key("probe accuracy y minus s", "higher", False, "core_util"),
        "test/probe_y": Key("probe accuracy for y", "higher"),
        "test/probe_s": Key("probe accuracy for s", "lower"),
    },
)
def probes(ctx) -> dict[str, Any]:
    """Linear decodability of y and of s from penultimate features of the fixed test subset.

    ``test/probe_y`` and ``test/probe_s`` are held-out probe accuracies; ``test/probe_gap`` =
    probe_y - probe_s (higher = features carry the core label more than the spurious attribute).
    """
    Z, y, s = ctx.features("test")
    py = probe_accuracy(Z, y, ctx.data.num_classes, ctx.seed, "probe")
    ps = probe_accuracy(Z, s, ctx.data.num_attrs, ctx.seed, "probe")
    return {"test/probe_y": py, "test/probe_s": ps, "test/probe_gap": py - ps}


def group_balanced_weights(g: Tensor) -> Tensor:
    """Per-sample weights 1 / (size of its group), scaled to mean 1: every group carries equal weight."""
    w = 1.0 / torch.bincount(g).double()[g]
    return w / w.mean()


def dfr_scores(Z: Tensor, y: Tensor, s: Tensor, num_classes: int, num_attrs: int, seed: int) -> dict[str, float]:
    """Worst-group, mean-group and plain accuracy of a group-balanced last layer, cross-fitted over halves.

    Args:
        Z: (N, D) features; y, s: (N,) labels and spurious attributes.
    """
    a, b = halves(len(y), seed, "dfr")
    g = y * num_attrs + s
    res: dict[str, list[float]] = {"worst": [], "mean": [], "acc": []}
    for fit, score in ((a, b), (b, a)):
        if len(torch.unique(y[fit])) < 2:
            return {"worst": float("nan"), "mean": float("nan"), "acc": float("nan")}
        readout = fit_logistic(Z[fit], y[fit], num_classes, group_balanced_weights(g[fit]))
        pred = readout.predict(Z[score])
        A = group_accuracy(pred, y[score], s[score], num_classes, num_attrs)
        res["worst"].append(worst_group(A))
        res["mean"].append(float(A[~torch.isnan(A)].mean()))
        res["acc"].append(float((pred == y[score]).double().mean()))
    return {k: float(np.mean(v)) for k, v in res.items()}


@METRICS.register(
    "dfr",
    keys={
        "test/dfr_worst_group_acc": Key("DFR worst-group accuracy", "higher", False, "core_util"),
        "test/dfr_unbiased_acc": Key("DFR mean group accuracy", "higher"),
        "test/dfr_acc": Key("DFR accuracy", "higher"),
    },
)
def dfr(ctx) -> dict[str, Any]:
    """Deep Feature Reweighting (Kirichenko et al. 2022, https://arxiv.org/abs/2204.02937), our variant.

    A logistic-regression last layer is fitted on the frozen penultimate features of one half of
    the (unbiased) test split, with samples weighted so every (y, s) group has equal total weight
    (DFR subsamples groups to equal size instead; weighting keeps all samples, which matters with 100
    small groups), L2 with fixed C = 1 on standardised features (DFR tunes an L1 penalty on
    held-out data). It is scored on the other half, and the halves swapped and averaged. Uses the
    whole test split, not the representation subset, because a worst group needs samples.

    Keys: ``test/dfr_worst_group_acc`` (higher = a robust classifier can be read from the features),
    ``test/dfr_unbiased_acc`` (mean over groups), ``test/dfr_acc``.
    """
    Z, y, s = ctx.features("test", subset=False)
    r = dfr_scores(Z, y, s, ctx.data.num_classes, ctx.data.num_attrs, ctx.seed)
    return {
        "test/dfr_worst_group_acc": r["worst"],
        "test/dfr_unbiased_acc": r["mean"],
        "test/dfr_acc": r["acc"],
    }

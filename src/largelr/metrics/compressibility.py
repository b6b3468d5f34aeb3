"""Compressibility: the comp_kappa index and magnitude-pruning curves (paper-spec section 5).

Pruning never mutates the trained model: every curve point prunes a deep copy.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from largelr.metrics.base import METRICS
from largelr.metrics.robustness import group_accuracy


def weight_tensors(model: nn.Module) -> list[tuple[str, Tensor]]:
    """All parameters with ndim > 1 (weight matrices and conv kernels), biases and norms excluded."""
    return [(n, p) for n, p in model.named_parameters() if p.ndim > 1]


def comp_kappa(w: Tensor, kappa: float) -> float:
    """1 - ||w outside the top ceil(kappa*D) magnitudes||_2 / ||w||_2 (the authors' index).

    1 means all the energy sits in the kept entries; a vector of equal magnitudes gives 1 - sqrt(1 - kappa).
    """
    w = w.detach().flatten().double()
    total = w.norm()
    if total == 0:
        return float("nan")
    k = math.ceil(kappa * w.numel())
    tail = w.abs().sort(descending=True).values[k:]
    return float(1.0 - tail.norm() / total)


def comp_kappa_rows(W: Tensor, kappa: float) -> float:
    """comp_kappa per output row (unit) of a layer's weight, averaged over rows with nonzero norm."""
    rows = W.detach().flatten(1)
    vals = [comp_kappa(r, kappa) for r in rows if r.norm() > 0]
    return float(np.mean(vals)) if vals else float("nan")


@METRICS.register("compressibility")
def compressibility(ctx) -> dict[str, Any]:
    """comp_kappa of all weights together (``weights/comp``) and per layer averaged over output rows."""
    ws = weight_tensors(ctx.model)
    out: dict[str, Any] = {"weights/comp": comp_kappa(torch.cat([p.flatten() for _, p in ws]), ctx.cfg.kappa)}
    for i, (_, p) in enumerate(ws):
        out[f"weights/comp_layer{i}"] = comp_kappa_rows(p, ctx.cfg.kappa)
    return out


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every Linear/Conv layer, the targets of magnitude pruning."""
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]


def prune_global_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` with the ``sparsity`` fraction of smallest-|w| weights (pooled over layers) zeroed.

    Uses ``torch.nn.utils.prune.global_unstructured`` with L1 (magnitude) importance and then makes
    the pruning permanent on the copy. The input model is untouched.
    """
    pruned = copy.deepcopy(model)
    targets = prunable(pruned)
    if sparsity > 0:
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(sparsity))
        for m, name in targets:
            prune.remove(m, name)
    return pruned


def realised_sparsity(model: nn.Module) -> tuple[float, float]:
    """(fraction of zero entries among prunable weights, fraction of zero entries among all parameters)."""
    w = torch.cat([getattr(m, n).detach().flatten() for m, n in prunable(model)])
    allp = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((w == 0).double().mean()), float((allp == 0).double().mean())


def curve_summaries(sparsity: list[float], acc: list[float], prefix: str) -> dict[str, float]:
    """Largest sparsity keeping >= 99% / 95% of the dense accuracy, and the normalised area under acc(sparsity).

    The dense accuracy is the accuracy at the smallest sparsity of the curve (0 by default). The area
    is the trapezoid integral divided by the sparsity range, so it is in [0, 1].
    """
    s, a = np.asarray(sparsity, float), np.asarray(acc, float)
    order = np.argsort(s)
    s, a = s[order], a[order]
    dense = a[0]
    out = {}
    for frac, tag in ((0.99, "99"), (0.95, "95")):
        ok = s[a >= frac * dense]
        out[f"{prefix}_max_sparsity_{tag}"] = float(ok.max()) if len(ok) else 0.0
    span = s[-1] - s[0]
    out[f"{prefix}_auc"] = float(np.trapezoid(a, s) / span) if span > 0 else float(a[0])
    return out


def pruning_curve(ctx, prune_fn, name: str) -> dict[str, Any]:
    """Accuracy and worst-group accuracy on the test split at each ``eval.sparsities`` level."""
    sp = ctx.data.splits["test"]
    rows = []
    for level in ctx.cfg.sparsities:
        pruned = prune_fn(ctx.model, level)
        pred = ctx.forward(pruned, sp.x).argmax(1)
        A = group_accuracy(pred, sp.y, sp.s, ctx.data.num_classes, ctx.data.num_attrs)
        w_frac, all_frac = realised_sparsity(pruned)
        rows.append(
            {
                "sparsity": float(level),
                "realised_weight_sparsity": w_frac,
                "realised_param_sparsity": all_frac,
                "acc": float((pred == sp.y).double().mean()),
                "worst_group_acc": float(np.nanmin(A.numpy())) if not torch.isnan(A).all() else float("nan"),
            }
        )
    out: dict[str, Any] = {f"test/{name}": rows}
    out.update(curve_summaries([r["sparsity"] for r in rows], [r["acc"] for r in rows], f"test/{name}"))
    return out


@METRICS.register("prune_curve")
def prune_curve(ctx) -> dict[str, Any]:
    """Global unstructured magnitude pruning without fine-tuning: test acc and worst-group acc per sparsity."""
    return pruning_curve(ctx, prune_global_magnitude, "prune")

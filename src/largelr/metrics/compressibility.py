"""Compressibility: comp_kappa and PQ indices, unstructured magnitude-pruning curves (paper-spec section 5).

Pruning never mutates the trained model: every curve point prunes a deep copy. Structured (unit)
pruning lives in ``structured.py``, low-rank measures in ``lowrank.py``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from largelr.metrics.base import METRICS, Key
from largelr.metrics.robustness import group_accuracy, worst_group

COMPRESSIBLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def compressible(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """The compressible weights: ``(qualified name, module, parameter name)`` in module order.

    The one definition every weight metric uses (comp_kappa, PQI, low rank, unstructured and
    structured pruning): the ``weight`` of every Linear and Conv layer (the classifier and attention
    output projections included) and the packed query/key/value projection ``in_proj_weight`` of
    every ``nn.MultiheadAttention`` (or ``q/k/v_proj_weight`` when it keeps them apart), which is a
    Parameter of the attention module, not a Linear. Never biases, normalisation parameters,
    position embeddings or class tokens. docs/metrics.md lists the result per model.
    """
    out = []
    for mname, m in model.named_modules():
        if isinstance(m, COMPRESSIBLE_LAYERS):
            names = ["weight"]
        elif isinstance(m, nn.MultiheadAttention):
            names = (
                ["in_proj_weight"]
                if m.in_proj_weight is not None
                else ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
            )
        else:
            continue
        out += [(f"{mname}.{n}" if mname else n, m, n) for n in names]
    return out


def weight_tensors(model: nn.Module) -> list[tuple[str, Tensor]]:
    """``(qualified name, tensor)`` of every compressible weight (see ``compressible``)."""
    return [(name, getattr(m, pname)) for name, m, pname in compressible(model)]


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
    rows = W.detach().flatten(1).double()
    total = rows.norm(dim=1)
    k = math.ceil(kappa * rows.shape[1])
    # all rows at once (a Python loop over rows cost ~0.15 s per evaluation on the default MLP)
    tail = rows.abs().sort(dim=1, descending=True).values[:, k:].norm(dim=1)
    ok = total > 0
    return float((1.0 - tail[ok] / total[ok]).mean()) if ok.any() else float("nan")


def pq_index(z: Tensor, p: float = 1.0, q: float = 2.0) -> Tensor:
    """PQ-index per row, PQI_{p,q}(z) = 1 - d^(1/q - 1/p) ||z||_p / ||z||_q (Diao et al. 2023).

    https://arxiv.org/abs/2302.05601. For p=1, q=2 it is 0 for a constant vector and
    1 - d^(-1/2) for a one-hot vector; higher = sparser (more compressible). Rows that are all
    zero give NaN.

    Args:
        z: (D,) or (N, D); the index is taken over the last dimension.
    """
    z = z.detach().double()
    d = z.shape[-1]
    norm_q = torch.linalg.vector_norm(z, ord=q, dim=-1)
    ratio = torch.linalg.vector_norm(z, ord=p, dim=-1) / norm_q
    pqi = 1.0 - d ** (1.0 / q - 1.0 / p) * ratio
    return torch.where(norm_q > 0, pqi, torch.full_like(pqi, float("nan")))


@METRICS.register(
    "compressibility",
    keys={
        "weights/comp": Key("compressibility comp_κ", "higher", True, "compressibility", sesoi=0.01),
        "weights/pqi": Key("PQ-index of weights", "higher", False, "compressibility"),
        "weights/comp_layer{i}": Key("comp_κ of layer i (mean over rows)", "higher"),
        "weights/pqi_layer{i}": Key("PQ-index of layer i", "higher"),
    },
)
def compressibility(ctx) -> dict[str, Any]:
    """comp_kappa and PQ-index (p=1, q=2) of all weights together and per layer.

    ``weights/comp`` and ``weights/pqi`` pool every compressible weight (``compressible``); ``weights/comp_layer{i}``
    averages comp_kappa over the layer's output rows, ``weights/pqi_layer{i}`` is the PQI of the
    whole layer. Higher = more compressible.
    """
    ws = weight_tensors(ctx.model)
    w_all = torch.cat([p.detach().flatten() for _, p in ws])
    out: dict[str, Any] = {
        "weights/comp": comp_kappa(w_all, ctx.cfg.kappa),
        "weights/pqi": float(pq_index(w_all)),
    }
    for i, (_, p) in enumerate(ws):
        out[f"weights/comp_layer{i}"] = comp_kappa_rows(p, ctx.cfg.kappa)
        out[f"weights/pqi_layer{i}"] = float(pq_index(p.flatten()))
    return out


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, parameter name)`` of every compressible weight (see ``compressible``): the pruning targets."""
    return [(m, pname) for _, m, pname in compressible(model)]


def magnitude_pruner(model: nn.Module, scope: Literal["global", "layer"]) -> Callable[[float], nn.Module]:
    """``prune_to(sparsity)`` returning a copy of ``model`` with the smallest-|w| weights zeroed.

    The ``round(sparsity * n)`` smallest-magnitude entries are zeroed, ``n`` counting every
    compressible weight (``compressible``) pooled together (``scope="global"``) or each layer's weight separately
    (``"layer"``), which selects the same entries as ``torch.nn.utils.prune.global_unstructured`` /
    ``l1_unstructured`` with L1 importance (ties broken by position here). Magnitudes are sorted once,
    so a whole curve costs one sort instead of one ``topk`` per level; the masks are applied with
    ``torch.nn.utils.prune.custom_from_mask`` and made permanent. The input model is untouched.
    """
    weights = [getattr(m, name).detach() for m, name in prunable(model)]
    flats = [w.flatten() for w in weights]
    if scope == "global":
        flats = [torch.cat(flats)]
    orders = [f.abs().argsort(stable=True) for f in flats]

    def prune_to(sparsity: float) -> nn.Module:
        pruned = copy.deepcopy(model)
        drops = []
        for flat, order in zip(flats, orders):
            drop = torch.zeros_like(flat, dtype=torch.bool)
            drop[order[: round(sparsity * len(flat))]] = True
            drops.append(drop)
        if scope == "global":
            drops = list(drops[0].split([w.numel() for w in weights]))
        for (m, name), drop in zip(prunable(pruned), drops):
            # torch.nn.utils.prune applies the mask (weight_orig * weight_mask), then bakes it in
            prune.custom_from_mask(m, name, mask=~drop.view_as(getattr(m, name)))
            prune.remove(m, name)
        return pruned

    return prune_to


def prune_global_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` with the ``sparsity`` fraction of smallest-|w| weights (pooled over layers) zeroed.

    Global unstructured magnitude pruning, as ``torch.nn.utils.prune.global_unstructured`` with
    ``L1Unstructured``, made permanent on the copy. The input model is untouched.
    """
    return magnitude_pruner(model, "global")(sparsity)


def prune_layerwise_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` with the ``sparsity`` fraction of smallest-|w| weights zeroed in every layer.

    Each compressible weight is pruned at the same rate (as ``torch.nn.utils.prune.l1_unstructured``
    per layer), unlike ``prune_global_magnitude`` which ranks all weights together and so prunes
    layers with small weights (typically the wide first layer) harder. The input model is untouched.
    """
    return magnitude_pruner(model, "layer")(sparsity)


def realised_sparsity(model: nn.Module) -> tuple[float, float]:
    """(fraction of zero entries among prunable weights, fraction of zero entries among all parameters)."""
    w = torch.cat([getattr(m, n).detach().flatten() for m, n in prunable(model)])
    allp = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((w == 0).double().mean()), float((allp == 0).double().mean())


def relative_curve(acc: np.ndarray, chance: float) -> np.ndarray:
    """Accuracy above chance as a share of the unpruned model's, r = clip((acc - chance) / (acc[0] - chance), 0, 1).

    ``acc[0]`` is the unpruned (lowest-sparsity) accuracy. r is 0 everywhere when ``acc[0] <= chance``
    (a model at chance has nothing to lose), so a chance-level model never looks compressible.
    """
    acc0 = acc[0]
    if not acc0 > chance:
        return np.zeros_like(acc)
    return np.clip((acc - chance) / (acc0 - chance), 0.0, 1.0)


def curve_summaries(sparsity: list[float], acc: list[float], prefix: str, chance: float) -> dict[str, float]:
    """Summaries of one pruning curve (docs/metrics.md, "Pruning summaries").

    With r(s) = ``relative_curve`` (accuracy above chance relative to the unpruned model's, in [0, 1]):

    - ``{prefix}_rel_auc``: trapezoid area under r(s) divided by the sparsity range (the curve's
      first to last level), so 1 = no loss at any level, 0 = at chance from the first pruned level
      on (and 0 for a model at chance); r(s0) when the curve has one level.
    - ``{prefix}_max_sparsity_99`` / ``_95``: the largest level s_k such that r(s_j) >= 0.99 (0.95)
      at EVERY level s_j <= s_k (monotone: a level after a dip never counts); the first level when
      only it passes, 0 for a model at chance.
    - ``{prefix}_auc``: the plain area under acc(s) divided by the sparsity range (counts the
      unpruned accuracy again; kept for comparison).

    Args:
        sparsity, acc: the curve's levels and accuracies (any order; sorted by level here).
        prefix: key stem, e.g. ``"test/prune"``.
        chance: accuracy of guessing, 1 / number of classes.
    """
    s, a = np.asarray(sparsity, float), np.asarray(acc, float)
    order = np.argsort(s, kind="stable")
    s, a = s[order], a[order]
    r = relative_curve(a, chance)
    span = s[-1] - s[0]
    out = {}
    for frac, tag in ((0.99, "99"), (0.95, "95")):
        passing = np.logical_and.accumulate(r >= frac)  # True up to the first failing level
        out[f"{prefix}_max_sparsity_{tag}"] = float(s[passing].max()) if passing.any() else 0.0
    out[f"{prefix}_rel_auc"] = float(np.trapezoid(r, s) / span) if span > 0 else float(r[0])
    out[f"{prefix}_auc"] = float(np.trapezoid(a, s) / span) if span > 0 else float(a[0])
    return out


def curve_keys(prefix: str, what: str) -> dict[str, Key]:
    """The declared summary keys of a pruning curve; ``what`` names the pruning in labels."""
    return {
        f"{prefix}_rel_auc": Key(
            f"{what} pruning AUC relative to unpruned acc", "higher", prefix == "test/prune", "compressibility", 0.01
        ),
        f"{prefix}_max_sparsity_99": Key(
            f"{what} pruning: max sparsity keeping 99% acc", "higher", False, "compressibility"
        ),
        f"{prefix}_max_sparsity_95": Key(
            f"{what} pruning: max sparsity keeping 95% acc", "higher", False, "compressibility"
        ),
        f"{prefix}_auc": Key(f"{what} pruning AUC of raw acc (re-counts dense acc)", "higher"),
    }


def test_accuracy(ctx, model: nn.Module) -> dict[str, float]:
    """``acc`` and ``worst_group_acc`` of ``model`` on the whole test split (one curve point)."""
    sp = ctx.data.splits["test"]
    pred = ctx.forward(model, sp.x).argmax(1)
    A = group_accuracy(pred, sp.y, sp.s, ctx.data.num_classes, ctx.data.num_attrs)
    return {
        "acc": float((pred == sp.y).double().mean()),
        "worst_group_acc": worst_group(A),
    }


def summarise_rows(ctx, rows: list[dict[str, float]], prefix: str) -> dict[str, float]:
    """``curve_summaries`` of curve rows (``sparsity``, ``acc``), chance = 1 / number of classes."""
    sparsity, acc = [r["sparsity"] for r in rows], [r["acc"] for r in rows]
    return curve_summaries(sparsity, acc, prefix, chance=1.0 / ctx.data.num_classes)


def pruning_curve(ctx, prune_to: Callable[[float], nn.Module], name: str) -> dict[str, Any]:
    """Accuracy and worst-group accuracy on the test split at each ``eval.sparsities`` level.

    Args:
        prune_to: sparsity -> pruned copy of ``ctx.model`` (from ``magnitude_pruner``).
        name: key stem: ``test/{name}`` holds the rows, ``test/{name}_auc`` etc. the summaries.
    """
    rows = []
    for level in ctx.cfg.sparsities:
        pruned = prune_to(level)
        w_frac, all_frac = realised_sparsity(pruned)
        rows.append(
            {
                "sparsity": float(level),
                "realised_weight_sparsity": w_frac,
                "realised_param_sparsity": all_frac,
                **test_accuracy(ctx, pruned),
            }
        )
    out: dict[str, Any] = {f"test/{name}": rows}
    out.update(summarise_rows(ctx, rows, f"test/{name}"))
    return out


@METRICS.register("prune_curve", keys=curve_keys("test/prune", "global"))
def prune_curve(ctx) -> dict[str, Any]:
    """Global unstructured magnitude pruning without fine-tuning: test acc and worst-group acc per sparsity."""
    return pruning_curve(ctx, magnitude_pruner(ctx.model, "global"), "prune")


@METRICS.register("prune_layer_curve", keys=curve_keys("test/prune_layer", "per-layer"))
def prune_layer_curve(ctx) -> dict[str, Any]:
    """Per-layer unstructured magnitude pruning (same rate in every layer): test acc and worst-group acc."""
    return pruning_curve(ctx, magnitude_pruner(ctx.model, "layer"), "prune_layer")

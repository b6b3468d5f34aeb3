"""Properties of the penultimate representation: activation sparsity, class separation (paper-spec section 5)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from largelr.metrics.base import METRICS, Key
from largelr.metrics.compressibility import pq_index


def activation_sparsity(Z: Tensor) -> dict[str, float]:
    """Fraction of exactly-zero activations, fraction of dead units (zero on every sample), and the
    PQ-index (p=1, q=2) of each sample's activation vector averaged over samples with a nonzero one.

    Args:
        Z: (N, D) penultimate activations.
    """
    zero = Z == 0
    pqi = pq_index(Z)
    ok = ~torch.isnan(pqi)
    return {
        "act_zero_frac": float(zero.double().mean()),
        "dead_frac": float(zero.all(0).double().mean()),
        "act_pqi": float(pqi[ok].mean()) if ok.any() else float("nan"),
    }


def class_means(Z: Tensor, labels: Tensor, num_values: int) -> tuple[Tensor, Tensor]:
    """((K, D) float64 mean of the rows of ``Z`` per label value, (K,) counts); rows of empty values are 0."""
    counts = torch.bincount(labels, minlength=num_values).double()
    sums = torch.zeros(num_values, Z.shape[1], dtype=torch.double).index_add_(0, labels, Z.double())
    return sums / counts.clamp(min=1)[:, None], counts


def mean_cosine_matrix(Z: Tensor, labels: Tensor, num_values: int) -> Tensor:
    """(K, K) matrix M[c, c'] = mean over a in Z_c, b in Z_c' of cos(a, b); rows for empty classes are NaN.

    Uses mean_{a,b} <a/|a|, b/|b|> = <mean_a a/|a|, mean_b b/|b|>. All-zero vectors have cosine 0
    with everything (they contribute 0 to the mean).
    """
    Zn = Z.double() / Z.double().norm(dim=1, keepdim=True).clamp(min=1e-12)
    means, counts = class_means(Zn, labels, num_values)
    M = means @ means.T
    empty = counts == 0
    M[empty, :] = float("nan")
    M[:, empty] = float("nan")
    return M


def separation(Z: Tensor, labels: Tensor, num_values: int, same_pairs: bool = True) -> float:
    """1 - D_within / D_between with cosine distance D(A, B) = 1 - mean cos(a, b) (paper-spec section 5).

    D_within averages D(Z_c, Z_c) over classes (all pairs a, b in Z_c, including a = b, as the
    definition reads). D_between averages D(Z_c, Z_c') over ordered class pairs: by default over ALL
    K^2 pairs including c = c' (the authors' public code, ``mbarsbey/advcomp``), with
    ``same_pairs=False`` over the K(K-1) pairs c != c' only (ours before issue 12, the
    ``*_offdiag`` keys). Including c = c' puts D_within's terms into D_between, so that convention
    is lower whenever classes are separated. Classes absent from ``labels`` are skipped.
    """
    M = mean_cosine_matrix(Z, labels, num_values)
    present = ~torch.isnan(M.diagonal())
    M = M[present][:, present]
    k = M.shape[0]
    if k < 2:
        return float("nan")
    d_within = (1 - M.diagonal()).mean()
    pairs = torch.ones(k, k, dtype=torch.bool) if same_pairs else ~torch.eye(k, dtype=torch.bool)
    d_between = (1 - M[pairs]).mean()
    return float(1 - d_within / d_between) if d_between > 0 else float("nan")


def fisher_ratio(Z: Tensor, labels: Tensor, num_values: int) -> float:
    """Trace ratio tr(S_B) / tr(S_W) of between-class over within-class scatter.

    S_B = sum_c n_c (mu_c - mu)(mu_c - mu)^T and S_W = sum_i (z_i - mu_{c_i})(z_i - mu_{c_i})^T, so
    tr(S_B) = sum_c n_c |mu_c - mu|^2 and tr(S_W) = sum_i |z_i - mu_{c_i}|^2 (sums of squares, no
    degrees-of-freedom correction: our choice). Higher = classes further apart relative to their
    spread. NaN with fewer than two classes present or zero within-class scatter.
    """
    Z = Z.double()
    means, counts = class_means(Z, labels, num_values)
    if int((counts > 0).sum()) < 2:
        return float("nan")
    between = (counts * ((means - Z.mean(0)) ** 2).sum(1)).sum()
    within = ((Z - means[labels]) ** 2).sum()
    return float(between / within) if within > 0 else float("nan")


@METRICS.register(
    "activation_sparsity",
    keys={
        "test/act_zero_frac": Key("activation sparsity", "higher", True, "act_sparsity", sesoi=0.01),
        "test/act_pqi": Key("PQ-index of activations", "higher", False, "act_sparsity"),
        # a diagnostic: many dead units is no virtue (units that never fire are lost capacity)
        "test/dead_frac": Key("dead units (zero on every sample)"),
    },
)
def activation_sparsity_metric(ctx) -> dict[str, Any]:
    """Zero fraction, dead-unit fraction and mean per-sample PQ-index of penultimate activations on the
    fixed test subset (``test/act_zero_frac``, ``test/dead_frac``, ``test/act_pqi``)."""
    Z, _, _ = ctx.features("test")
    return {f"test/{k}": v for k, v in activation_sparsity(Z).items()}


@METRICS.register(
    "class_separation",
    keys={
        "test/class_sep": Key("class separation", "higher", True, "class_sep", sesoi=0.01),
        "test/class_sep_offdiag": Key("class separation (D_between over c ≠ c′)", "higher", False, "class_sep"),
        "test/fisher_ratio": Key("Fisher ratio (classes)", "higher", False, "class_sep"),
        "test/bias_sep": Key("bias separation", "lower", False, "class_sep"),
        "test/bias_sep_offdiag": Key("bias separation (D_between over s ≠ s′)", "lower", False, "class_sep"),
        "test/bias_fisher_ratio": Key("Fisher ratio (spurious attribute)", "lower", False, "class_sep"),
    },
)
def class_separation(ctx) -> dict[str, Any]:
    """Cosine class separation of penultimate features and its Fisher-ratio view, each also with s in
    place of y. ``test/class_sep`` / ``test/bias_sep`` use the authors' D_between over all class pairs,
    ``test/class_sep_offdiag`` / ``test/bias_sep_offdiag`` ours over distinct pairs (``separation``);
    ``test/fisher_ratio``, ``test/bias_fisher_ratio``."""
    Z, y, s = ctx.features("test")
    return {
        "test/class_sep": separation(Z, y, ctx.data.num_classes),
        "test/class_sep_offdiag": separation(Z, y, ctx.data.num_classes, same_pairs=False),
        "test/bias_sep": separation(Z, s, ctx.data.num_attrs),
        "test/bias_sep_offdiag": separation(Z, s, ctx.data.num_attrs, same_pairs=False),
        "test/fisher_ratio": fisher_ratio(Z, y, ctx.data.num_classes),
        "test/bias_fisher_ratio": fisher_ratio(Z, s, ctx.data.num_attrs),
    }

"""Unit selectivity: does each penultimate unit respond to one class (core) or to one spurious value?

Class selectivity index after Morcos et al. 2018 (https://arxiv.org/abs/1803.06959), and the same
index over the spurious attribute (bias selectivity), paper-spec section 5.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from largelr.metrics.base import METRICS, Key
from largelr.metrics.representation import class_means


def selectivity_index(Z: Tensor, labels: Tensor, num_values: int) -> Tensor:
    """(D,) SI_u = (mu_max - mu_rest) / (mu_max + mu_rest) per unit; NaN for units inactive on Z.

    mu_v = mean activation of the unit over samples with label v (labels absent from ``labels`` are
    skipped), mu_max = the largest of them, mu_rest = the mean of the others. Assumes nonnegative
    activations (post-ReLU), so SI is in [0, 1]: 0 = same mean for every value, 1 = only one value
    activates the unit.

    Args:
        Z: (N, D) activations; labels: (N,) values in [0, num_values).
    """
    Z = Z.double()
    means, counts = class_means(Z, labels, num_values)
    means = means[counts > 0]  # (K', D)
    k = means.shape[0]
    if k < 2:
        return torch.full((Z.shape[1],), float("nan"), dtype=torch.double)
    mu_max = means.max(0).values
    mu_rest = (means.sum(0) - mu_max) / (k - 1)
    denom = mu_max + mu_rest
    si = (mu_max - mu_rest) / denom.clamp(min=1e-300)
    return torch.where(denom > 0, si, torch.full_like(denom, float("nan")))


@METRICS.register(
    "selectivity",
    keys={
        "test/csi_gt_bsi": Key("share of units more class- than bias-selective", "higher", False, "core_util"),
        "test/csi_mean": Key("class selectivity (mean over units)", "higher"),
        "test/bsi_mean": Key("bias selectivity (mean over units)", "lower"),
    },
)
def selectivity(ctx) -> dict[str, Any]:
    """Class (CSI) and bias (BSI) selectivity of penultimate units on the fixed test subset.

    Keys: ``test/csi_mean`` and ``test/bsi_mean`` (means over active units, i.e. units not zero on
    every subset sample), ``test/csi_gt_bsi`` = share of active units with CSI > BSI (higher = more
    units tuned to the core label than to the spurious attribute).
    """
    Z, y, s = ctx.features("test")
    csi = selectivity_index(Z, y, ctx.data.num_classes)
    bsi = selectivity_index(Z, s, ctx.data.num_attrs)
    active = ~(torch.isnan(csi) | torch.isnan(bsi))
    if not active.any():
        nan = float("nan")
        return {"test/csi_mean": nan, "test/bsi_mean": nan, "test/csi_gt_bsi": nan}
    return {
        "test/csi_mean": float(csi[active].mean()),
        "test/bsi_mean": float(bsi[active].mean()),
        "test/csi_gt_bsi": float((csi[active] > bsi[active]).double().mean()),
    }

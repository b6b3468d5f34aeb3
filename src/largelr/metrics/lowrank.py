"""Low-rank structure of the weight matrices: effective rank and stable rank (paper-spec section 5).

Conv kernels are read as (out_channels, in_channels * kernel) matrices. Lower ranks mean a layer
can be factorised into thinner matrices with little loss (another kind of compressibility).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from largelr.metrics.base import METRICS, Key
from largelr.metrics.compressibility import weight_tensors


def effective_rank(W: Tensor) -> float:
    """exp(H(p)) with p = singular values / their sum (Roy & Vetterli 2007).

    https://infoscience.epfl.ch/record/110188. Equals r for a matrix with r equal nonzero singular
    values; NaN for the zero matrix.
    """
    sv = torch.linalg.svdvals(W.detach().flatten(1).double())
    total = sv.sum()
    if total == 0:
        return float("nan")
    p = sv[sv > 0] / total
    return float(torch.exp(-(p * p.log()).sum()))


def stable_rank(W: Tensor) -> float:
    """||W||_F^2 / ||W||_2^2 (squared Frobenius over squared spectral norm); NaN for the zero matrix."""
    sv = torch.linalg.svdvals(W.detach().flatten(1).double())
    return float((sv**2).sum() / sv[0] ** 2) if sv[0] > 0 else float("nan")


@METRICS.register(
    "low_rank",
    keys={
        "weights/eff_rank_mean": Key("effective rank (mean over layers)", "lower", False, "compressibility"),
        "weights/stable_rank_mean": Key("stable rank (mean over layers)", "lower", False, "compressibility"),
        "weights/eff_rank_layer{i}": Key("effective rank of layer i", "lower"),
        "weights/stable_rank_layer{i}": Key("stable rank of layer i", "lower"),
    },
)
def low_rank(ctx) -> dict[str, Any]:
    """Effective and stable rank of each weight matrix (``weights/eff_rank_layer{i}``,
    ``weights/stable_rank_layer{i}``) and their means over layers (``weights/eff_rank_mean``,
    ``weights/stable_rank_mean``). Lower = more low-rank (more compressible)."""
    out: dict[str, Any] = {}
    eff, stab = [], []
    for i, (_, W) in enumerate(weight_tensors(ctx.model)):
        eff.append(effective_rank(W))
        stab.append(stable_rank(W))
        out[f"weights/eff_rank_layer{i}"] = eff[-1]
        out[f"weights/stable_rank_layer{i}"] = stab[-1]
    out["weights/eff_rank_mean"] = float(np.nanmean(eff)) if eff else float("nan")
    out["weights/stable_rank_mean"] = float(np.nanmean(stab)) if stab else float("nan")
    return out

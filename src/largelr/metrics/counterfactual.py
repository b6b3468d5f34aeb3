"""Counterfactual sensitivity: swap an image region with another test image's and watch the prediction.

Replacing the spurious region should not move a model that uses the core feature; replacing the
core region should move it to the new core label. Needs region masks (paper-spec section 5).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from largelr.metrics.base import METRICS, Key, needs_regions
from largelr.metrics.robustness import mean_or_nan
from largelr.seeding import make_generator


def pick_partners(values: Tensor, exclude: Tensor, gen: torch.Generator) -> Tensor:
    """For each i, a uniformly random j with values[j] not in {values[i], exclude[i]}; -1 if there is none.

    Draws a value v with probability proportional to its count among the allowed values, then a
    uniform sample of value v: uniform over the valid j in O(N * num_values) memory, not O(N^2).

    Args:
        values, exclude: (N,) nonnegative integer tensors.
    """
    n, V = len(values), int(max(values.max(), exclude.max())) + 1
    counts = torch.bincount(values, minlength=V)
    order = torch.argsort(values, stable=True)  # sample indices grouped by value
    starts = counts.cumsum(0) - counts
    w = counts.double().expand(n, V).clone()
    rows = torch.arange(n)
    w[rows, values] = 0.0
    w[rows, exclude] = 0.0
    ok = w.sum(1) > 0
    out = torch.full((n,), -1, dtype=torch.long)
    if ok.any():
        v = torch.multinomial(w[ok], 1, generator=gen).squeeze(1)
        k = (torch.rand(len(v), generator=gen, dtype=torch.double) * counts[v]).long()
        out[ok] = order[starts[v] + k]
    return out


def swap_region(x: Tensor, i: Tensor, j: Tensor, mask: Tensor) -> Tensor:
    """x[i] * (1 - m_i) + x[j] * m_i: image i with the region m_i taken from image j.

    Uses image i's mask for both, so it assumes the region sits at the same place in both images
    (true for Double MNIST's halves).

    Args:
        x: (N, C, H, W) images; i, j: (M,) indices into x; mask: (N, H, W) bool region masks.
    """
    m = mask[i.cpu()].unsqueeze(1).to(x.device, x.dtype)
    return x[i.to(x.device)] * (1 - m) + x[j.to(x.device)] * m


@METRICS.register(
    "counterfactual",
    keys={
        "test/cf_spurious_flip": Key("prediction flips when the spurious part is swapped", "lower", False, "core_util"),
        "test/cf_spurious_follow": Key("prediction follows a swapped spurious part", "lower", False, "core_util"),
        "test/cf_core_flip": Key("prediction flips when the core part is swapped", "higher", False, "core_util"),
        "test/cf_core_follow": Key("prediction follows a swapped core part", "higher", False, "core_util"),
    },
)
@needs_regions
def counterfactual(ctx) -> dict[str, Any]:
    """Prediction changes when the spurious or the core region is swapped, on the fixed test subset.

    Spurious swap: each image i gets the spurious region of a random subset image j with
    s_j != s_i and s_j != y_i (so following the new spurious value is never the correct answer;
    ours). ``test/cf_spurious_flip`` = P(prediction changes), ``test/cf_spurious_follow`` =
    P(prediction = s_j). Lower = less spurious reliance.

    Core swap: image i gets the core region of a random image k with y_k != y_i and y_k != s_i.
    ``test/cf_core_flip`` = P(prediction changes), ``test/cf_core_follow`` = P(prediction = y_k).
    Higher = more core reliance. Images without a valid partner are left out.
    """
    sp = ctx.data.splits["test"]
    idx = ctx.repr_index("test")
    x = sp.x[idx.to(sp.x.device)]
    y, s = sp.y[idx].cpu(), sp.s[idx].cpu()
    base = ctx.forward(ctx.model, x).argmax(1)
    out: dict[str, Any] = {}
    for region, new_of, other in (("spurious", s, y), ("core", y, s)):
        # partner j carries a different value of the swapped factor, also different from the other factor
        partner = pick_partners(new_of, other, make_generator(ctx.seed, "counterfactual", region))
        keep = partner >= 0
        i, j = torch.nonzero(keep).flatten(), partner[keep]
        pred = ctx.forward(ctx.model, swap_region(x, i, j, sp.masks[region][idx].cpu())).argmax(1)
        out[f"test/cf_{region}_flip"] = mean_or_nan(pred != base[i])
        out[f"test/cf_{region}_follow"] = mean_or_nan(pred == new_of[j])
    return out

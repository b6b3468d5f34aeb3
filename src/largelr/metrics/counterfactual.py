"""Counterfactual sensitivity: swap an image region with another test image's and watch the prediction.

Replacing the spurious region should not move a model that uses the core feature; replacing the
core region should move it to the new core label. Needs region masks (paper-spec section 5).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

from largelr.metrics.base import METRICS, Key
from largelr.metrics.robustness import mean_or_nan
from largelr.seeding import make_generator

log = logging.getLogger(__name__)


def pick_partners(values: Tensor, exclude: Tensor, gen: torch.Generator) -> Tensor:
    """For each i, a uniformly random j with values[j] not in {values[i], exclude[i]}; -1 if there is none.

    Draws a value v with probability proportional to its count among the allowed values, then a
    uniform sample of value v: uniform over the valid j in O(N * num_values) memory, not O(N^2).

    Args:
        values: (N,) nonnegative integer tensor.
        exclude: (N,) integers, -1 where nothing besides values[i] is excluded.
    """
    n, V = len(values), int(max(values.max(), exclude.max())) + 1
    counts = torch.bincount(values, minlength=V)
    order = torch.argsort(values, stable=True)  # sample indices grouped by value
    starts = counts.cumsum(0) - counts
    w = counts.double().expand(n, V).clone()
    rows = torch.arange(n)
    w[rows, values] = 0.0
    has = exclude >= 0
    w[rows[has], exclude[has]] = 0.0
    ok = w.sum(1) > 0
    out = torch.full((n,), -1, dtype=torch.long)
    if ok.any():
        v = torch.multinomial(w[ok], 1, generator=gen).squeeze(1)
        k = (torch.rand(len(v), generator=gen, dtype=torch.double) * counts[v]).long()
        out[ok] = order[starts[v] + k]
    return out


def attribute_of_class(pulled: Tensor, y: Tensor) -> Tensor:
    """(N,) the attribute value that pulls towards class y[i], -1 if none does.

    Args:
        pulled: (num_attrs,) class each attribute value pulls towards, -1 for none (one value per class at most).
        y: (N,) classes.
    """
    inverse = torch.full((int(max(pulled.max(), y.max())) + 1,), -1, dtype=torch.long)
    a = torch.nonzero(pulled >= 0).flatten()
    inverse[pulled[a]] = a
    return inverse[y]


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
    min_test=2,  # a swap needs a partner image
    keys={
        "test/cf_spurious_flip": Key("prediction flips when the spurious part is swapped", "lower", False, "core_util"),
        "test/cf_spurious_follow": Key("prediction follows a swapped spurious part", "lower", False, "core_util"),
        "test/cf_core_flip": Key("prediction flips when the core part is swapped", "higher", False, "core_util"),
        "test/cf_core_follow": Key("prediction follows a swapped core part", "higher", False, "core_util"),
    },
    needs_regions=True,
)
def counterfactual(ctx) -> dict[str, Any]:
    """Prediction changes when the spurious or the core region is swapped, on the fixed test subset.

    Uses the dataset's ``spurious_class`` map (attribute value -> the class it pulls towards, or
    none). Spurious swap: each image i gets the spurious region of a random subset image j with
    s_j != s_i whose attribute does not pull towards y_i (so following it is never the correct
    answer; ours). ``test/cf_spurious_flip`` = P(prediction changes), ``test/cf_spurious_follow``
    = P(prediction = the class s_j pulls towards), over the swaps where s_j pulls towards a class.
    Lower = less spurious reliance.

    Core swap: image i gets the core region of a random image k with y_k != y_i and y_k not the
    class s_i pulls towards. ``test/cf_core_flip`` = P(prediction changes), ``test/cf_core_follow``
    = P(prediction = y_k). Higher = more core reliance. Images without a valid partner are left
    out. Where the map is undefined the follow of the spurious swap is left out (logged) and the
    partners only differ in the swapped factor.
    """
    sp = ctx.data.splits["test"]
    idx = ctx.repr_index("test")
    x = sp.x[idx.to(sp.x.device)]
    y, s = sp.y[idx].cpu(), sp.s[idx].cpu()
    base = ctx.forward(ctx.model, x).argmax(1)
    pulled = ctx.data.pulled_class()
    none = torch.full_like(y, -1)
    if pulled is None:
        log.warning("dataset %r: s is not tied to classes, so cf_spurious_follow is not computed", ctx.data.name)
    out: dict[str, Any] = {}
    for region, new_of, exclude, follows in (
        ("spurious", s, none if pulled is None else attribute_of_class(pulled, y), pulled),
        ("core", y, none if pulled is None else pulled[s], None),
    ):
        # partner j carries a different value of the swapped factor, one that does not point to the right answer
        partner = pick_partners(new_of, exclude, make_generator(ctx.seed, "counterfactual", region))
        keep = partner >= 0
        i, j = torch.nonzero(keep).flatten(), partner[keep]
        if len(i) == 0:  # no image has a valid partner (a tiny test split): the probabilities are undefined
            out[f"test/cf_{region}_flip"] = float("nan")
            if region == "core" or follows is not None:
                out[f"test/cf_{region}_follow"] = float("nan")
            continue
        pred = ctx.forward(ctx.model, swap_region(x, i, j, sp.masks[region][idx].cpu())).argmax(1)
        out[f"test/cf_{region}_flip"] = mean_or_nan(pred != base[i])
        if region == "core":
            out["test/cf_core_follow"] = mean_or_nan(pred == y[j])
        elif follows is not None:
            target = follows[s[j]]
            out["test/cf_spurious_follow"] = mean_or_nan(pred[target >= 0] == target[target >= 0])
    return out

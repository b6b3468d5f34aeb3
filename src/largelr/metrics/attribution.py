"""Core-feature utilization from input attributions: how much attribution falls on the spurious region.

Attributions come from captum (DeepLift by default; Integrated Gradients and Saliency under their
own metric names), with target = true label and a zero baseline, on the fixed test subset. Needs
the dataset's core/spurious region masks (paper-spec section 5).
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from largelr.metrics.base import METRICS, Key

log = logging.getLogger(__name__)

MAX_SAMPLES = 500  # attributions are a backward pass per sample (x n_steps for IG): cap the cost
MAP_IMAGES = 16  # test images averaged into the heat-map returned for the report
BATCH = 250
IG_STEPS = 32
OUTLIER_PERC = 2.0  # the top 2% of attribution mass saturates at 1 (captum's visualisation default)


def normalise_attributions(attr: Tensor, outlier_perc: float = OUTLIER_PERC) -> Tensor:
    """Per-sample |sum over channels| scaled by its cumulative-sum threshold and clipped to [0, 1].

    For each sample, with a = |sum_c attr[c]| flattened and sorted ascending, the threshold is the
    smallest value v in a such that the entries <= v carry at least (100 - outlier_perc)% of the
    total mass sum(a) (captum's ``_cumulative_sum_threshold``, the "98th percentile of the
    cumulative sum"). Dividing by v and clipping saturates the few largest entries, so one extreme
    pixel cannot dominate the region shares. All-zero samples stay all zero.

    Args:
        attr: (N, C, H, W) attributions (or (N, H, W) with the channel sum already taken).

    Returns:
        (N, H, W) values in [0, 1].
    """
    a = (attr.sum(1) if attr.ndim == 4 else attr).abs().double()
    flat = a.flatten(1)
    vals = flat.sort(dim=1).values
    csum = vals.cumsum(1)
    # first position where the cumulative sum reaches the (100 - outlier_perc)% of the total
    reached = csum >= csum[:, -1:] * (1.0 - outlier_perc / 100.0)
    thr = vals.gather(1, reached.double().argmax(1, keepdim=True))
    norm = torch.where(thr > 0, flat / thr.clamp(min=1e-300), torch.zeros_like(flat)).clamp(0.0, 1.0)
    return norm.view_as(a)


def region_share(a: Tensor, mask: Tensor) -> Tensor:
    """(N,) share of each sample's attribution mass inside ``mask``; NaN where the mass is 0.

    Args:
        a: (N, H, W) nonnegative attributions.
        mask: (N, H, W) bool region mask.
    """
    total = a.flatten(1).sum(1)
    inside = (a * mask).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp(min=1e-300), torch.full_like(total, float("nan")))


def attribute(model: nn.Module, x: Tensor, target: Tensor, method: str) -> Tensor:
    """Raw captum attributions (same shape as ``x``), target class ``target``, zero baseline.

    The model is deep-copied so captum's hooks and its replacement of nonlinearities never touch the
    trained model. DeepLift is only right on models ``deeplift_refusal`` accepts.
    """
    from captum.attr import DeepLift, IntegratedGradients, Saliency  # captum is slow to import

    model = copy.deepcopy(model).eval()
    if method == "deeplift":
        explainer: Any = DeepLift(model)
        kwargs: dict[str, Any] = {"baselines": 0.0}
    elif method == "ig":
        explainer = IntegratedGradients(model)
        kwargs = {"baselines": 0.0, "n_steps": IG_STEPS, "internal_batch_size": BATCH}
    elif method == "saliency":
        explainer = Saliency(model)
        kwargs = {"abs": False}  # |.| is taken after the channel sum, as for the other methods
    else:
        raise ValueError(f"unknown attribution method {method!r}")
    out = []
    with torch.enable_grad(), warnings.catch_warnings():
        # DeepLift warns that it sets hooks on the nonlinearities: harmless on our private copy
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks", category=UserWarning)
        for i in range(0, len(x), BATCH):
            xb = x[i : i + BATCH].detach().clone().requires_grad_(True)
            out.append(explainer.attribute(xb, target=target[i : i + BATCH], **kwargs).detach().cpu())
    return torch.cat(out)


# Nonlinear modules captum's DeepLift has no rule for: it passes gradients through them as if they were
# linear, so the attributions silently stop summing to f(x) - f(baseline) (captum.attr._core.deep_lift
# SUPPORTED_NON_LINEAR lists the modules with a rule: ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus,
# MaxPool, Softmax). BatchNorm in eval mode is affine, hence fine.
NO_DEEPLIFT_RULE = (
    nn.GroupNorm,
    nn.LayerNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.MultiheadAttention,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
)


def deeplift_refusal(model: nn.Module, example: Tensor) -> str | None:
    """Why DeepLift would be wrong on ``model`` (one line), or None if its rules cover the model.

    Two failure modes, both silent in captum: a nonlinearity without a DeepLift rule
    (``NO_DEEPLIFT_RULE``: normalisation over features, attention, GELU), and a nonlinear module
    called more than once per forward pass (torchvision's BasicBlock calls one ``self.relu`` twice;
    captum's hooks then pair the inputs of one call with the outputs of another). ``example`` is one
    input, run once with hooks counting the calls.
    """
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR

    name = type(model).__name__
    bad = sorted({type(m).__name__ for m in model.modules() if isinstance(m, NO_DEEPLIFT_RULE)})
    if bad:
        return f"{name} has nonlinear layers without a DeepLift rule ({', '.join(bad)}); use attribution_ig"
    calls: dict[int, int] = {}
    nonlinear = [m for m in model.modules() if type(m) in SUPPORTED_NON_LINEAR]
    hooks = [
        m.register_forward_hook(lambda mod, _i, _o: calls.update({id(mod): calls.get(id(mod), 0) + 1}))
        for m in nonlinear
    ]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    if any(n > 1 for n in calls.values()):
        return f"{name} calls one nonlinearity module more than once per forward; DeepLift needs one module per use"
    return None


def attribution_shares(ctx, method: str, suffix: str) -> dict[str, Any]:
    """Spurious share, core utilization and a mean heat-map for one attribution method.

    DeepLift on a model ``deeplift_refusal`` rejects returns no keys and logs the one-line reason.
    """
    sp = ctx.data.splits["test"]
    reason = deeplift_refusal(ctx.model, sp.x[:1]) if method == "deeplift" else None
    if reason:
        log.warning("attribution (DeepLift) skipped: %s", reason)
        return {}
    idx = ctx.repr_index("test")[: min(ctx.cfg.n_repr, MAX_SAMPLES)]
    x = sp.x[idx.to(sp.x.device)]
    target = sp.y[idx].to(x.device)
    a = normalise_attributions(attribute(ctx.model, x, target, method))
    share = region_share(a, sp.masks["spurious"][idx].cpu())
    ok = ~torch.isnan(share)
    spurious = float(share[ok].mean()) if ok.any() else float("nan")
    heat = a[:MAP_IMAGES].mean(0)
    core = sp.masks["core"][idx[0]].cpu()
    return {
        f"test/spurious_share{suffix}": spurious,
        f"test/core_util{suffix}": 1.0 - spurious,
        f"test/attr_map{suffix}": [[round(float(v), 4) for v in row] for row in heat],
        f"test/attr_map_index{suffix}": idx[:MAP_IMAGES].tolist(),
        f"test/attr_mask{suffix}": core.int().tolist(),
    }


def attribution_keys(suffix: str, method: str, headline: bool) -> dict[str, Key]:
    """The scalar keys of one attribution method (``suffix`` "", "_ig", "_saliency")."""
    return {
        f"test/core_util{suffix}": Key(
            f"core utilization ({method} attribution)", "higher", headline, "core_util", sesoi=0.01
        ),
        f"test/spurious_share{suffix}": Key(f"attribution share on the spurious region ({method})", "lower"),
    }


@METRICS.register("attribution", keys=attribution_keys("", "DeepLift", True), needs_regions=True)
def attribution(ctx) -> dict[str, Any]:
    """DeepLift attribution shares on the test subset (at most 500 samples).

    ``test/spurious_share`` = mean over samples of (normalised attribution mass in the spurious mask)
    / (total mass); ``test/core_util`` = 1 - spurious share (higher = more core-feature use);
    ``test/attr_map`` = the normalised map averaged over the first 16 subset images, whose test
    indices are ``test/attr_map_index``; ``test/attr_mask`` = the core-region mask (0/1) of the first
    of them, for outlining the core region on the heat-map. Normalisation: ``normalise_attributions``.
    """
    return attribution_shares(ctx, "deeplift", "")


@METRICS.register("attribution_ig", keys=attribution_keys("_ig", "IG", False), needs_regions=True)
def attribution_ig(ctx) -> dict[str, Any]:
    """As ``attribution`` with Integrated Gradients (32 steps); keys carry the suffix ``_ig``."""
    return attribution_shares(ctx, "ig", "_ig")


@METRICS.register("attribution_saliency", keys=attribution_keys("_saliency", "Saliency", False), needs_regions=True)
def attribution_saliency(ctx) -> dict[str, Any]:
    """As ``attribution`` with Saliency (input gradient); keys carry the suffix ``_saliency``."""
    return attribution_shares(ctx, "saliency", "_saliency")

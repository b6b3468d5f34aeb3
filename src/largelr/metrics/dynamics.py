"""Training-dynamics measurements for the mechanism claim (paper-spec section 1, claim 6, and section 5).

A history metric (``when="eval"``), not an end-of-run one: the training loop runs ``dynamics`` at every
evaluation when ``eval.n_dynamics`` > 0, which measures ``dynamics_row`` on the fixed subset from
``dynamics_subset``. The subset over-represents bias-conflicting (BC) samples so that their statistics are
not based on a handful of samples; loss sums are reweighted by stratum so that the loss-share numbers
estimate the whole training split's values.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from largelr.data import Split, SpuriousDataset
from largelr.metrics.base import METRICS, Key
from largelr.metrics.robustness import mean_or_nan
from largelr.models import batched_forward
from largelr.seeding import make_generator


def dynamics_subset(data: SpuriousDataset, n: int, seed: int) -> Tensor:
    """Fixed indices (sorted, CPU) into the training split: BC samples up to ``n // 2``, the rest BA.

    All BC samples are taken when there are at most ``n // 2`` of them (with rho = 0.99 and 10,000
    training samples: all 100), otherwise a random ``n // 2``; bias-aligned (BA) samples, drawn at
    random, fill up to ``n``. If one stratum is too small the other fills in, so the subset has
    ``min(n, len(train))`` samples.

    Args:
        data: the dataset; only its training split is read.
        n: subset size.
        seed: seeds the draw (e.g. the run's data seed), so every LR of a sweep tracks the same samples.
    """
    aligned = data.splits["train"].aligned.cpu()
    bc, ba = torch.nonzero(~aligned).flatten(), torch.nonzero(aligned).flatten()
    n = min(n, len(aligned))
    n_bc = min(len(bc), n // 2)
    n_ba = min(len(ba), n - n_bc)
    n_bc = min(len(bc), n - n_ba)
    gen = make_generator(seed, "dynamics_subset")
    pick_bc = bc[torch.randperm(len(bc), generator=gen)[:n_bc]]
    pick_ba = ba[torch.randperm(len(ba), generator=gen)[:n_ba]]
    return torch.cat([pick_bc, pick_ba]).sort().values


@torch.no_grad()
def dynamics_row(model: nn.Module, split: Split, idx: Tensor) -> dict[str, float]:
    """Mechanism statistics of ``model`` on ``split.subset(idx)`` (the training split and its fixed subset).

    Keys (NaN where a stratum is empty):
        dyn/ebcr: effective BC loss ratio, sum_BC l_i / sum_all l_i over the whole training split,
            estimated from the subset by weighting each stratum's loss sum by (stratum size in the
            split) / (stratum size in the subset), which is exact when the subset contains the whole
            stratum. 0 when the split has no BC samples.
        dyn/loss: the same weighted estimate of the split's mean cross-entropy.
        dyn/bc_ba_loss_ratio: sum_BC l_i / sum_BA l_i over the whole training split (the authors'
            convention, a ratio of sums), from the same stratum-weighted sums as ``dyn/ebcr``; it
            equals (n_BC / n_BA) times the ratio of means. inf if only the BA sum is 0.
        dyn/bc_ba_loss_ratio_means: mean BC loss / mean BA loss (ours before issue 12; free of
            the BC/BA proportion, so comparable across rho).
        dyn/bc_conf: mean max-softmax probability on BC samples.
        dyn/bc_conf_wrong: the same over misclassified BC samples only ("confidently mispredicted").
        dyn/bc_pred_spurious: fraction of BC samples predicted as their spurious class s.
        dyn/acc_bc: accuracy on the subset's BC samples.
        dyn/ba_loss: mean cross-entropy of the subset's bias-aligned samples (the progress measure
            "matched bias-aligned training loss" of claim 6a).
        dyn/bc_grad_share: the BC share of the per-sample gradient norms, sum_BC ||g_i|| / sum_all ||g_i||
            (g_i: the gradient of sample i's loss with respect to every parameter), stratum-weighted like
            ``dyn/ebcr``: how much of the pull on the weights the BC samples carry, beside their loss share.

    The model is put in eval mode for the measurement and its previous mode restored.

    Args:
        model: the model being trained (any device).
        split: the training split the subset indexes.
        idx: indices from ``dynamics_subset``.
    """
    was_training = model.training
    model.eval()
    x = split.x[idx.to(split.x.device)]
    logits = batched_forward(model, x).cpu()
    model.train(was_training)
    y, s, aligned = (t[idx.to(t.device)].cpu() for t in (split.y, split.s, split.aligned))
    # float64: at convergence float32 losses of confident samples round to exactly 0
    loss = F.cross_entropy(logits.double(), y, reduction="none")
    prob = logits.double().softmax(1)
    conf, pred = prob.max(1)
    bc = ~aligned
    n_bc_all = float((~split.aligned).sum())
    n_ba_all = float(split.aligned.sum())
    sum_bc = n_bc_all / max(int(bc.sum()), 1) * float(loss[bc].sum())
    sum_ba = n_ba_all / max(int(aligned.sum()), 1) * float(loss[aligned].sum())
    total = sum_bc + sum_ba
    wrong_bc = bc & (pred != y)
    norms = per_sample_grad_norms(model, x, y.to(x.device)).cpu().double()
    g_bc = n_bc_all / max(int(bc.sum()), 1) * float(norms[bc].sum())
    g_ba = n_ba_all / max(int(aligned.sum()), 1) * float(norms[aligned].sum())
    return {
        "dyn/ebcr": sum_bc / total if total > 0 else float("nan"),
        "dyn/loss": total / (n_bc_all + n_ba_all),
        "dyn/bc_ba_loss_ratio": _ratio(sum_bc, sum_ba) if n_bc_all and n_ba_all else float("nan"),
        "dyn/bc_ba_loss_ratio_means": _ratio(mean_or_nan(loss[bc]), mean_or_nan(loss[aligned])),
        "dyn/bc_conf": mean_or_nan(conf[bc]),
        "dyn/bc_conf_wrong": mean_or_nan(conf[wrong_bc]),
        "dyn/bc_pred_spurious": mean_or_nan((pred[bc] == s[bc]).double()),
        "dyn/acc_bc": mean_or_nan((pred[bc] == y[bc]).double()),
        "dyn/ba_loss": mean_or_nan(loss[aligned]),
        "dyn/bc_grad_share": g_bc / (g_bc + g_ba) if g_bc + g_ba > 0 else float("nan"),
    }


@METRICS.register(
    "dynamics",
    when="eval",
    keys={
        "dyn/ebcr": Key("effective BC loss ratio (EBCR)"),
        "dyn/loss": Key("training loss, estimated from the dynamics subset", "lower"),
        "dyn/bc_ba_loss_ratio": Key("BC / BA training loss (ratio of sums)"),
        "dyn/bc_ba_loss_ratio_means": Key("mean BC / mean BA training loss (ours)"),
        "dyn/bc_conf": Key("max-softmax confidence on BC samples"),
        "dyn/bc_conf_wrong": Key("max-softmax confidence on misclassified BC samples"),
        "dyn/bc_pred_spurious": Key("BC samples predicted as their spurious class"),
        "dyn/acc_bc": Key("accuracy on BC training samples", "higher"),
        "dyn/ba_loss": Key("mean loss of the subset's BA samples", "lower"),
        "dyn/bc_grad_share": Key("BC share of per-sample gradient norms (ours)"),
    },
)
def dynamics(ctx) -> dict[str, float]:
    """``dynamics_row`` on ``eval.n_dynamics`` training samples drawn from the data seed (the same samples at
    every evaluation and for every LR of a sweep); nothing when ``eval.n_dynamics`` is 0."""
    if not ctx.cfg.n_dynamics:
        return {}
    return dynamics_row(ctx.model, ctx.data.splits["train"], dynamics_subset(ctx.data, ctx.cfg.n_dynamics, ctx.seed))


def per_sample_grad_norms(model: nn.Module, x: Tensor, y: Tensor, chunk: int = 32) -> Tensor:
    """(N,) L2 norm of the gradient of each sample's cross-entropy with respect to all parameters, the model
    in eval mode.

    Models made of ``nn.Linear`` layers applied once per sample (the MLP family) take one batched backward
    pass: a sample's gradient of a linear layer is the outer product of its output gradient and its input, so
    its squared norm is ``|delta|^2 |a|^2`` (plus ``|delta|^2`` for a bias). Any other model falls back to
    ``torch.func`` (vmap of per-sample gradients, in chunks; slower).
    """
    was_training = model.training
    model.eval()
    try:
        norms = _linear_grad_norms(model, x, y)
        return norms if norms is not None else _vmap_grad_norms(model, x, y, chunk)
    finally:
        model.train(was_training)


def _linear_grad_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    owned = {id(p) for m in linears for p in m.parameters(recurse=False)}
    if not linears or any(id(p) not in owned for p in model.parameters() if p.requires_grad):
        return None
    inputs: dict[nn.Module, list[Tensor]] = {m: [] for m in linears}
    grads: dict[nn.Module, list[Tensor]] = {m: [] for m in linears}
    hooks = [m.register_forward_hook(lambda mod, inp, out: inputs[mod].append(inp[0].detach())) for m in linears]
    hooks += [m.register_full_backward_hook(lambda mod, gi, go: grads[mod].append(go[0].detach())) for m in linears]
    try:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)  # so backward hooks fire on the first layer too
            F.cross_entropy(model(xr), y, reduction="sum").backward(inputs=[xr])
    finally:
        for h in hooks:
            h.remove()
    sq = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for m in linears:
        if len(inputs[m]) != 1 or len(grads[m]) != 1 or inputs[m][0].dim() != 2:
            return None  # applied more than once, or to token sequences: not one outer product per sample
        d2 = (grads[m][0].double() ** 2).sum(1)
        sq += d2 * (inputs[m][0].double() ** 2).sum(1) + (d2 if m.bias is not None else 0.0)
    return sq.sqrt()


def _vmap_grad_norms(model: nn.Module, x: Tensor, y: Tensor, chunk: int) -> Tensor:
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        return F.cross_entropy(functional_call(model, (p, buffers), (xi.unsqueeze(0),)), yi.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    out = []
    with torch.enable_grad():
        for i in range(0, len(x), chunk):
            g = per_sample(params, x[i : i + chunk], y[i : i + chunk])
            out.append(torch.sqrt(sum((v.flatten(1).double() ** 2).sum(1) for v in g.values())))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return float("nan")
    if b > 0:
        return a / b
    return float("inf") if a > 0 else float("nan")

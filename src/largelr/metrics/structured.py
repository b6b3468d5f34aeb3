"""Structured pruning: remove whole hidden units (Linear outputs) or channels (Conv outputs).

Models whose Linear/Conv layers form a plain chain (each layer's outputs are exactly the next
layer's inputs, no normalisation layers; the MLP family) are pruned here by zeroing units. Other
convolutional models (normalised CNNs, ResNets) are pruned with Torch-Pruning (Fang et al. 2023,
"DepGraph", https://arxiv.org/abs/2301.12900), which follows the channel dependencies through
residual additions and normalisation layers and removes the channels for real. Models with attention
(the ViT) are refused with a one-line reason, as is everything when ``torch_pruning`` is not
installed (``pip install torch-pruning``). Pruning never mutates the trained model.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from largelr.metrics.base import METRICS
from largelr.metrics.compressibility import COMPRESSIBLE_LAYERS, compressible, curve_keys, summarise_rows, test_accuracy

log = logging.getLogger(__name__)

LAYERS = COMPRESSIBLE_LAYERS
NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
)


@dataclass(frozen=True)
class Layer:
    """One layer of the chain and how often each of its weights is used per sample (its spatial size)."""

    module: nn.Module
    uses: int  # output positions per sample: 1 for Linear, H_out*W_out for Conv2d


def layer_chain(model: nn.Module, example: Tensor) -> list[Layer] | None:
    """The Linear/Conv layers in the order a forward pass on ``example`` calls them, if they form a chain.

    Returns None when the model has normalisation layers, calls a layer twice, or when some layer's
    output size does not match the next layer's input size. Skip connections are not detected: a
    residual network without normalisation layers whose sizes happen to match would pass.
    """
    if any(isinstance(m, NORMS) for m in model.modules()):
        return None
    calls: list[tuple[nn.Module, int]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: calls.append((mod, out[0, 0].numel())))
        for m in model.modules()
        if isinstance(m, LAYERS)
    ]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for h in hooks:
            h.remove()
    mods = [m for m, _ in calls]
    if len(set(map(id, mods))) != len(mods) or not mods:
        return None
    for a, b in zip(mods, mods[1:]):
        n_out = a.out_features if isinstance(a, nn.Linear) else a.out_channels
        n_in = b.in_features if isinstance(b, nn.Linear) else b.in_channels
        # Conv -> Linear goes through a channel-major flatten: channel j owns a block of columns
        conv_to_linear = not isinstance(a, nn.Linear) and isinstance(b, nn.Linear) and n_in % n_out == 0
        if n_in != n_out and not conv_to_linear:
            return None
        if isinstance(a, nn.Linear) and not isinstance(b, nn.Linear):
            return None
    return [Layer(m, uses) for m, uses in calls]


def prune_units(model: nn.Module, level: float, example: Tensor) -> tuple[nn.Module, dict[str, float]] | None:
    """A copy of ``model`` with the ``level`` fraction of units of every hidden layer removed.

    Removed per hidden layer (every chain layer but the last): ``min(n - 1, round(level * n))`` of
    its ``n`` output units, those with the smallest L2 norm of their incoming weights (ranked on the
    unpruned weights of that layer, one shot, ties by index). Removing unit j of layer l zeroes row j
    of W_l (a Conv filter), its bias, and the inputs of layer l+1 it feeds (column j, or for a
    Conv -> Linear flatten the block of columns of channel j).

    Returns:
        (pruned copy, stats) with ``units_removed_frac`` (over hidden units), ``param_frac_removed``
        (over all parameters) and ``flop_frac_removed`` (multiply-adds of Linear/Conv weights per
        sample), or None when the model is not a plain chain (see ``layer_chain``).
    """
    pruned = copy.deepcopy(model)
    chain = layer_chain(pruned, example)
    if chain is None:
        return None
    removed = [torch.zeros_like(layer.module.weight, dtype=torch.bool) for layer in chain]
    dropped: list[Tensor] = []
    for i, layer in enumerate(chain[:-1]):
        W = layer.module.weight.detach()
        n = W.shape[0]
        k = min(n - 1, round(level * n))
        order = torch.sort(W.flatten(1).norm(dim=1), stable=True).indices
        drop = order[:k]
        removed[i][drop] = True
        nxt = chain[i + 1].module.weight
        block = nxt.shape[1] // n  # 1 unless Conv -> Linear
        cols = (drop[:, None] * block + torch.arange(block, device=drop.device)).flatten()
        removed[i + 1][:, cols] = True
        dropped.append(drop)
    bias_removed = 0
    with torch.no_grad():
        for layer, mask in zip(chain, removed):
            layer.module.weight[mask] = 0.0
        for layer, drop in zip(chain, dropped):
            if layer.module.bias is not None:
                layer.module.bias[drop] = 0.0
                bias_removed += len(drop)
    units_total = sum(layer.module.weight.shape[0] for layer in chain[:-1])
    units_removed = sum(len(d) for d in dropped)
    n_params = sum(p.numel() for p in model.parameters())
    flops = sum(layer.module.weight.numel() * layer.uses for layer in chain)
    flops_removed = sum(int(m.sum()) * layer.uses for layer, m in zip(chain, removed))
    stats = {
        "units_removed_frac": units_removed / units_total if units_total else 0.0,
        "param_frac_removed": (sum(int(m.sum()) for m in removed) + bias_removed) / n_params,
        "flop_frac_removed": flops_removed / flops,
    }
    return pruned, stats


def refusal(model: nn.Module) -> str | None:
    """Why ``structured_prune_curve`` cannot prune ``model`` beyond a plain chain, or None if it can."""
    if any(isinstance(m, nn.MultiheadAttention) for m in model.modules()):
        return f"{type(model).__name__} has attention layers; structured pruning of heads/tokens is not implemented"
    try:
        import torch_pruning  # noqa: F401
    except ImportError:
        return (
            f"{type(model).__name__} is not a plain Linear/Conv chain and torch_pruning is not installed "
            "(pip install 'largelr[pruning]')"
        )
    return None


def prune_channels(model: nn.Module, level: float, example: Tensor) -> tuple[nn.Module, dict[str, float]]:
    """A copy of ``model`` with the ``level`` fraction of channels of every prunable layer removed by Torch-Pruning.

    ``torch_pruning.pruner.MagnitudePruner`` with L2 magnitude importance, one shot, ``pruning_ratio =
    level`` per layer (not global), the outputs of ``model.classifier`` (else of the last layer)
    kept; channels that must go together (a residual stage, its BatchNorm/GroupNorm) are pruned as
    one group. With GroupNorm the kept
    channels are rounded to a multiple of its group count.

    Returns:
        (pruned copy, stats): ``units_removed_frac`` (output channels/units removed over those of the
        compressible layers but the classifier), ``param_frac_removed`` (over all parameters) and
        ``flop_frac_removed`` (multiply-adds per sample as counted by ``torch_pruning.utils.count_ops_and_params``).
    """
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    layers = [m for _, m, _ in compressible(pruned)]
    head = getattr(pruned, "classifier", layers[-1])  # its outputs are the classes
    ops0, params0 = tp.utils.count_ops_and_params(pruned, example[:1])
    outs0 = sum(units(m) for m in layers if m is not head)
    if level > 0:
        groups = [m.num_groups for m in pruned.modules() if isinstance(m, nn.GroupNorm)]
        pruner = tp.pruner.MagnitudePruner(
            pruned,
            example[:1],
            importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=float(level),
            ignored_layers=[head],
            round_to=max(groups) if groups else None,
        )
        pruner.step()
    ops, params = tp.utils.count_ops_and_params(pruned, example[:1])
    outs = sum(units(m) for m in layers if m is not head)
    stats = {
        "units_removed_frac": 1.0 - outs / outs0,
        "param_frac_removed": 1.0 - params / params0,
        "flop_frac_removed": 1.0 - ops / ops0,
    }
    return pruned, stats


def units(m: nn.Module) -> int:
    """Output units (Linear) or channels (Conv) of a layer."""
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


@METRICS.register("structured_prune_curve", keys=curve_keys("test/prune_struct", "structured"))
def structured_prune_curve(ctx) -> dict[str, Any]:
    """Hidden-unit / channel pruning at each ``eval.sparsities`` level (fraction per layer), no fine-tuning.

    Keys: ``test/prune_struct`` (rows with ``sparsity`` = the level, the fraction of units removed
    per hidden layer, and ``units_removed_frac``, ``param_frac_removed``, ``flop_frac_removed``,
    ``acc``, ``worst_group_acc``) and the curve summaries (``curve_summaries``) over the level:
    ``test/prune_struct_rel_auc``, ``test/prune_struct_max_sparsity_99|95``, ``test/prune_struct_auc``.
    Plain chains (MLP) use ``prune_units``, other convolutional models ``prune_channels``
    (Torch-Pruning); models ``refusal`` names are skipped with a one-line warning and no keys.
    """
    example = ctx.data.splits["test"].x[:1]
    chain = layer_chain(copy.deepcopy(ctx.model), example) is not None
    reason = None if chain else refusal(ctx.model)
    if reason:
        log.warning("structured_prune_curve skipped: %s", reason)
        return {}
    rows = []
    for level in ctx.cfg.sparsities:
        result = prune_units(ctx.model, level, example) if chain else prune_channels(ctx.model, level, example)
        assert result is not None
        pruned, stats = result
        rows.append({"sparsity": float(level), **stats, **test_accuracy(ctx, pruned)})
    out: dict[str, Any] = {"test/prune_struct": rows}
    out.update(summarise_rows(ctx, rows, "test/prune_struct"))
    return out

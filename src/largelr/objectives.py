"""The training loss: plain cross-entropy, or cross-entropy with the bias-conflicting (BC) set re-weighted.

``objective(cfg, data, jtt_error_set)`` returns the loss the loop minimises, ``loss(logits, idx)`` for a batch
of training-split indices. It computes a loss and nothing else: the loop owns the model, the optimizer and the
schedule. The BC set is the true BC samples (``train.bc_set="oracle"``) or JTT's error set (``"jtt"``), which
the loop supplies (``largelr.train.erm_error_set``: training an ERM model is the loop's job).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from largelr.config import RunConfig
from largelr.data import SpuriousDataset

Loss = Callable[[Tensor, Tensor], Tensor]  # (logits of a batch, its indices into the training split) -> loss


def objective(cfg: RunConfig, data: SpuriousDataset, jtt_error_set: Callable[[], Tensor]) -> Loss:
    """The loss of a batch: ``F.cross_entropy`` with ``train.label_smoothing`` when ``train.bc_weight`` is 1,
    else ``weighted_cross_entropy`` with ``sample_weights`` (normalised by the sum of the weights when
    ``train.bc_weight_norm="sum"``). The weights are computed here, once.

    Args:
        cfg: the run config; ``train.label_smoothing``, ``bc_weight``, ``bc_weight_norm`` and ``bc_set`` are read.
        data: the dataset; the training split's labels (and BC flags) are read.
        jtt_error_set: returns JTT's error set (a bool mask over the training split); called only when
            ``train.bc_set="jtt"`` and ``train.bc_weight`` != 1.
    """
    t = cfg.train
    Y = data.splits["train"].y
    w = sample_weights(cfg, data, jtt_error_set)  # None: plain ERM (train.bc_weight == 1)
    if w is None:
        return lambda logits, idx: F.cross_entropy(logits, Y[idx], label_smoothing=t.label_smoothing)
    normalise = t.bc_weight_norm == "sum"
    return lambda logits, idx: weighted_cross_entropy(logits, Y[idx], w[idx], t.label_smoothing, normalise)


def weighted_cross_entropy(
    logits: Tensor, y: Tensor, w: Tensor, label_smoothing: float = 0.0, normalise: bool = True
) -> Tensor:
    """``sum_i w_i CE_i / sum_i w_i`` (``normalise``): the loss of the batch with each sample repeated ``w_i``
    times, i.e. up-sampling the weighted set by ``w`` (JTT), with the step size of plain training; 0 when every
    weight is 0. Without ``normalise``: ``sum_i w_i CE_i / B``, whose gradient grows with the batch's mean
    weight, so it also raises the effective learning rate."""
    weighted = w * F.cross_entropy(logits, y, reduction="none", label_smoothing=label_smoothing)
    if not normalise:
        return weighted.mean()
    return weighted.sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)


def sample_weights(cfg: RunConfig, data: SpuriousDataset, jtt_error_set: Callable[[], Tensor]) -> Tensor | None:
    """Per-training-sample loss weights: ``train.bc_weight`` on the BC set, 1 elsewhere; None when it is 1.

    The BC set is the true bias-conflicting samples (``train.bc_set="oracle"``) or ``jtt_error_set()``
    (``"jtt"``). A pure function of the config and the dataset when ``jtt_error_set`` is.
    """
    t = cfg.train
    if t.bc_weight == 1.0:
        return None
    split = data.splits["train"]
    members = ~split.aligned if t.bc_set == "oracle" else jtt_error_set()
    one = torch.ones((), dtype=split.x.dtype, device=split.x.device)
    return torch.where(members.to(one.device), one * t.bc_weight, one)

"""Robustness to the spurious correlation: accuracies by bias-alignment and by group (paper-spec section 5)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from largelr.metrics.base import METRICS, Key, SmallGroups

log = logging.getLogger(__name__)

# A worst-group accuracy on fewer test samples than this in its smallest group moves in steps of more than
# 0.01 and has a standard error up to 0.05: verdicts judge the worst-class BC accuracy instead (``SmallGroups``).
MIN_GROUP_N = 100
SESOI_ACC = 0.01  # smallest effect of interest of an accuracy: one point


def group_accuracy(pred: Tensor, y: Tensor, s: Tensor, num_classes: int, num_attrs: int) -> Tensor:
    """(num_classes, num_attrs) matrix A[i, j] = accuracy on samples with y=i, s=j; NaN where empty."""
    g = y * num_attrs + s
    n = torch.bincount(g, minlength=num_classes * num_attrs).double()
    hit = torch.bincount(g, weights=(pred == y).double(), minlength=num_classes * num_attrs)
    acc = torch.where(n > 0, hit / n.clamp(min=1), torch.full_like(n, float("nan")))
    return acc.view(num_classes, num_attrs)


def worst_group(A: Tensor) -> float:
    """Worst-group accuracy: the minimum over the non-empty groups of a ``group_accuracy`` matrix.

    Empty groups (NaN) are ignored, not counted as 0, so a subsampled split does not report a spurious zero;
    NaN when every group is empty. The one definition: every worst-group number (end of run, history rows,
    pruning curves, DFR) is this function of a ``group_accuracy`` matrix.

    >>> worst_group(torch.tensor([[1.0, float("nan")], [0.5, 0.75]]))
    0.5
    """
    present = ~torch.isnan(A)
    return float(A[present].min()) if present.any() else float("nan")


def robustness_metrics(
    pred: Tensor,
    y: Tensor,
    s: Tensor,
    aligned: Tensor,
    num_classes: int,
    num_attrs: int,
    train_group_frac: Tensor | None = None,
    pulled: Tensor | None = None,
) -> dict[str, Any]:
    """All robustness numbers for one split.

    Args:
        pred, y, s: (N,) predicted labels, labels and spurious attributes.
        aligned: (N,) bool, bias-aligned samples.
        train_group_frac: (num_classes, num_attrs) group proportions of the training split, for the
            group_DRO-style average accuracy; None to skip it.
        pulled: (num_attrs,) the class each attribute value pulls predictions towards, -1 for none
            (``SpuriousDataset.pulled_class()``); None when the dataset defines no such map, and then
            ``bias_following`` is left out.

    Returns:
        acc, acc_ba, acc_bc, worst_group_acc (min over non-empty groups), min_group_n (the sample count of
        the smallest non-empty group, what worst_group_acc can rest on), worst_class_acc_bc (ours: min over
        classes of the accuracy on that class's bias-conflicting samples, a worst case that rests on C - 1
        groups per class instead of one), unbiased_acc (mean over non-empty groups), avg_acc (groups
        weighted by training proportions), bias_following (among errors on samples whose attribute pulls
        towards a class other than their label, the share predicting that class), group_acc (matrix as
        nested lists, NaN -> None). A quantity with no samples to average is NaN.
    """
    correct = (pred == y).double()
    A = group_accuracy(pred, y, s, num_classes, num_attrs)
    present = ~torch.isnan(A)
    out: dict[str, Any] = {
        "acc": mean_or_nan(correct),
        "acc_ba": mean_or_nan(correct[aligned]),
        "acc_bc": mean_or_nan(correct[~aligned]),
        "worst_group_acc": worst_group(A),
        "min_group_n": smallest_group(y, s, num_classes, num_attrs),
        "worst_class_acc_bc": worst_class_accuracy(correct[~aligned], y[~aligned], num_classes),
        "unbiased_acc": float(A[present].mean()) if present.any() else float("nan"),
    }
    if train_group_frac is not None:
        w = train_group_frac.double() * present
        out["avg_acc"] = float((w * torch.nan_to_num(A)).sum() / w.sum()) if w.sum() > 0 else float("nan")
    if pulled is not None:
        target = pulled.to(s.device)[s]
        bc_err = (target >= 0) & (target != y) & (pred != y)
        out["bias_following"] = mean_or_nan((pred[bc_err] == target[bc_err]).double())
    out["group_acc"] = [[None if torch.isnan(v) else float(v) for v in row] for row in A]
    return out


def smallest_group(y: Tensor, s: Tensor, num_classes: int, num_attrs: int) -> float:
    """The sample count of the smallest non-empty (y, s) group; NaN when there are no samples."""
    n = torch.bincount(y * num_attrs + s, minlength=num_classes * num_attrs)
    return float(n[n > 0].min()) if (n > 0).any() else float("nan")


def worst_class_accuracy(correct: Tensor, y: Tensor, num_classes: int) -> float:
    """Min over the classes present in ``y`` of the mean of ``correct`` on that class; NaN when ``y`` is empty."""
    n = torch.bincount(y, minlength=num_classes)
    hit = torch.bincount(y, weights=correct.double(), minlength=num_classes)
    present = n > 0
    return float((hit[present] / n[present]).min()) if present.any() else float("nan")


def mean_or_nan(t: Tensor) -> float:
    """Mean of ``t`` in float64 (bool tensors count True as 1); NaN when ``t`` is empty."""
    return float(t.double().mean()) if t.numel() else float("nan")


def _split_keys(split: str, property: str | None, headline: bool) -> dict[str, Key]:
    """The robustness keys of one split; ``headline`` marks the paper's headline accuracies."""
    pre = "" if split == "test" else "val (biased): "
    labels = {
        "acc": ("test accuracy (unbiased)" if split == "test" else "accuracy", "higher", headline),
        "acc_ba": ("bias-aligned accuracy", "higher", False),
        "acc_bc": ("bias-conflicting accuracy", "higher", False),
        "worst_group_acc": ("worst-group accuracy", "higher", headline),
        "worst_class_acc_bc": ("worst-class bias-conflicting accuracy (ours)", "higher", False),
        "unbiased_acc": ("mean group accuracy", "higher", False),
        "avg_acc": ("group accuracy weighted by training proportions", "higher", False),
        "bias_following": ("share of BC errors predicting s", "lower", False),
    }
    keys = {f"{split}/{k}": Key(pre + label, d, h, property, sesoi=SESOI_ACC) for k, (label, d, h) in labels.items()}
    small = SmallGroups(f"{split}/min_group_n", MIN_GROUP_N, f"{split}/worst_class_acc_bc")
    keys[f"{split}/worst_group_acc"] = dataclasses.replace(keys[f"{split}/worst_group_acc"], small_groups=small)
    keys[f"{split}/min_group_n"] = Key(pre + "samples in the smallest group")
    return keys


# val is the biased split: its numbers are diagnostics (property None), the test split's are the property
@METRICS.register("robustness", keys={**_split_keys("test", "robustness", True), **_split_keys("val", None, False)})
def robustness(ctx) -> dict[str, Any]:
    """acc, acc_ba, acc_bc, group accuracy matrix, worst-group/unbiased/average accuracy, bias-following
    share of BC errors, on the val (biased) and test (unbiased) splits."""
    out: dict[str, Any] = {}
    pulled = ctx.data.pulled_class()
    if pulled is None:
        log.warning("dataset %r: s is not tied to classes, so bias_following is not computed", ctx.data.name)
    for split in ("val", "test"):
        sp = ctx.data.splits[split]
        pred = ctx.logits(split).argmax(1)
        vals = robustness_metrics(
            pred, sp.y, sp.s, sp.aligned, ctx.data.num_classes, ctx.data.num_attrs, ctx.train_group_frac, pulled
        )
        out.update({f"{split}/{k}": v for k, v in vals.items()})
    return out


@METRICS.register(
    "accuracy",
    when="eval",
    keys={
        "train/acc": Key("training accuracy", "higher"),
        "train/loss": Key("training loss (mean cross-entropy)", "lower"),
        "val/acc": Key("val (biased): accuracy", "higher"),
        "test/acc": Key("test accuracy (unbiased)", "higher"),
        "test/acc_bc": Key("bias-conflicting accuracy", "higher"),
        "test/worst_group_acc": Key("worst-group accuracy", "higher"),
    },
)
def accuracy(ctx) -> dict[str, float]:
    """The history row's fit and robustness numbers, at every evaluation: accuracy on the whole train, val
    and test splits, the mean cross-entropy on the train split (what the loop's stopping rules read), and
    on the test split the bias-conflicting and worst-group accuracy, defined as in ``robustness``."""
    out: dict[str, float] = {}
    for split in ("train", "val", "test"):
        sp = ctx.data.splits[split]
        logits = ctx.logits(split)
        pred = logits.argmax(1)
        correct = (pred == sp.y).double()
        out[f"{split}/acc"] = mean_or_nan(correct)
        if split == "train":  # on the model's device, as the loss is trained (a CPU sum differs in the last bits)
            device = sp.x.device
            out["train/loss"] = float(F.cross_entropy(logits.to(device), sp.y.to(device)))
        if split == "test":
            out["test/acc_bc"] = mean_or_nan(correct[~sp.aligned])
            out["test/worst_group_acc"] = worst_group(
                group_accuracy(pred, sp.y, sp.s, ctx.data.num_classes, ctx.data.num_attrs)
            )
    return out

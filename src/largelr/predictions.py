"""Score a user's predictions on one of largelr's datasets, with the robustness metric's own definitions.

The counterpart of WILDS' ``dataset.eval(y_pred, y_true, metadata)``: a model trained anywhere (any framework,
any loop) is scored exactly as largelr scores its own runs, so its numbers sit beside a sweep's in one table.

>>> import torch
>>> from largelr.config import DataConfig
>>> from largelr.data import build_dataset
>>> data = build_dataset(DataConfig(n_train=500, n_val=200, n_test=200), seed=0)  # doctest: +SKIP
>>> evaluate_predictions(data, torch.zeros(200, dtype=torch.long))["test/acc"]  # doctest: +SKIP
0.1
"""

from __future__ import annotations

from typing import Any

from largelr.errors import UserError


def evaluate_predictions(dataset: Any, preds: Any, split: str = "test") -> dict[str, Any]:
    """The robustness metrics of ``preds`` on ``split`` of ``dataset``, keyed as a run's ``result.json``.

    Args:
        dataset: a ``largelr.data.SpuriousDataset`` (``largelr.data.build_dataset(cfg.data, seed)``).
        preds: predicted labels, shape (N,), or scores/logits, shape (N, num_classes) (their argmax is taken),
            as a torch tensor, a NumPy array or a list, in the order of ``dataset.splits[split]``.
        split: "test" (unbiased), "val" (biased like train) or "train".

    Returns:
        ``{"test/acc", "test/acc_ba", "test/acc_bc", "test/worst_group_acc", "test/min_group_n",
        "test/worst_class_acc_bc", "test/unbiased_acc", "test/avg_acc", "test/bias_following" (when the
        dataset ties attributes to classes), "test/group_acc"}`` (with ``split`` in place of ``test``): the
        keys and definitions of the ``robustness`` metric (``largelr.metrics.robustness``).

    Raises:
        UserError: an unknown split, or predictions of the wrong length, shape or range.
    """
    import torch

    from largelr.metrics.robustness import robustness_metrics

    if split not in dataset.splits:
        raise UserError(f"unknown split {split!r}; the dataset has: {', '.join(dataset.splits)}")
    sp = dataset.splits[split]
    pred = torch.as_tensor(preds).cpu()
    if pred.ndim == 2 and pred.shape[1] == dataset.num_classes:
        pred = pred.argmax(1)
    if pred.ndim != 1 or len(pred) != len(sp):
        raise UserError(
            f"predictions must have shape ({len(sp)},) labels or ({len(sp)}, {dataset.num_classes}) scores for the "
            f"{split} split, got {tuple(pred.shape)}"
        )
    if pred.is_floating_point():
        if not torch.equal(pred, pred.round()):
            raise UserError("predicted labels must be whole numbers (give (N, num_classes) scores to take argmax)")
        pred = pred.long()
    pred = pred.long()
    if len(pred) and (int(pred.min()) < 0 or int(pred.max()) >= dataset.num_classes):
        raise UserError(
            f"predicted labels must lie in [0, {dataset.num_classes}), got {int(pred.min())}..{int(pred.max())}"
        )
    train = dataset.splits["train"]
    counts = torch.bincount(dataset.group(train).cpu(), minlength=dataset.num_groups).double()
    train_frac = (counts / counts.sum()).view(dataset.num_classes, dataset.num_attrs)
    pulled = dataset.pulled_class()
    vals = robustness_metrics(
        pred, sp.y.cpu(), sp.s.cpu(), sp.aligned.cpu(), dataset.num_classes, dataset.num_attrs, train_frac, pulled
    )
    return {f"{split}/{k}": v for k, v in vals.items()}

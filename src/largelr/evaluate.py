"""One evaluation pass: forward each split once, extract features once, run every requested metric.

``EvalContext`` caches logits per split and penultimate features on a fixed random subset, so
metrics share them instead of recomputing. ``evaluate`` runs the end-of-run metrics ``eval.metrics``
names; ``evaluate_history`` runs the history metrics (``when="eval"``) for one row of the training loop.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor, nn

from largelr.config import EvalConfig
from largelr.data import SpuriousDataset
from largelr.metrics import METRICS, history_metric_names, plan_metrics
from largelr.models import batched_forward
from largelr.seeding import make_generator


class EvalContext:
    """What metrics see: the model in eval mode, the dataset, the eval config, the LR of the run's last
    update (None when unknown) and cached tensors."""

    def __init__(
        self, model: nn.Module, data: SpuriousDataset, cfg: EvalConfig, seed: int = 0, lr: float | None = None
    ) -> None:
        self.model, self.data, self.cfg, self.seed, self.lr = model.eval(), data, cfg, seed, lr
        self._logits: dict[str, Tensor] = {}
        self._features: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        train = data.splits["train"]
        counts = torch.bincount(data.group(train), minlength=data.num_groups).double()
        self.train_group_frac = (counts / counts.sum()).view(data.num_classes, data.num_attrs).cpu()

    @torch.no_grad()
    def forward(self, model: nn.Module, x: Tensor) -> Tensor:
        """Logits of ``model`` on ``x`` in batches (eval mode, no grad), returned on the CPU."""
        model.eval()
        return batched_forward(model, x).cpu()

    def logits(self, split: str) -> Tensor:
        if split not in self._logits:
            self._logits[split] = self.forward(self.model, self.data.splits[split].x)
        return self._logits[split]

    def repr_index(self, split: str) -> Tensor:
        """The fixed random subset (``eval.n_repr`` samples, seeded) used by representation metrics."""
        n = len(self.data.splits[split])
        gen = make_generator(self.seed, "repr_subset", split)
        return torch.randperm(n, generator=gen)[: min(n, self.cfg.n_repr)].sort().values

    @torch.no_grad()
    def features(self, split: str, subset: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """(Z, y, s): penultimate activations (CPU, float32), labels, attributes.

        Args:
            split: split name.
            subset: True for the fixed ``repr_index`` subset (what representation metrics use); False
                for the whole split (for metrics that need many samples per group, e.g. ``dfr``).
        """
        key = split if subset else f"{split}/all"
        if key not in self._features:
            sp = self.data.splits[split]
            idx = self.repr_index(split) if subset else torch.arange(len(sp))
            x = sp.x[idx.to(sp.x.device)]
            Z = batched_forward(self.model.features, x).cpu()
            self._features[key] = (Z, sp.y[idx.to(sp.y.device)].cpu(), sp.s[idx.to(sp.s.device)].cpu())
        return self._features[key]


def evaluate(
    model: nn.Module, data: SpuriousDataset, cfg: EvalConfig, seed: int = 0, lr: float | None = None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the metrics ``cfg.metrics`` names (sets expanded, see ``largelr.metrics.plan_metrics``).

    ``lr`` is the LR of the run's last update, for metrics that relate the model to it (``sharpness``).

    Returns:
        (metrics, seconds per metric). Metric labels and attributes are compared on the CPU.

    Raises:
        UserError: a metric named explicitly needs something the dataset lacks (region masks).
    """
    ctx = EvalContext(model, _labels_on_cpu(data), cfg, seed, lr)
    out: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name in plan_metrics(cfg.metrics, data):
        t0 = time.perf_counter()
        out.update(METRICS.get(name)(ctx))
        timings[name] = time.perf_counter() - t0
    return out, timings


def evaluate_history(
    model: nn.Module, data: SpuriousDataset, cfg: EvalConfig, seed: int = 0, lr: float | None = None
) -> dict[str, Any]:
    """One history row's metrics: every history metric (``largelr.metrics.history_metric_names``), in name
    order, on ``model`` as it is now. The model is handed back in the mode it came in (training, in the loop).

    Args:
        seed: the run's data seed (the dynamics subset is drawn from it).
        lr: the LR of the last update.
    """
    was_training = model.training
    ctx = EvalContext(model, _labels_on_cpu(data), cfg, seed, lr)
    row: dict[str, Any] = {}
    for name in history_metric_names():
        row.update(METRICS.get(name)(ctx))
    model.train(was_training)
    return row


def _labels_on_cpu(data: SpuriousDataset) -> SpuriousDataset:
    """Keep inputs where they are (the model's device) but move labels/attributes/masks to the CPU."""
    from dataclasses import replace

    from largelr.data import Split

    splits = {
        k: Split(v.x, v.y.cpu(), v.s.cpu(), v.aligned.cpu(), {m: t.cpu() for m, t in v.masks.items()})
        for k, v in data.splits.items()
    }
    return replace(data, splits=splits)

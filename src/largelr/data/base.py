"""The dataset interface every spurious-correlation dataset returns, and its registry.

A dataset is a set of in-memory tensor splits. Each sample carries its label ``y``, its spurious
attribute ``s``, whether it is bias-aligned, and (where the construction defines them) boolean
masks of the core and spurious image regions. Builders never draw from global RNGs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from torch import Tensor

from largelr.registry import Registry
from largelr.specs import DATASET_COMMON_PARAMS, DatasetSpec

SPLITS = ("train", "val", "test")
# What a procedural builder can supply per split, declared at registration as ``max_samples``: images
# are drawn with replacement, so the limit is memory (splits are float32 tensors in RAM; 500,000
# Double MNIST images are 3.1 GB). File-based benchmarks treat n_* as caps and declare no limit.
MAX_IMAGE_SAMPLES = 500_000
MAX_VECTOR_SAMPLES = 10_000_000  # parity: n_bits floats per sample
POOL_FRACTIONS = (0.6, 0.2, 0.2)  # share of each class's source images for the train/val/test pools
# parameters every builder takes and that come from the typed DataConfig fields, not data.kwargs
COMMON_PARAMS = DATASET_COMMON_PARAMS


@dataclass(frozen=True)
class Split:
    """One split as tensors.

    Attributes:
        x: (N, C, H, W) float32 inputs in [0, 1], or (N, D) for vector datasets (``parity``: values +-1).
        y: (N,) int64 labels in [0, num_classes).
        s: (N,) int64 spurious attributes in [0, num_attrs).
        aligned: (N,) bool, True for bias-aligned samples.
        masks: region name ("core", "spurious") -> (N, H, W) bool, or empty if undefined.
    """

    x: Tensor
    y: Tensor
    s: Tensor
    aligned: Tensor
    masks: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(
            self.x.to(device),
            self.y.to(device),
            self.s.to(device),
            self.aligned.to(device),
            {k: v.to(device) for k, v in self.masks.items()},
        )

    def subset(self, idx: Tensor) -> Split:
        return Split(
            self.x[idx], self.y[idx], self.s[idx], self.aligned[idx], {k: v[idx] for k, v in self.masks.items()}
        )


@dataclass(frozen=True)
class SpuriousDataset:
    """Train (biased), val (biased) and test (unbiased) splits plus what metrics need to know.

    Attributes:
        spurious_class: how the spurious attribute relates to the classes: entry ``a`` is the class
            that attribute value ``a`` pulls predictions towards, or None where that value pulls
            towards no class (``rare_patch``: no patch). None as a whole when ``s`` is not about
            classes at all (``imagenet9``: the background variant). Metrics that ask "did the
            prediction follow the spurious attribute" (``bias_following``, counterfactual follow,
            swap partners) read it and skip, with a logged reason, where it is undefined. Every
            builder sets it; the default (None) is for datasets built by hand in tests.
    """

    name: str
    num_classes: int
    num_attrs: int
    splits: dict[str, Split]
    info: dict[str, Any] = field(default_factory=dict)
    spurious_class: tuple[int | None, ...] | None = None

    def __post_init__(self) -> None:
        m = self.spurious_class
        if m is not None and (
            len(m) != self.num_attrs or any(c is not None and not 0 <= c < self.num_classes for c in m)
        ):
            raise ValueError(
                f"{self.name}: spurious_class {m} must give a class or None for each of {self.num_attrs} attributes"
            )

    def pulled_class(self) -> Tensor | None:
        """(num_attrs,) int64: the class each attribute value pulls towards, -1 for none; None if undefined."""
        if self.spurious_class is None:
            return None
        return torch.tensor([-1 if c is None else c for c in self.spurious_class], dtype=torch.long)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits["train"].x.shape[1:])

    @property
    def num_groups(self) -> int:
        return self.num_classes * self.num_attrs

    def group(self, split: Split) -> Tensor:
        """(N,) group ids ``y * num_attrs + s``."""
        return split.y * self.num_attrs + split.s

    def to(self, device: torch.device | str) -> SpuriousDataset:
        return replace(self, splits={k: v.to(device) for k, v in self.splits.items()})


class DatasetBuilder(Protocol):
    def __call__(
        self, *, rho: float, n_train: int, n_val: int, n_test: int, seed: int, **kw: Any
    ) -> SpuriousDataset: ...


DATASETS: Registry[DatasetBuilder] = Registry("dataset", DatasetSpec, package="largelr.data")


def identity_map(num_classes: int) -> tuple[int, ...]:
    """``spurious_class`` of datasets whose attribute value c goes with class c (``exact_attributes``)."""
    return tuple(range(num_classes))


def exact_attributes(y: Tensor, rho: float, num_attrs: int, gen: torch.Generator) -> Tensor:
    """Spurious attributes with exact proportions (the LfF convention, paper-spec section 2).

    For class c with n_c samples, round(rho * n_c) get attribute c and the rest are spread as
    evenly as possible over the other attributes (which ones get the remainder is random).
    Positions within the class are shuffled.

    Args:
        y: (N,) labels; class c is associated with attribute c.
        rho: fraction of bias-aligned samples per class.
        num_attrs: number of attribute values (>= number of classes present).
        gen: the generator all randomness is drawn from.
    """
    s = torch.empty_like(y)
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        n_c = len(idx)
        n_aligned = int(round(rho * n_c))
        others = torch.tensor([a for a in range(num_attrs) if a != c], dtype=torch.long)
        counts = torch.full((len(others),), (n_c - n_aligned) // len(others), dtype=torch.long)
        extra = (n_c - n_aligned) - int(counts.sum())
        counts[torch.randperm(len(others), generator=gen)[:extra]] += 1
        values = torch.cat([torch.full((n_aligned,), c, dtype=torch.long), others.repeat_interleave(counts)])
        s[idx] = values[torch.randperm(n_c, generator=gen)]
    return s


def balanced_labels(n: int, num_classes: int, gen: torch.Generator) -> Tensor:
    """(n,) labels with class counts differing by at most one, in random order."""
    y = torch.arange(n) % num_classes
    return y[torch.randperm(n, generator=gen)]

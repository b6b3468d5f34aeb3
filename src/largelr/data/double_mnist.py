"""Double MNIST: a core digit (its class is the label) beside a spurious digit.

The spurious digit's class equals the label for a fraction rho of the training and validation
samples (exact proportions) and is uniform in the test split. Source images are split into
disjoint train/val/test pools, so no source image is seen in two splits. Paper-spec section 3.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset, balanced_labels, exact_attributes
from largelr.data.sources import SOURCES, ImageSource
from largelr.errors import ConfigError
from largelr.seeding import make_generator

POOL_FRACTIONS = (0.6, 0.2, 0.2)  # share of each class's source images for train/val/test


@DATASETS.register("double_mnist")
def double_mnist(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    source: str = "mnist5k",
    core_side: Literal["left", "right"] = "left",
    core_intensity: float = 1.0,
    spurious_intensity: float = 1.0,
) -> SpuriousDataset:
    """Two digits side by side (1 x 28 x 56); the core digit is on ``core_side``.

    Args:
        rho: fraction of bias-aligned samples (spurious class == label) in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (spurious class uniform).
        seed: data seed (pool split, labels, attributes, pairing).
        source: image source for both digits (see ``largelr.data.sources``).
        core_side: where the core digit sits.
        core_intensity, spurious_intensity: brightness multipliers in (0, 1] ("bright vs dim digit").
    """
    if core_side not in ("left", "right"):
        raise ConfigError(f"data.kwargs.core_side must be 'left' or 'right', got {core_side!r}")
    for name, v in (("core_intensity", core_intensity), ("spurious_intensity", spurious_intensity)):
        if not 0.0 < v <= 1.0:
            raise ConfigError(f"data.kwargs.{name} must be in (0, 1], got {v}")
    src: ImageSource = SOURCES.get(source)()
    C = src.num_classes
    pools = src.pools(make_generator(seed, "double_mnist", "pools"), POOL_FRACTIONS)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    H, W = src.images.shape[1:]
    core_mask = torch.zeros(H, 2 * W, dtype=torch.bool)
    core_mask[:, :W] = True
    if core_side == "right":
        core_mask = core_mask.flip(1)

    splits = {}
    for k, name in enumerate(SPLITS):
        gen = make_generator(seed, "double_mnist", name)
        y = balanced_labels(sizes[name], C, gen)
        s = exact_attributes(y, rho if name != "test" else 1.0 / C, C, gen)
        core = _draw(src, pools[k], y, gen).float() / 255.0 * core_intensity
        spur = _draw(src, pools[k], s, gen).float() / 255.0 * spurious_intensity
        pair = (core, spur) if core_side == "left" else (spur, core)
        x = torch.cat(pair, dim=2).unsqueeze(1)  # (N, 1, H, 2W)
        n = len(y)
        masks = {"core": core_mask.expand(n, H, 2 * W), "spurious": (~core_mask).expand(n, H, 2 * W)}
        splits[name] = Split(x.contiguous(), y, s, y == s, masks)
    info = {"source": source, "core_side": core_side, "pool_fractions": POOL_FRACTIONS}
    return SpuriousDataset("double_mnist", C, C, splits, info)


def _draw(src: ImageSource, pools: list[Tensor], classes: Tensor, gen: torch.Generator) -> Tensor:
    """(N, H, W) uint8: for each entry of ``classes`` a random image of that class from its pool."""
    out = torch.empty(len(classes), *src.images.shape[1:], dtype=torch.uint8)
    for c, pool in enumerate(pools):
        where = torch.nonzero(classes == c).flatten()
        if len(where) == 0:
            continue
        pick = pool[torch.randint(len(pool), (len(where),), generator=gen)]
        out[where] = src.images[pick]
    return out

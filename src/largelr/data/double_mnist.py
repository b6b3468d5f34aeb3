"""Double MNIST and Dominoes: a core image (its class is the label) beside a spurious image.

The spurious image's class equals the label for a fraction rho of the training and validation
samples (exact proportions) and is uniform in the test split. Source images are split into
disjoint train/val/test pools, so no source image is seen in two splits. Paper-spec section 3.
"""

from __future__ import annotations

from typing import Literal

import torch

from largelr.data.base import (
    DATASETS,
    MAX_IMAGE_SAMPLES,
    POOL_FRACTIONS,
    SPLITS,
    Split,
    SpuriousDataset,
    balanced_labels,
    exact_attributes,
    identity_map,
)
from largelr.data.sources import get_source, to_float
from largelr.errors import ConfigError
from largelr.seeding import make_generator

Side = Literal["left", "right", "top", "bottom"]


# a flip swaps the core and spurious sides
@DATASETS.register("double_mnist", max_samples=MAX_IMAGE_SAMPLES, hflip_preserves_label=False)
def double_mnist(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    core_source: str = "mnist5k",
    spurious_source: str = "mnist5k",
    core_side: Side = "left",
    core_intensity: float = 1.0,
    spurious_intensity: float = 1.0,
) -> SpuriousDataset:
    """Two images side by side (C x 28 x 56 for left/right); the core image is on ``core_side``.

    Args:
        rho: fraction of bias-aligned samples (spurious class == label) in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (spurious class uniform).
        seed: data seed (pool split, labels, attributes, pairing).
        core_source: image source of the core image (see ``largelr data list``; e.g. mnist5k, fashion_mnist).
        spurious_source: image source of the spurious image; resized and given the core's channels.
        core_side: where the core image sits (top/bottom stack the two vertically).
        core_intensity, spurious_intensity: brightness multipliers in (0, 1] ("bright vs dim digit").

    >>> ds = double_mnist(rho=0.9, n_train=100, n_val=10, n_test=10, seed=0)
    >>> ds.input_shape, round(float(ds.splits["train"].aligned.float().mean()), 2)
    ((1, 28, 56), 0.9)
    """
    return build_pair(
        "double_mnist", rho=rho, sizes={"train": n_train, "val": n_val, "test": n_test}, seed=seed,
        core_source=core_source, spurious_source=spurious_source, core_side=core_side,
        core_intensity=core_intensity, spurious_intensity=spurious_intensity,
    )  # fmt: skip


# a flip swaps the core and spurious sides
@DATASETS.register("dominoes", max_samples=MAX_IMAGE_SAMPLES, hflip_preserves_label=False)
def dominoes(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    core_source: str = "fashion_mnist",
    spurious_source: str = "mnist5k",
    core_side: Side = "left",
    core_intensity: float = 1.0,
    spurious_intensity: float = 1.0,
) -> SpuriousDataset:
    """A Fashion-MNIST item (core) beside an MNIST digit (spurious, the simpler feature).

    Double MNIST with other default sources, after the MNIST-CIFAR dominoes of Shah et al. 2020
    (https://arxiv.org/abs/2006.07710). Needs the Fashion-MNIST files (``largelr data list``).

    Args:
        rho, n_train, n_val, n_test, seed: as in ``double_mnist``.
        core_source, spurious_source, core_side, core_intensity, spurious_intensity: as in ``double_mnist``.
    """
    return build_pair(
        "dominoes", rho=rho, sizes={"train": n_train, "val": n_val, "test": n_test}, seed=seed,
        core_source=core_source, spurious_source=spurious_source, core_side=core_side,
        core_intensity=core_intensity, spurious_intensity=spurious_intensity,
    )  # fmt: skip


def build_pair(
    name: str,
    *,
    rho: float,
    sizes: dict[str, int],
    seed: int,
    core_source: str,
    spurious_source: str,
    core_side: str,
    core_intensity: float,
    spurious_intensity: float,
) -> SpuriousDataset:
    """The shared construction of ``double_mnist`` and ``dominoes`` (``name`` namespaces the seeds)."""
    if core_side not in ("left", "right", "top", "bottom"):
        raise ConfigError(f"data.kwargs.core_side must be 'left', 'right', 'top' or 'bottom', got {core_side!r}")
    for key, v in (("core_intensity", core_intensity), ("spurious_intensity", spurious_intensity)):
        if not 0.0 < v <= 1.0:
            raise ConfigError(f"data.kwargs.{key} must be in (0, 1], got {v}")
    core_src = get_source(core_source, "core_source")
    spur_src = get_source(spurious_source, "spurious_source")
    if spur_src.num_classes != core_src.num_classes:
        raise ConfigError(
            f"data.kwargs.spurious_source {spurious_source!r} has {spur_src.num_classes} classes but core_source "
            f"{core_source!r} has {core_src.num_classes}; they must match"
        )
    C = core_src.num_classes
    core_pools = core_src.pools(make_generator(seed, name, "pools"), POOL_FRACTIONS)
    if spurious_source == core_source:
        spur_pools = core_pools
    else:
        spur_pools = spur_src.pools(make_generator(seed, name, "pools", "spurious"), POOL_FRACTIONS)
    channels = max(core_src.channels, spur_src.channels)
    H, W = core_src.size
    vertical = core_side in ("top", "bottom")
    core_first = core_side in ("left", "top")
    core_mask = torch.zeros((2 * H, W) if vertical else (H, 2 * W), dtype=torch.bool)
    if vertical:
        core_mask[:H] = True
    else:
        core_mask[:, :W] = True
    if not core_first:
        core_mask = core_mask.flip(0 if vertical else 1)

    splits = {}
    for k, split in enumerate(SPLITS):
        gen = make_generator(seed, name, split)
        y = balanced_labels(sizes[split], C, gen)
        s = exact_attributes(y, rho if split != "test" else 1.0 / C, C, gen)
        core = to_float(core_src.draw(core_pools[k], y, gen), channels=channels) * core_intensity
        spur = to_float(spur_src.draw(spur_pools[k], s, gen), channels=channels, size=(H, W)) * spurious_intensity
        pair = (core, spur) if core_first else (spur, core)
        x = torch.cat(pair, dim=2 if vertical else 3)  # (N, C, 2H, W) or (N, C, H, 2W)
        n = len(y)
        masks = {"core": core_mask.expand(n, *core_mask.shape), "spurious": (~core_mask).expand(n, *core_mask.shape)}
        splits[split] = Split(x.contiguous(), y, s, y == s, masks)
    info = {
        "core_source": core_source,
        "spurious_source": spurious_source,
        "core_side": core_side,
        "pool_fractions": POOL_FRACTIONS,
        "spurious_attribute": f"class of the {spurious_source} image on the non-core side",
    }
    return SpuriousDataset(name, C, C, splits, info, spurious_class=identity_map(C))

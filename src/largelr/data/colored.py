"""Colour-biased MNIST variants: coloured digit (LfF), coloured frame and coloured ring.

In each, attribute value c is a fixed class-associated colour ``PALETTE[c]`` plus per-sample
Gaussian jitter (std ``color_std``, as in LfF's protocol where severity 4 means std 0.005,
https://github.com/alinlab/LfF). The colour's attribute equals the label for a fraction rho of the
train and val samples (exact proportions) and is uniform in the test split. Output is 3 x H x W.
Paper-spec section 3.
"""

from __future__ import annotations

from collections.abc import Iterator

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
    exact_attributes,
    identity_map,
)
from largelr.data.sources import ImageSource, get_source, to_float
from largelr.errors import ConfigError
from largelr.seeding import make_generator

# ten well-separated RGB colours (attribute c -> PALETTE[c]); ours, LfF's colors.th is not published in text
PALETTE = torch.tensor(
    [
        [0.90, 0.10, 0.10],  # red
        [0.10, 0.75, 0.10],  # green
        [0.15, 0.30, 0.95],  # blue
        [0.95, 0.85, 0.10],  # yellow
        [0.90, 0.15, 0.85],  # magenta
        [0.10, 0.85, 0.90],  # cyan
        [0.95, 0.50, 0.05],  # orange
        [0.55, 0.20, 0.85],  # purple
        [0.55, 0.35, 0.15],  # brown
        [0.55, 0.85, 0.55],  # pale green
    ]
)


# digits are not mirror-symmetric
@DATASETS.register("colored_mnist", max_samples=MAX_IMAGE_SAMPLES, hflip_preserves_label=False)
def colored_mnist(
    *, rho: float, n_train: int, n_val: int, n_test: int, seed: int, source: str = "mnist5k", color_std: float = 0.005
) -> SpuriousDataset:
    """Digits whose foreground is painted in a class-associated colour (LfF Colored MNIST).

    Core (shape) and spurious (colour) share the same pixels, so there are no region masks.

    Args:
        rho: fraction of bias-aligned samples (colour of the label's class) in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (colour uniform).
        seed: data seed.
        source: grayscale image source (RGB sources are converted to gray first).
        color_std: std of the Gaussian jitter added to each sample's colour (per channel), >= 0.

    >>> colored_mnist(rho=0.99, n_train=100, n_val=10, n_test=10, seed=0).input_shape
    (3, 28, 28)
    """
    src, C, pools = _setup("colored_mnist", source, color_std, seed)
    splits = {}
    for k, split, y, s, gen in _labels("colored_mnist", rho, (n_train, n_val, n_test), C, seed):
        digit = to_float(src.draw(pools[k], y, gen), channels=1)  # (N, 1, H, W)
        x = digit * _colors(s, color_std, gen)[:, :, None, None]
        splits[split] = Split(x.contiguous(), y, s, y == s, {})
    return SpuriousDataset(
        "colored_mnist", C, C, splits, _info(source, color_std, "foreground colour"), spurious_class=identity_map(C)
    )


# digits are not mirror-symmetric
@DATASETS.register("colored_frame", max_samples=MAX_IMAGE_SAMPLES, hflip_preserves_label=False)
def colored_frame(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    source: str = "mnist5k",
    width: int = 2,
    color_std: float = 0.005,
) -> SpuriousDataset:
    """A white digit inside a square frame of a class-associated colour (3 x (H+2w) x (W+2w)).

    Masks: ``core`` = the digit's H x W area, ``spurious`` = the frame.

    Args:
        rho: fraction of bias-aligned samples (frame colour of the label's class) in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (colour uniform).
        seed: data seed.
        source: grayscale image source (RGB sources are converted to gray first).
        width: frame width in pixels, added around the digit (1 to 8).
        color_std: std of the Gaussian colour jitter, >= 0.
    """
    _check_width(width)
    src, C, pools = _setup("colored_frame", source, color_std, seed)
    H, W = src.size
    spur = torch.ones(H + 2 * width, W + 2 * width, dtype=torch.bool)
    spur[width : width + H, width : width + W] = False
    return _framed("colored_frame", src, pools, spur, ~spur, width, rho, (n_train, n_val, n_test), seed, color_std)


# digits are not mirror-symmetric
@DATASETS.register("colored_ring", max_samples=MAX_IMAGE_SAMPLES, hflip_preserves_label=False)
def colored_ring(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    source: str = "mnist5k",
    width: int = 3,
    color_std: float = 0.005,
) -> SpuriousDataset:
    """A white digit encircled by a ring of a class-associated colour (3 x (H+2w) x (W+2w)).

    The ring spans radii [H/2, H/2 + w) from the centre, so it touches the digit square at its
    edge midpoints and covers its (blank) corners. Masks: ``spurious`` = ring pixels, ``core`` =
    the digit square minus the ring.

    Args:
        rho: fraction of bias-aligned samples (ring colour of the label's class) in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (colour uniform).
        seed: data seed.
        source: grayscale image source (RGB sources are converted to gray first).
        width: ring width in pixels (1 to 8).
        color_std: std of the Gaussian colour jitter, >= 0.
    """
    _check_width(width)
    src, C, pools = _setup("colored_ring", source, color_std, seed)
    H, W = src.size
    size_h, size_w = H + 2 * width, W + 2 * width
    yy, xx = torch.meshgrid(torch.arange(size_h) + 0.5, torch.arange(size_w) + 0.5, indexing="ij")
    r = ((yy - size_h / 2) ** 2 + (xx - size_w / 2) ** 2).sqrt()
    spur = (r >= H / 2) & (r < H / 2 + width)
    core = torch.zeros(size_h, size_w, dtype=torch.bool)
    core[width : width + H, width : width + W] = True
    core &= ~spur
    return _framed("colored_ring", src, pools, spur, core, width, rho, (n_train, n_val, n_test), seed, color_std)


def _framed(
    name: str,
    src: ImageSource,
    pools: list[list[Tensor]],
    spur: Tensor,
    core: Tensor,
    width: int,
    rho: float,
    sizes: tuple[int, int, int],
    seed: int,
    color_std: float,
) -> SpuriousDataset:
    """Digit (white, centred) plus the coloured ``spur`` region; masks are ``core`` and ``spur``."""
    C = src.num_classes
    H, W = src.size
    splits = {}
    for k, split, y, s, gen in _labels(name, rho, sizes, C, seed):
        n = len(y)
        x = torch.zeros(n, 3, *spur.shape)
        x[:, :, width : width + H, width : width + W] = to_float(src.draw(pools[k], y, gen), channels=1)
        x = torch.where(spur, _colors(s, color_std, gen)[:, :, None, None], x)
        masks = {"core": core.expand(n, *core.shape), "spurious": spur.expand(n, *spur.shape)}
        splits[split] = Split(x.contiguous(), y, s, y == s, masks)
    region = "frame" if name == "colored_frame" else "ring"
    info = {**_info(src.name, color_std, f"{region} colour"), "width": width}
    return SpuriousDataset(name, C, C, splits, info, spurious_class=identity_map(C))


def _setup(name: str, source: str, color_std: float, seed: int) -> tuple[ImageSource, int, list[list[Tensor]]]:
    if not color_std >= 0:
        raise ConfigError(f"data.kwargs.color_std must be >= 0, got {color_std}")
    src = get_source(source, "source")
    if src.num_classes > len(PALETTE):
        raise ConfigError(f"data.kwargs.source {source!r} has {src.num_classes} classes; at most {len(PALETTE)}")
    return src, src.num_classes, src.pools(make_generator(seed, name, "pools"), POOL_FRACTIONS)


def _labels(
    name: str, rho: float, sizes: tuple[int, int, int], C: int, seed: int
) -> Iterator[tuple[int, str, Tensor, Tensor, torch.Generator]]:
    """Yield (pool index, split, y, s, generator) per split; test has uniform attributes."""
    for k, split in enumerate(SPLITS):
        gen = make_generator(seed, name, split)
        y = balanced_labels(sizes[k], C, gen)
        s = exact_attributes(y, rho if split != "test" else 1.0 / C, C, gen)
        yield k, split, y, s, gen


def _colors(s: Tensor, std: float, gen: torch.Generator) -> Tensor:
    """(N, 3) colours: the palette entry of each attribute plus clamped Gaussian jitter."""
    return (PALETTE[s] + torch.randn(len(s), 3, generator=gen) * std).clamp_(0.0, 1.0)


def _check_width(width: int) -> None:
    if not 1 <= width <= 8:
        raise ConfigError(f"data.kwargs.width must be an integer in 1..8, got {width}")


def _info(source: str, color_std: float, attribute: str) -> dict:
    return {"source": source, "color_std": color_std, "pool_fractions": POOL_FRACTIONS, "spurious_attribute": attribute}

"""Corrupted images (LfF's Corrupted CIFAR-10 protocol): the corruption type is the spurious attribute.

Attribute c is corruption ``corruptions[c]``; it matches the label for a fraction rho of the train
and val samples (exact proportions) and is uniform in the test split. Any image source works
(CIFAR-10 when its files are present; the offline default is mnist5k). Paper-spec section 3.
"""

from __future__ import annotations

import logging

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
from largelr.data.corruptions import CORRUPTIONS, LFF_CORRUPTIONS, corrupt
from largelr.data.sources import get_source, to_float
from largelr.errors import ConfigError
from largelr.seeding import make_generator

log = logging.getLogger(__name__)
# for gray sources, "saturate" would leave images unchanged, so the default swaps it for this
GRAY_SATURATE_STANDIN = "gaussian_noise"


# mirrored photos keep their class
@DATASETS.register("corrupted", max_samples=MAX_IMAGE_SAMPLES, hflip_preserves_label=True)
def corrupted(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    source: str = "mnist5k",
    severity: int = 4,
    corruptions: tuple[str, ...] | None = None,
) -> SpuriousDataset:
    """Images from ``source`` with a class-associated corruption type (3 x H x W, no region masks).

    Args:
        rho: fraction of bias-aligned samples (corruption of the label's class) in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (corruption uniform).
        seed: data seed (pools, labels, attributes, corruption noise).
        source: image source, e.g. cifar10 (LfF's setting) or mnist5k (gray, replicated to RGB).
        severity: corruption strength 1..5 (CIFAR-10-C scale; LfF uses 4 in most tables, ours too).
        corruptions: one corruption name per class (attribute c = ``corruptions[c]``); None = LfF's
            ten (snow, frost, fog, brightness, contrast, spatter, elastic, jpeg, pixelate, saturate),
            with saturate replaced by gaussian_noise for gray sources. Known names: see
            ``largelr.data.corruptions.CORRUPTIONS``.

    >>> corrupted(rho=0.95, n_train=60, n_val=10, n_test=20, seed=0, severity=2).input_shape
    (3, 28, 28)
    """
    if not 1 <= severity <= 5:
        raise ConfigError(f"data.kwargs.severity must be an integer in 1..5, got {severity}")
    src = get_source(source, "source")
    C = src.num_classes
    if corruptions is None:
        names = tuple(GRAY_SATURATE_STANDIN if (c == "saturate" and src.channels == 1) else c for c in LFF_CORRUPTIONS)
    else:
        names = tuple(corruptions)
        unknown = [c for c in names if c not in CORRUPTIONS]
        if unknown:
            raise ConfigError(
                f"data.kwargs.corruptions has unknown corruption(s) {unknown}; known: {', '.join(sorted(CORRUPTIONS))}"
            )
        if len(set(names)) != len(names):
            raise ConfigError(f"data.kwargs.corruptions must not repeat a corruption, got {list(names)}")
    if len(names) != C:
        raise ConfigError(f"data.kwargs.corruptions must name {C} corruptions (one per class), got {len(names)}")
    if src.channels == 1 and "saturate" in names:
        log.warning("corrupted: 'saturate' does not change gray images from %s; its attribute is invisible", source)

    pools = src.pools(make_generator(seed, "corrupted", "pools"), POOL_FRACTIONS)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for k, split in enumerate(SPLITS):
        gen = make_generator(seed, "corrupted", split)
        y = balanced_labels(sizes[split], C, gen)
        s = exact_attributes(y, rho if split != "test" else 1.0 / C, C, gen)
        x = to_float(src.draw(pools[k], y, gen), channels=3).clone()
        for c, name in enumerate(names):
            where = torch.nonzero(s == c).flatten()
            x[where] = corrupt(x[where], name, severity, make_generator(seed, "corrupted", split, name))
        splits[split] = Split(x.contiguous(), y, s, y == s, {})
    info = {
        "source": source,
        "severity": severity,
        "corruptions": list(names),
        "pool_fractions": POOL_FRACTIONS,
        "spurious_attribute": "corruption type",
    }
    return SpuriousDataset("corrupted", C, C, splits, info, spurious_class=identity_map(C))

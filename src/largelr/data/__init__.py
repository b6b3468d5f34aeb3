"""Spurious-correlation datasets. Importing this package fills the DATASETS registry.

Procedural datasets (built from image sources or random bits, offline by default): double_mnist,
dominoes, colored_mnist, colored_frame, colored_ring, corrupted, parity, rare_patch. Published
benchmarks read from local files: waterbirds, celeba, imagenet9. See docs/datasets.md.
"""

from __future__ import annotations

from largelr.data import (
    celeba,  # noqa: F401  (registers "celeba")
    colored,  # noqa: F401  (registers "colored_mnist", "colored_frame", "colored_ring")
    corrupted,  # noqa: F401  (registers "corrupted")
    double_mnist,  # noqa: F401  (registers "double_mnist", "dominoes")
    imagenet9,  # noqa: F401  (registers "imagenet9")
    parity,  # noqa: F401  (registers "parity")
    rare_patch,  # noqa: F401  (registers "rare_patch")
    waterbirds,  # noqa: F401  (registers "waterbirds")
)
from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset
from largelr.data.sources import SOURCES

__all__ = ["DATASETS", "SOURCES", "SPLITS", "Split", "SpuriousDataset", "build_dataset"]

# datasets that read published files from a local root (the rest are built procedurally)
FILE_DATASETS = ("celeba", "imagenet9", "waterbirds")


def build_dataset(cfg, seed: int) -> SpuriousDataset:  # cfg: largelr.config.DataConfig
    """Build the dataset a DataConfig names, with the given data seed."""
    builder = DATASETS.get(cfg.name)
    return builder(rho=cfg.rho, n_train=cfg.n_train, n_val=cfg.n_val, n_test=cfg.n_test, seed=seed, **cfg.kwargs)

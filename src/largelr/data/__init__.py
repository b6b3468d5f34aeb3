"""Spurious-correlation datasets. Importing this package fills the DATASETS registry."""

from __future__ import annotations

from largelr.data import double_mnist  # noqa: F401  (registers "double_mnist")
from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset
from largelr.data.sources import SOURCES

__all__ = ["DATASETS", "SOURCES", "SPLITS", "Split", "SpuriousDataset", "build_dataset"]


def build_dataset(cfg, seed: int) -> SpuriousDataset:  # cfg: largelr.config.DataConfig
    """Build the dataset a DataConfig names, with the given data seed."""
    builder = DATASETS.get(cfg.name)
    return builder(rho=cfg.rho, n_train=cfg.n_train, n_val=cfg.n_val, n_test=cfg.n_test, seed=seed, **cfg.kwargs)

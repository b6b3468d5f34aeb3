"""Spurious-correlation datasets, one module per family. ``DATASETS`` is filled on first use by importing every
module of this package (and the plugins'): adding a dataset is adding a module.

Procedural datasets (built from image sources or random bits, offline by default): double_mnist,
dominoes, colored_mnist, colored_frame, colored_ring, corrupted, parity, rare_patch. Published
benchmarks read from local files: waterbirds, celeba, imagenet9. See docs/datasets.md.

The names below are imported on first access (PEP 562), so ``largelr.data.locations`` can be read without
torch (``largelr reproduce list`` checks which sources are here that way).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset
    from largelr.data.sources import SOURCES

__all__ = ["DATASETS", "SOURCES", "SPLITS", "Split", "SpuriousDataset", "build_dataset"]
_HOME = {"DATASETS": "base", "SPLITS": "base", "Split": "base", "SpuriousDataset": "base", "SOURCES": "sources"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"largelr.data.{_HOME[name]}"), name)
    raise AttributeError(f"module 'largelr.data' has no attribute {name!r}")


def file_datasets() -> list[str]:
    """The datasets that read published files from a local root (the rest are built procedurally)."""
    from largelr.data.base import DATASETS

    return [n for n in DATASETS.names() if DATASETS.spec(n).files is not None]


def build_dataset(cfg, seed: int) -> SpuriousDataset:  # cfg: largelr.config.DataConfig
    """Build the dataset a DataConfig names, with the given data seed."""
    from largelr.data.base import DATASETS

    builder = DATASETS.get(cfg.name)
    return builder(rho=cfg.rho, n_train=cfg.n_train, n_val=cfg.n_val, n_test=cfg.n_test, seed=seed, **cfg.kwargs)

"""Seeds: every random consumer gets its own seed derived from the config, and its own generator."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a canonical string of ``parts`` (stable across processes, unlike ``hash``).

    >>> derive_seed(0, "init") == derive_seed(0, "init")
    True
    """
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def make_generator(*parts: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded from ``derive_seed(*parts)``."""
    return torch.Generator(device=device).manual_seed(derive_seed(*parts))


def numpy_rng(*parts: object) -> np.random.Generator:
    """A numpy generator seeded from ``derive_seed(*parts)``."""
    return np.random.default_rng(derive_seed(*parts))


def seed_everything(seed: int) -> None:
    """Seed the global python/numpy/torch RNGs (for code we do not control, e.g. library internals)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

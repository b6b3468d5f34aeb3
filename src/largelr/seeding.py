"""Seeds: every random consumer gets its own seed derived from the config, and its own generator."""

from __future__ import annotations

import hashlib

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

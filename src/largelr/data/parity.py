"""Boolean parity with a spurious parity: x in {-1, +1}^n, label = parity of k_core bits.

The spurious attribute is the parity of ``k_spurious`` other bits; it equals the label for a
fraction rho of the train and val samples (exact proportions, the rho of paper-spec section 3's
lambda) and is uniform in the test split. Unlike the image datasets, x is (N, n_bits) with values
in {-1, +1}, not [0, 1]. Bits ``0 .. k_core-1`` are the core bits and the next ``k_spurious`` the
spurious ones (``info`` lists them); the rest are uniform noise. There are no region masks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from largelr.data.base import (
    DATASETS,
    MAX_VECTOR_SAMPLES,
    SPLITS,
    Split,
    SpuriousDataset,
    balanced_labels,
    exact_attributes,
)
from largelr.errors import ConfigError
from largelr.seeding import make_generator


@DATASETS.register("parity", max_samples=MAX_VECTOR_SAMPLES)
def parity(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    n_bits: int = 20,
    k_core: int = 5,
    k_spurious: int = 2,
) -> SpuriousDataset:
    """Sparse parity: y = parity of ``k_core`` bits, s = parity of ``k_spurious`` other bits.

    Parity 1 means an odd number of -1 bits. Defaults are ours (the paper's n, k are not known);
    the spurious parity should use fewer bits than the core one, so it is the easier feature.

    Args:
        rho: fraction of samples whose spurious parity equals the label, in train and val.
        n_train, n_val, n_test: split sizes; the test split is unbiased (s independent of y).
        seed: data seed.
        n_bits: input dimension n.
        k_core: number of bits whose parity is the label (>= 1).
        k_spurious: number of other bits whose parity is the spurious attribute (>= 1).

    >>> ds = parity(rho=0.9, n_train=100, n_val=10, n_test=10, seed=0)
    >>> ds.input_shape, ds.splits["train"].x.unique().tolist()
    ((20,), [-1.0, 1.0])
    """
    if k_core < 1 or k_spurious < 1:
        raise ConfigError(
            f"data.kwargs.k_core and k_spurious must be >= 1, got k_core={k_core}, k_spurious={k_spurious}"
        )
    if k_core + k_spurious > n_bits:
        raise ConfigError(
            f"data.kwargs.n_bits must be at least k_core + k_spurious = {k_core + k_spurious}, got {n_bits}"
        )
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for split in SPLITS:
        gen = make_generator(seed, "parity", split)
        y = balanced_labels(sizes[split], 2, gen)
        s = exact_attributes(y, rho if split != "test" else 0.5, 2, gen)
        x = torch.randint(0, 2, (len(y), n_bits), generator=gen)  # bits in {0, 1}; 1 means -1
        x[:, :k_core] = _with_parity(x[:, :k_core], y)
        x[:, k_core : k_core + k_spurious] = _with_parity(x[:, k_core : k_core + k_spurious], s)
        splits[split] = Split((1 - 2 * x).float(), y, s, y == s, {})
    info = {
        "core_bits": list(range(k_core)),
        "spurious_bits": list(range(k_core, k_core + k_spurious)),
        "spurious_attribute": f"parity of bits {k_core}..{k_core + k_spurious - 1}",
        "x_values": "{-1, +1}",
    }
    return SpuriousDataset("parity", 2, 2, splits, info, spurious_class=(0, 1))


def _with_parity(bits: Tensor, target: Tensor) -> Tensor:
    """Flip the last bit where needed so that ``bits.sum(1) % 2 == target``."""
    bits = bits.clone()
    bits[:, -1] ^= (bits.sum(1) % 2) ^ target
    return bits

"""Reader for CIFAR-10 in its published python format (``cifar-10-batches-py``).

Each of ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` is a pickled dict with ``b"data"``
((10000, 3072) uint8, channel-major rows) and ``b"labels"`` (10000 ints). Unpickling is
restricted to plain containers and numpy arrays, so a foreign pickle cannot run code.
Published at https://www.cs.toronto.edu/~kriz/cifar.html.
"""

from __future__ import annotations

import functools
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from largelr.data.locations import CIFAR10_FILES, cifar10_dir, missing_file_message
from largelr.errors import UserError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# what a CIFAR batch pickle may reference (numpy moved core -> _core in 2.0)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) from one CIFAR-10 batch file."""
    try:
        d = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise UserError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    for key in ("data", "labels"):
        if key not in d:
            raise UserError(f"{path}: missing key b'{key}' (has {sorted(d)})")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise UserError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),):
        raise UserError(f"{path}: {labels.size} labels for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path}: labels must be in 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


@functools.lru_cache(maxsize=2)
def load_cifar10(root: str) -> tuple[Tensor, Tensor]:
    """All six batches from ``root`` or ``root/cifar-10-batches-py``: (60000, 3, 32, 32) uint8, labels."""
    base = cifar10_dir(root)
    xs, ys = [], []
    for name in CIFAR10_FILES:
        path = base / name
        if not path.is_file():
            raise UserError(missing_file_message("cifar10", path))
        x, y = read_batch(path)
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

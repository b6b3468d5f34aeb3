"""``torch_threads(n)``: torch's intra-op thread count set to ``n`` inside a block, restored after.

Tests that compare results byte for byte train on one thread (the thread count changes float sums in
the last bits), as each pool worker of ``--jobs 2`` on 2 cores does; and on a shared 2-core machine,
several torch threads per process spin against each other and make tiny jobs several times slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

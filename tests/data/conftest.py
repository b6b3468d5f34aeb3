"""Fixtures for the dataset tests: single-threaded torch (the datasets are tiny, and on a shared
2-core machine intra-op threads spin against other processes and make each build several times slower)."""

from __future__ import annotations

import pytest

from threads import torch_threads


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with torch_threads(1):
        yield

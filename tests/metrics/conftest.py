"""Fixtures for metric tests; the toy builders live in ``metric_toys``."""

from __future__ import annotations

import pytest
from metric_toys import toy_dataset

from largelr.data import SpuriousDataset


@pytest.fixture
def toy_data() -> SpuriousDataset:
    return toy_dataset()


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Metric tests do many tiny tensor ops, which thrash with 2 threads on a shared 2-core machine."""
    yield

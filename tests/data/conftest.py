"""Fixtures for the dataset tests: single-threaded torch (the datasets are tiny, and on a shared
2-core machine intra-op threads spin against other processes and make each build several times slower)."""

from __future__ import annotations

import contextlib
import os

import pytest

from threads import torch_threads

# Set by tools/mutation.py when it mutates a dataset module: see pytest_collection_finish and test_data_procedural.
UNDER_MUTATION = bool(os.environ.get("LARGELR_MUTATION"))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with torch_threads(1):
        yield


def pytest_collection_finish(session):
    """Under mutation testing, load the image sources once, after collection.

    mutmut forks each mutant's test run from a server that has only collected the tests, so without this
    every mutant reloads MNIST and the sklearn digits (~4 s of its ~9 s). The sources are not among the
    mutated modules, so a cached copy cannot hide a mutation; the datasets built from them are not cached then.
    """
    if not UNDER_MUTATION:
        return
    from largelr.data.sources import SOURCES
    from largelr.errors import UserError

    for name in SOURCES.names():
        with contextlib.suppress(UserError):  # files the user has to supply (full MNIST, CIFAR-10)
            SOURCES.get(name)()

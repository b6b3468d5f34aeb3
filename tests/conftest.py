"""Shared fixtures: a tiny config that trains in well under a second, and one finished run.

Everything is written under pytest's ``tmp_path``; nothing is written into the repository.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from largelr.config import RunConfig
from threads import torch_threads
from tiny import tiny_config

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def make_cfg() -> Callable[..., RunConfig]:
    """``make_cfg("optim.lr=0.2", ...)``: the tiny config plus overrides."""
    return tiny_config


@pytest.fixture(scope="module")
def one_thread():
    """Train on one thread: on a shared 2-core machine, 2 torch threads per process thrash under load,
    and the pool executor's children also get one thread each (2 cores / --jobs 2)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study directory holding one real finished run of the tiny config (trained on one thread).

    Do not modify it: use ``study_copy``.
    """
    from largelr.run import execute

    study = tmp_path_factory.mktemp("finished") / "study"
    with torch_threads(1):  # the thread count changes float sums in the last bits; tests compare bytes
        execute(tiny_config(), study)
    return study


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory) -> Path:
    """A study of two real finished tiny runs (lr 0.1 and 0.2)."""
    from largelr.run import execute

    study = tmp_path_factory.mktemp("two") / "study"
    with torch_threads(1):
        for lr in ("0.1", "0.2"):
            execute(tiny_config(f"optim.lr={lr}"), study)
    return study


@pytest.fixture
def study_copy(finished_study: Path, tmp_path: Path) -> Path:
    """A private, modifiable copy of ``finished_study``."""
    dst = tmp_path / "study"
    shutil.copytree(finished_study, dst)
    return dst


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]] | None:
    """Every path under ``root`` with its bytes and mtime (None if ``root`` does not exist)."""
    if not root.exists():
        return None
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>", p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, tuple[bytes, int]] | None]:
    """``snapshot(dir)``: every path under ``dir`` with bytes and mtime, to assert a directory is untouched."""
    return _snapshot


@pytest.fixture
def require_source() -> Callable[[str], None]:
    """``require_source("fashion_mnist")`` skips the test when that image source's files are not here
    (e.g. the Debian package dataset-fashion-mnist is not installed; .ci/run installs it)."""
    from largelr.data import SOURCES
    from largelr.errors import UserError

    def check(name: str) -> None:
        try:
            SOURCES.get(name)()
        except UserError as e:
            pytest.skip(f"image source {name!r} not available here: {e}")

    return check


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real Ray head (``ray start --head`` on 127.0.0.1, 2 CPUs, no dashboard), stopped at the end."""
    from clusters import Unavailable, start_ray

    try:
        cluster = start_ray(Path(tempfile.mkdtemp(prefix="ray", dir="/tmp")))
    except Unavailable as e:
        pytest.skip(f"cannot start a Ray head here: {e}")
    yield cluster
    cluster.stop()
    shutil.rmtree(cluster.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real single-node Slurm cluster (munged, slurmctld, slurmd; 2 CPUs), stopped at the end."""
    from clusters import Unavailable, start_slurm

    try:
        cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    except Unavailable as e:
        pytest.skip(f"cannot start a Slurm cluster here: {e}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def data_tiny():
    """The tiny config's dataset (seeds.data=0), built once. Tests must not modify it."""
    from largelr.data import build_dataset

    return build_dataset(tiny_config().data, seed=0)

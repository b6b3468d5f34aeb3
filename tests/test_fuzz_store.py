"""A damaged-store fuzzer (hypothesis): random damage of any shape to the runs of a finished study (a
file deleted, replaced by garbage, a directory, a fifo or a link out of the store, or unreadable; a run
directory replaced by a link out of the store, a fifo or a file). Whatever the damage: status, status --verify,
the report's loaders and repair --yes --verify never crash or hang, nothing outside the store changes,
and the next sweep redoes exactly the damaged runs (the others keep their DONE untouched).

Ten examples (``derandomize``: CI runs are repeatable).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from largelr import store
from largelr.errors import UserError
from largelr.report.collect import load_curves, load_histories, load_results
from test_damaged_store import EXPERIMENT
from test_fuzz import check_cli

FILE_HOWS = ["delete", "garbage", "dir", "fifo", "link"]
DIR_HOWS = ["link", "fifo", "file"]
READ_FILES = (store.CONFIG, store.ENV, store.HISTORY, store.RESULT)  # what status and the report read as text
RUN_DAMAGE = st.one_of(
    st.none(),
    st.tuples(st.just("file"), st.sampled_from(store.STORE_FILES), st.sampled_from(FILE_HOWS)),
    st.tuples(st.just("file"), st.sampled_from(READ_FILES), st.just("unreadable")),
    st.tuples(st.just("dir"), st.just(""), st.sampled_from(DIR_HOWS)),
)


@contextlib.contextmanager
def unreadable(paths: set[Path]) -> Iterator[None]:
    """Reading any of ``paths`` fails with EACCES (root reads a file whatever its mode, so the test makes
    the read fail, as test_damaged_store does); the files stay in place for repair and the sweep."""
    real_bytes, real_text = Path.read_bytes, Path.read_text

    def deny(p: Path) -> None:
        if p in paths:
            raise PermissionError(errno.EACCES, "Permission denied", str(p))

    def read_bytes(p: Path) -> bytes:
        deny(p)
        return real_bytes(p)

    def read_text(p: Path, *args, **kwargs) -> str:
        deny(p)
        return real_text(p, *args, **kwargs)

    with mock.patch.object(Path, "read_bytes", read_bytes), mock.patch.object(Path, "read_text", read_text):
        yield


def damage_file(path: Path, how: str, outside: Path) -> None:
    copy = outside / f"{path.parent.name}-{path.name}"
    shutil.copy(path, copy)  # a file of the user's outside the store, which a link may point to
    if how == "unreadable":  # mode 000; reading fails under ``unreadable`` (status, report, repair)
        path.chmod(0)
        return
    if how == "garbage":
        path.write_bytes(b"\x00garbage{")
        return
    path.unlink()
    if how == "dir":
        path.mkdir()
        (path / "x").write_text("x")
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "link":
        path.symlink_to(copy)


def damage_dir(rd: Path, how: str, outside: Path) -> None:
    moved = outside / rd.name
    shutil.move(rd, moved)
    if how == "link":
        rd.symlink_to(moved, target_is_directory=True)
    elif how == "fifo":
        os.mkfifo(rd)
    else:
        rd.write_text("not a directory")


def done_marks(study: Path) -> dict[str, int]:
    return {rd.name: (rd / store.DONE).stat().st_mtime_ns for rd in store.run_dirs(study)}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<other>" for p in sorted(root.rglob("*"))}


def diagnose_and_repair(capsys, study: Path, before: dict, damaged: set, deep_only: set) -> None:
    """status and status --verify name the damaged runs and never an intact one, the report's loaders read
    exactly the readable runs, repair --yes --verify goes through."""
    for extra in ([], ["--verify"]):
        _, out, _ = check_cli(capsys, ["status", str(study), *extra])
        for name in before:  # each damaged run is named; an intact one never is
            named = f"damaged {study / name}" in out
            lost_done = f"{study / name}" not in out and name in damaged  # DONE deleted: unfinished
            assert named or lost_done or name not in damaged or not extra, (name, out)
            assert not named or name in damaged, (name, out)
    readable = set(before) - (damaged - deep_only)
    if not readable:  # what the report reads: nothing left, one error naming them
        with pytest.raises(UserError, match="no finished runs"):
            load_results(study)
    else:
        assert set(load_results(study)["run_id"]) == readable
        load_curves(study), load_histories(study)
    check_cli(capsys, ["repair", str(study), "--yes", "--verify"])


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damages=st.tuples(RUN_DAMAGE, RUN_DAMAGE))
def test_any_damage_is_diagnosed_repaired_inside_the_store_and_redone(capsys, two_runs, damages):
    with tempfile.TemporaryDirectory() as tmp:
        study, outside = Path(tmp) / "study", Path(tmp) / "outside"
        shutil.copytree(two_runs, study)
        outside.mkdir()
        (outside / "precious.txt").write_text("the user's")
        exp = Path(tmp) / "two.py"
        exp.write_text(EXPERIMENT)
        before = done_marks(study)
        damaged, deep_only = set(), set()  # garbage in model.pt is found by --verify only (it loads it)
        denied = set()
        for rd, dmg in zip(store.run_dirs(study), damages):
            if dmg is None:
                continue
            damaged.add(rd.name)
            if dmg == ("file", store.WEIGHTS, "garbage"):
                deep_only.add(rd.name)
            kind, fname, how = dmg
            damage_file(rd / fname, how, outside) if kind == "file" else damage_dir(rd, how, outside)
            if how == "unreadable":
                denied.add(rd / fname)
        kept = snapshot(outside)
        with unreadable(denied):
            diagnose_and_repair(capsys, study, before, damaged, deep_only)
        assert snapshot(outside) == kept  # nothing outside the store was deleted or written
        assert all(os.path.lexists(study / n) for n in set(before) - damaged)

        rc, out, _ = check_cli(capsys, ["sweep", str(exp), "--out", str(study), "--no-progress"])
        assert rc == 0, out
        assert f"2 runs: {2 - len(damaged)} already done, {len(damaged)} run now" in out
        after = done_marks(study)
        assert set(after) == set(before)
        assert {n for n in before if after[n] != before[n]} == damaged  # exactly the damaged runs redone
        assert all(store.verify_run(study / n, deep=True) == [] for n in before)
        assert snapshot(outside) == kept

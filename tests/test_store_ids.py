"""Runs stored under an outdated run id (directories written by an older id rule): found, reported,
renamed atomically, and counted once by ``load_results``."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from largelr import store
from largelr.cli import check_ids, main
from largelr.config import load_json, run_id
from largelr.report.collect import load_results
from largelr.sweep import sweep_status

OLD = "0123456789abcdef"  # a name the current rule never gives this config


def _current(study: Path) -> Path:
    """The finished run's directory (the fixture holds exactly one run, under its current id)."""
    (rd,) = store.run_dirs(study)
    assert rd.name == run_id(load_json(rd / store.CONFIG))
    return rd


def test_outdated_dir_is_found_and_renamed(study_copy, snapshot, make_cfg):
    cur = _current(study_copy)
    old = study_copy / OLD
    cur.rename(old)
    before = snapshot(old)
    outdated, dups = store.id_check(study_copy)
    assert outdated == {old: cur.name} and dups == {}
    assert sweep_status([make_cfg()], study_copy)["missing"]  # the store looks for the current id only
    assert store.rename_to_current_id(old) == cur
    assert not old.exists() and snapshot(cur) == before  # moved whole, byte for byte
    assert run_id(load_json(cur / store.CONFIG)) == cur.name
    assert store.id_check(study_copy) == ({}, {})
    assert sweep_status([make_cfg()], study_copy)["done"] == [make_cfg()]


def test_rename_refuses_to_overwrite_a_duplicate(study_copy, snapshot):
    cur = _current(study_copy)
    old = study_copy / OLD
    shutil.copytree(cur, old)
    before = snapshot(study_copy)
    assert store.rename_to_current_id(old) is None
    assert snapshot(study_copy) == before
    outdated, dups = store.id_check(study_copy)
    assert outdated == {old: cur.name}
    assert dups == {cur.name: [cur, old]}  # the current id's copy first


def test_load_results_counts_a_duplicate_once(study_copy, caplog):
    cur = _current(study_copy)
    shutil.copytree(cur, study_copy / OLD)
    with caplog.at_level(logging.WARNING):
        df = load_results(study_copy)
    assert list(df["run_id"]) == [cur.name]
    assert "stored 2 times" in caplog.text and OLD in caplog.text


def test_status_warns_and_fix_ids_renames(study_copy, capsys):
    cur = _current(study_copy)
    cur.rename(study_copy / OLD)
    assert main(["status", str(study_copy)]) == 0
    out = capsys.readouterr().out
    assert "1 runs are stored under an outdated id" in out and "--fix-ids" in out
    assert main(["status", str(study_copy), "--fix-ids"]) == 0
    out = capsys.readouterr().out
    assert f"renamed {OLD} -> {cur.name}" in out and "outdated" not in out
    assert cur.is_dir() and not (study_copy / OLD).exists()
    # a duplicate: reported, never deleted
    shutil.copytree(cur, study_copy / OLD)
    assert main(["status", str(study_copy), "--fix-ids"]) == 0
    out = capsys.readouterr().out
    assert f"kept {OLD}: {cur.name} exists already" in out
    assert f"stored 2 times ({cur.name}, {OLD})" in out
    assert (study_copy / OLD).is_dir() and cur.is_dir()


def test_sweep_refuses_to_redo_runs_under_an_outdated_id(study_copy, capsys, snapshot):
    cur = _current(study_copy)
    cur.rename(study_copy / OLD)
    exp = Path(__file__).parent / "fixtures" / "tiny_sweep.py"
    before = snapshot(study_copy)
    assert main(["sweep", str(exp), "--out", str(study_copy), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 runs in") and f"largelr status {study_copy} --fix-ids" in err
    assert snapshot(study_copy) == before  # nothing written
    # an outdated copy of a config that is also stored under its current id is not redone: no refusal
    shutil.copytree(study_copy / OLD, cur)
    outdated, _ = store.id_check(study_copy)
    assert outdated == {study_copy / OLD: cur.name}
    check_ids(study_copy)

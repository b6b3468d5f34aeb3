"""Runs stored under an outdated run id (directories written by an older id rule): found, reported,
renamed atomically, and counted once by ``load_results``; a config edited after its run reproduces its
directory's name under no rule: damage, never renamed, blocking nothing but itself."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from largelr import store
from largelr.cli import main
from largelr.cli.sweep import outdated_ids
from largelr.config import load_json, run_id
from largelr.identity import OLDER_RULES, id_v1, older_rule_matching
from largelr.report.collect import load_results
from largelr.sweep import sweep_status

EXPERIMENT = Path(__file__).parent / "fixtures" / "tiny_sweep.py"


def _current(study: Path) -> Path:
    """The finished run's directory (the fixture holds exactly one run, under its current id)."""
    (rd,) = store.run_dirs(study)
    assert rd.name == run_id(load_json(rd / store.CONFIG))
    return rd


def _v1_name(rd: Path) -> str:
    """The name the v1 rule gave this run: its stored config.json, minus train.device, hashed whole."""
    return id_v1(json.loads((rd / store.CONFIG).read_text()))


def test_id_v1_is_the_sha256_of_the_stored_config_without_the_device():
    stored = {"train": {"device": "cuda:1", "steps": 7}, "optim": {"lr": 0.5}}
    by_hand = hashlib.sha256(b'{"optim":{"lr":0.5},"train":{"steps":7}}').hexdigest()[:16]
    assert id_v1(stored) == by_hand
    assert stored["train"]["device"] == "cuda:1"  # pure: the argument is not changed
    assert older_rule_matching(stored, by_hand) == "v1" and list(OLDER_RULES) == ["v1"]
    assert older_rule_matching({**stored, "optim": {"lr": 0.05}}, by_hand) is None
    assert older_rule_matching([1], by_hand) is None and older_rule_matching(stored, "0" * 16) is None


def test_outdated_dir_is_found_and_renamed(study_copy, snapshot, make_cfg):
    cur = _current(study_copy)
    old = study_copy / _v1_name(cur)
    cur.rename(old)
    before = snapshot(old)
    outdated, dups = store.id_check(study_copy)
    assert outdated == {old: cur.name} and dups == {}
    assert store.verify_run(old) == []  # outdated is not damage
    assert sweep_status([make_cfg()], study_copy)[store.RunState.MISSING]  # the store looks for the current id only
    assert store.rename_to_current_id(old) == cur
    assert not old.exists() and snapshot(cur) == before  # moved whole, byte for byte
    assert store.id_check(study_copy) == ({}, {})
    assert sweep_status([make_cfg()], study_copy)[store.RunState.DONE] == [make_cfg()]


def test_rename_refuses_to_overwrite_a_duplicate(study_copy, snapshot):
    cur = _current(study_copy)
    old = study_copy / _v1_name(cur)
    shutil.copytree(cur, old)
    before = snapshot(study_copy)
    assert store.rename_to_current_id(old) is None
    assert snapshot(study_copy) == before
    outdated, dups = store.id_check(study_copy)
    assert outdated == {old: cur.name}
    assert dups == {cur.name: [cur, old]}  # the current id's copy first


def test_load_results_counts_a_duplicate_once(study_copy, caplog):
    cur = _current(study_copy)
    old = study_copy / _v1_name(cur)
    shutil.copytree(cur, old)
    with caplog.at_level(logging.WARNING):
        df = load_results(study_copy)
    assert list(df["run_id"]) == [cur.name]
    assert "stored 2 times" in caplog.text and old.name in caplog.text


def test_status_warns_and_fix_ids_renames(study_copy, capsys):
    cur = _current(study_copy)
    old = _v1_name(cur)
    cur.rename(study_copy / old)
    assert main(["status", str(study_copy)]) == 0
    out = capsys.readouterr().out
    assert "1 runs are stored under an outdated id" in out and "--fix-ids" in out
    assert main(["status", str(study_copy), "--fix-ids"]) == 0
    out = capsys.readouterr().out
    assert f"renamed {old} -> {cur.name}" in out and "outdated" not in out
    assert cur.is_dir() and not (study_copy / old).exists()
    # a duplicate: reported, never deleted
    shutil.copytree(cur, study_copy / old)
    assert main(["status", str(study_copy), "--fix-ids"]) == 0
    out = capsys.readouterr().out
    assert f"kept {old}: {cur.name} exists already" in out
    assert f"stored 2 times ({cur.name}, {old})" in out
    assert (study_copy / old).is_dir() and cur.is_dir()


def test_an_edited_config_is_damage_never_renamed(study_copy, capsys, snapshot):
    """config.json edited from lr 0.1 to 0.777 after the run. --fix-ids used to rename
    the run to the 0.777 id and count it done with lr 0.1's metrics; now it is damage, left in place."""
    cur = _current(study_copy)
    d = json.loads((cur / store.CONFIG).read_text())
    d["optim"]["lr"] = 0.777
    (cur / store.CONFIG).write_text(json.dumps(d))
    edited = run_id(load_json(cur / store.CONFIG))
    before = snapshot(study_copy)
    assert main(["status", str(study_copy), "--fix-ids"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{study_copy}: 0 done (-), 0 running, 0 failed, 0 stale, 0 incomplete, 1 damaged"
    assert lines[1] == (
        f"damaged {cur}: config.json hashes to {edited}, not to the directory name under this or any older id "
        "rule (edited after the run, or the directory was renamed): its results are not that config's"
    )
    assert not any(line.startswith(("renamed", "outdated")) for line in lines)
    assert snapshot(study_copy) == before and not (study_copy / edited).exists()
    assert store.id_check(study_copy) == ({}, {})


def test_an_outdated_run_blocks_only_itself(tmp_path, capsys):
    """One run of the tiny sweep stored under its v1 id: the sweep trains the other and says how to
    rename the outdated one (it used to refuse the whole sweep)."""
    out = tmp_path / "study"
    assert main(["sweep", str(EXPERIMENT), "--out", str(out), "--no-progress"]) == 0
    first, second = store.run_dirs(out)
    old = out / _v1_name(first)
    first.rename(old)
    shutil.rmtree(second)
    capsys.readouterr()
    assert outdated_ids(out) == {first.name}
    assert main(["sweep", str(EXPERIMENT), "--out", str(out), "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "1 runs: 0 already done, 1 run now (1 ok)" in text
    assert "1 runs are stored under an outdated run id (written by an older largelr) and were not redone; " in text
    assert f"largelr status {out} --fix-ids" in text
    assert sorted(p.name for p in store.run_dirs(out)) == sorted([old.name, second.name])
    assert store.run_state(second) == "done" and not first.exists()

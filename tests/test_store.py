"""The results store on its own: atomic writes (incl. a crash mid-write), finalize order, sanitize, status."""

from __future__ import annotations

import json
import math
import os
import stat

import pytest

from largelr import store
from largelr.errors import UserError


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    store.atomic_write(path, "old")
    store.atomic_write(path, b"new bytes")
    assert path.read_bytes() == b"new bytes"
    assert os.listdir(tmp_path) == ["result.json"]


def test_crash_during_write_keeps_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("previous")
    with pytest.raises(UnicodeEncodeError):
        store.atomic_write(path, "half \ud800 written")  # fails while encoding, i.e. during the write
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["result.json"]


def test_crash_at_fsync_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    path.write_text("previous")

    def disk_gone(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", disk_gone)
    with pytest.raises(OSError, match="disk gone"):
        store.atomic_write(path, "new")
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["result.json"]


def test_data_is_flushed_and_synced_in_the_same_directory_before_the_rename(tmp_path, monkeypatch):
    """The rename is atomic only within one filesystem, and must never expose a file whose data is unsynced."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_size))  # the bytes reached the file before the sync
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.dirname(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "model.pt"
    store.atomic_write(path, b"12345")
    assert events == [("fsync", 5), ("replace", str(tmp_path), str(path))]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert store.current_umask() == 0o022
        assert store.current_umask() == 0o022  # reading it does not change it
        store.atomic_write(tmp_path / "a", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o644  # 0o666 & ~0o022


def test_sanitize_nulls_non_finite_floats_everywhere():
    obj = {1: [1.5, math.nan, (math.inf, 2)], "a": {"b": -math.inf, "c": 0.0}, "t": True, "n": None, "s": "nan"}
    assert store.sanitize(obj) == {
        "1": [1.5, None, [None, 2]],
        "a": {"b": None, "c": 0.0},
        "t": True,
        "n": None,
        "s": "nan",
    }


def _started(tmp_path):
    from largelr.config import RunConfig

    rd = tmp_path / "study" / "run"
    store.begin(rd, RunConfig(), {"start": 1})
    return rd


def test_finalize_writes_result_then_env_then_done_last(tmp_path, monkeypatch):
    rd = _started(tmp_path)
    written = []
    real = store.atomic_write

    def recording(path, data):
        written.append(path.name)
        real(path, data)

    monkeypatch.setattr(store.layout, "atomic_write", recording)
    store.finalize(rd, {"status": "ok", "x": math.nan}, {"end": 2})
    # no evaluation row was appended: an empty history.jsonl, so the finished run holds every required file
    assert written == [store.RESULT, store.HISTORY, store.ENV, store.DONE]
    assert (rd / store.HISTORY).read_text() == "" and store.read_history(rd) == []
    assert store.read_json(rd / store.ENV) == {"start": 1, "end": 2}  # updated, not replaced
    assert store.read_json(rd / store.RESULT) == {"status": "ok", "x": None}
    assert (rd / store.DONE).read_text() == "" and store.run_state(rd) == "done"


def test_finalize_that_fails_midway_leaves_the_run_incomplete(tmp_path):
    rd = _started(tmp_path)
    with pytest.raises(TypeError):
        store.finalize(rd, {"status": "ok"}, {"end": object()})  # env.json cannot be written
    assert store.run_state(rd) == "incomplete"
    assert sorted(p.name for p in rd.iterdir()) == sorted([store.CONFIG, store.ENV, store.HISTORY, store.RESULT])


def test_status_and_begin(tmp_path):
    from largelr.config import RunConfig

    rd = tmp_path / "s" / "r"
    assert store.run_state(rd) == "missing"
    rd.mkdir(parents=True)
    (rd / "leftover.tmp").write_text("x")
    (rd / store.DONE).mkdir()  # DONE must be a file
    assert store.run_state(rd) == "incomplete"
    (rd / store.DONE).rmdir()
    store.begin(rd, RunConfig(), {"k": 1})  # clears the incomplete directory
    assert sorted(p.name for p in rd.iterdir()) == [store.CONFIG, store.ENV]
    assert store.read_json(rd / store.ENV) == {"k": 1}
    text = (rd / store.CONFIG).read_text()
    assert text.endswith("}\n") and text.count("\n") > 10 and '\n  "data": {' in text  # indented for people
    store.atomic_write(rd / store.DONE, "")
    assert store.run_state(rd) == "done"
    with pytest.raises(RuntimeError, match="already done"):
        store.begin(rd, RunConfig(), {})


def test_history_rows_round_trip_and_a_corrupt_line_is_named(tmp_path):
    assert store.read_history(tmp_path) == []
    store.append_history(tmp_path, {"step": 0, "loss": math.nan})
    store.append_history(tmp_path, {"step": 1, "loss": 0.5})
    assert store.read_history(tmp_path) == [{"loss": None, "step": 0}, {"loss": 0.5, "step": 1}]
    assert (tmp_path / store.HISTORY).read_text().splitlines()[0] == '{"loss": null, "step": 0}'
    with open(tmp_path / store.HISTORY, "a") as f:
        f.write("{oops\n")
    with pytest.raises(UserError, match=r"history.jsonl:3: corrupt JSON line"):
        store.read_history(tmp_path)


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match=r"x.json: file is missing"):
        store.read_json(tmp_path / "x.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(UserError, match=r"x.json: corrupt JSON"):
        store.read_json(tmp_path / "x.json")
    (tmp_path / "x.json").write_bytes(b"\xff")
    with pytest.raises(UserError, match=r"x.json: corrupt JSON"):
        store.read_json(tmp_path / "x.json")


def test_write_json_is_sorted_indented_and_ends_with_a_newline(tmp_path):
    store.write_json(tmp_path / "a.json", {"b": 1, "a": [math.inf]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    null\n  ],\n  "b": 1\n}\n'


def test_run_dirs_lists_only_run_directories_sorted(tmp_path):
    with pytest.raises(UserError, match="results directory not found"):
        store.run_dirs(tmp_path / "nope")
    for name in ("b", "a", "c", "d", "e", "_logs"):
        (tmp_path / name).mkdir()
    for name, mark in [("b", store.CONFIG), ("a", store.CONFIG), ("d", store.LEASE), ("e", store.FAILED)]:
        (tmp_path / name / mark).write_text("{}")
    (tmp_path / "_logs" / "workers.log").write_text("")
    (tmp_path / "f").write_text("")
    assert [p.name for p in store.run_dirs(tmp_path)] == ["a", "b", "d", "e"]  # a claimed or failed run too


def test_status_counts_a_just_claimed_run_as_running(tmp_path, capsys):
    """A worker's LEASE comes before config.json: `status`, the progress bar and run_dirs all see it."""
    from largelr.cli import main

    rd = tmp_path / "0123456789abcdef"
    rd.mkdir()
    assert store.claim(rd) is not None
    assert store.study_states(tmp_path) == {rd.name: "running"}
    assert main(["status", str(tmp_path)]) == 0
    assert "0 done (-), 1 running, 0 failed" in capsys.readouterr().out


def test_load_run_rejects_a_result_without_status_or_metrics(finished_study, tmp_path):
    import shutil

    (src,) = store.run_dirs(finished_study)
    rd = tmp_path / src.name
    shutil.copytree(src, rd)
    run = store.load_run(rd)
    assert run["run_id"] == rd.name and run["dir"] == rd and run["result"]["status"] == "ok"
    assert run["env"] == json.loads((rd / store.ENV).read_text())
    assert run["config"].data.n_train == 500 and run["config"].train.steps == 60  # the tiny config (conftest)
    for bad in ({"metrics": {}}, {"status": "ok"}, {"status": "ok", "metrics": []}, []):
        (rd / store.RESULT).write_text(json.dumps(bad))
        with pytest.raises(UserError, match="not a largelr result"):
            store.load_run(rd)
    (rd / store.CONFIG).write_text("{")
    with pytest.raises(UserError, match=r"config.json: "):
        store.load_run(rd)


class _NotATensor:
    """Anything but tensors in model.pt (e.g. a crafted pickle) must not be unpickled."""


def test_load_weights_refuses_arbitrary_pickles(tmp_path):
    import pickle

    import torch

    store.save_weights(tmp_path, {"w": torch.ones(2)})
    assert torch.equal(store.load_weights(tmp_path)["w"], torch.ones(2))
    torch.save({"w": _NotATensor()}, tmp_path / store.WEIGHTS)
    with pytest.raises(pickle.UnpicklingError):
        store.load_weights(tmp_path)


def test_study_note_round_trips_and_is_empty_when_absent(tmp_path):
    study = tmp_path / "new" / "study"
    assert store.read_note(study) == {}
    store.write_note(study, {"target": "headline", "minutes": 2.5})  # creates the study directory
    assert json.loads((study / "reproduce.json").read_text()) == {"target": "headline", "minutes": 2.5}
    assert store.read_note(study) == {"target": "headline", "minutes": 2.5}
    store.write_note(study, {"target": "headline", "minutes": 3.0})  # a rerun replaces it
    assert store.read_note(study) == {"target": "headline", "minutes": 3.0}
    assert store.run_dirs(study) == []  # the note is not a run


def test_record_failure_keeps_the_text_only_in_an_existing_run(tmp_path):
    rd = tmp_path / "run"
    rd.mkdir()
    store.record_failure(rd, "Traceback: boom\n")
    assert (rd / "FAILED").read_text() == "Traceback: boom\n" and store.run_state(rd) == "failed"
    store.record_failure(tmp_path / "gone", "x")  # a run directory removed meanwhile: nothing is created
    assert not (tmp_path / "gone").exists()


def test_queued_config_is_named_by_run_id_and_reads_back(tmp_path, make_cfg):
    from largelr import config

    cfg = make_cfg("optim.lr=0.3")
    path = store.queue_config(tmp_path / "study", cfg)
    assert path == tmp_path / "study" / "_queue" / f"{config.run_id(cfg)}.json"
    assert config.load_json(path) == cfg
    other = make_cfg("optim.lr=0.4")  # a second config joins the same queue
    assert config.load_json(store.queue_config(tmp_path / "study", other)) == other
    assert store.run_dirs(tmp_path / "study") == []  # the queue is not a run
    assert store.tensorboard_dir(tmp_path / "r") == tmp_path / "r" / "tensorboard"


def test_checkpoint_round_trips_and_an_unreadable_one_reads_as_none(tmp_path):
    import torch

    rd = tmp_path / "run"
    rd.mkdir()
    assert store.load_checkpoint(rd) is None
    store.save_checkpoint(rd, {"step": 7, "w": torch.arange(3.0)})
    back = store.load_checkpoint(rd)
    assert back["step"] == 7 and torch.equal(back["w"], torch.arange(3.0))
    (rd / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert store.load_checkpoint(rd) is None


def test_verify_names_each_damage_without_the_path_and_cut_to_length(study_copy):
    study = study_copy.rename(study_copy.with_name("my study"))  # a space in the path
    rd = store.run_dirs(study)[0]
    (rd / "env.json").write_text("{not json")
    (rd / "history.jsonl").write_text('{"step": 1}\n{"step": 2\n')
    long_key = "k" * 200
    (rd / "config.json").write_text(json.dumps({long_key: 1}))
    problems = store.verify_run(rd)
    env = (
        "corrupt JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); "
        "delete the run directory to redo the run"
    )
    assert problems[1:] == [
        f"env.json is corrupt ({env[:120]})",  # the reason after the path's ': ', 120 characters at most
        "history.jsonl is corrupt (corrupt JSON line (Expecting ',' delimiter))",
    ]
    config = f"section '{long_key}' must be an object"  # the path removed, 160 characters at most
    assert problems[0] == f"config.json is corrupt ({config[:160]})"
    assert store.damaged_runs(study) == {rd: problems}


def test_damaged_runs_loads_the_weights_only_when_deep(study_copy):
    rd = store.run_dirs(study_copy)[0]
    (rd / "model.pt").write_bytes(b"not a torch archive")
    assert store.damaged_runs(study_copy) == {}
    (problem,) = store.damaged_runs(study_copy, deep=True)[rd]
    assert problem.startswith("model.pt does not load (")


def test_write_history_replaces_the_rows_sorted_and_sanitized(tmp_path):
    store.append_history(tmp_path, {"step": 0})
    store.write_history(tmp_path, [{"step": 1, "acc": math.nan}, {"b": 2, "a": 1}])
    assert (tmp_path / "history.jsonl").read_text() == '{"acc": null, "step": 1}\n{"a": 1, "b": 2}\n'
    assert store.read_history(tmp_path) == [{"acc": None, "step": 1}, {"a": 1, "b": 2}]

"""End to end: a tiny sweep through the CLI (pool executor in subprocesses, and serial in-process),
the results store it leaves, resuming, status, the report and ``largelr.load_results``.

The experiment is ``tests/fixtures/tiny_sweep.py`` (2 LRs x 1 seed, 200 steps on 300 samples).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import largelr
from largelr import store
from largelr.cli import main
from largelr.config import load_json, run_id
from largelr.sweep import load_experiment
from threads import torch_threads

pytestmark = pytest.mark.usefixtures("one_thread")

EXPERIMENT = Path(__file__).parent / "fixtures" / "tiny_sweep.py"
RUN_FILES = {"config.json", "env.json", "history.jsonl", "result.json", "model.pt", "DONE"}


def sweep(capsys, out: Path, *extra: str) -> str:
    """``largelr sweep EXPERIMENT --out OUT ...`` in-process; returns stdout (exit code must be 0)."""
    rc = main(["sweep", str(EXPERIMENT), "--out", str(out), "--no-progress", *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    assert rc == 0, (cap.out, cap.err)
    return cap.out


@pytest.fixture(scope="module")
def configs():
    return load_experiment(EXPERIMENT).configs


@pytest.fixture(scope="module")
def pool_study(tmp_path_factory, configs) -> Path:
    """The sweep run once with ``--jobs 2``: the pool executor, one subprocess per run. Do not modify."""
    out = tmp_path_factory.mktemp("pool") / "study"
    rc = main(["sweep", str(EXPERIMENT), "--out", str(out), "--jobs", "2", "--no-progress"])
    assert rc == 0
    return out


@pytest.fixture
def study(pool_study, tmp_path) -> Path:
    """A private, modifiable copy of the pool study (file times preserved)."""
    dst = tmp_path / "study"
    shutil.copytree(pool_study, dst)
    return dst


def test_experiment_expands_to_two_runs(configs):
    assert len(configs) == 2
    assert sorted(c.optim.lr for c in configs) == [0.05, 0.2]
    assert len({run_id(c) for c in configs}) == 2


def test_store_layout(pool_study, configs):
    dirs = store.run_dirs(pool_study)
    assert sorted(d.name for d in dirs) == sorted(run_id(c) for c in configs)
    assert (pool_study / "_logs").is_dir()  # pool executor logs, not a run
    by_id = {run_id(c): c for c in configs}
    for rd in dirs:
        names = {p.name for p in rd.iterdir()}
        assert names == RUN_FILES, names  # no temporary files left behind
        assert (rd / store.DONE).read_bytes() == b""
        cfg = load_json(rd / store.CONFIG)
        assert run_id(cfg) == rd.name and cfg == by_id[rd.name]
        result = json.loads((rd / store.RESULT).read_text())
        assert result["run_id"] == rd.name and result["status"] == "ok" and result["steps"] == 200
        assert {"test/acc", "test/acc_bc", "weights/comp", "test/prune"} <= set(result["metrics"])
        env = json.loads((rd / store.ENV).read_text())
        assert {"versions", "git", "hardware", "start_time", "end_time"} <= set(env)
        history = store.read_history(rd)
        assert [r["step"] for r in history] == [0, 50, 100, 150, 200]
        assert history[-1]["train/acc"] == result["final_train_acc"]
        state = torch.load(rd / store.WEIGHTS, map_location="cpu", weights_only=True)
        assert state and all(isinstance(v, torch.Tensor) for v in state.values())
        # DONE is written last
        assert (rd / store.DONE).stat().st_mtime_ns >= max(p.stat().st_mtime_ns for p in rd.iterdir())


def test_saved_weights_are_the_evaluated_model(pool_study, configs):
    from largelr.data import build_dataset
    from largelr.models import build_model

    cfg = configs[0]
    rd = store.run_dir(pool_study, cfg)
    data = build_dataset(cfg.data, seed=cfg.seeds.data)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    model.load_state_dict(store.load_weights(rd))
    with torch.no_grad():
        acc = (model(data.splits["test"].x).argmax(1) == data.splits["test"].y).double().mean().item()
    assert acc == pytest.approx(json.loads((rd / store.RESULT).read_text())["metrics"]["test/acc"], abs=1e-12)


def test_run_files_are_readable_like_any_other_file(pool_study, tmp_path):
    """Files in the store get the usual permissions (umask), e.g. readable by the group on a shared
    machine, not 0600 because they were created through ``tempfile.mkstemp``."""
    probe = tmp_path / "probe"
    probe.write_text("")
    expected = probe.stat().st_mode & 0o777
    rd = store.run_dirs(pool_study)[0]
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in rd.iterdir()}
    assert modes == {name: oct(expected) for name in modes}


def test_serial_sweep_gives_the_same_results_as_the_pool(capsys, tmp_path, pool_study, configs):
    """Byte-identical histories, given the same thread count as the pool's children (the thread count
    changes float reductions in the last bits, so it has to match for an exact comparison)."""
    out = tmp_path / "serial"
    with torch_threads(max(1, (os.cpu_count() or 1) // 2)):
        text = sweep(capsys, out, "--jobs", "1")
    assert "2 runs: 0 already done, 2 run now (2 ok)" in text
    assert not (out / "_logs").exists()  # the local executor runs in this process
    for cfg in configs:
        a, b = store.run_dir(pool_study, cfg), store.run_dir(out, cfg)
        assert {p.name for p in b.iterdir()} == RUN_FILES
        assert (a / store.CONFIG).read_bytes() == (b / store.CONFIG).read_bytes()
        assert (a / store.HISTORY).read_bytes() == (b / store.HISTORY).read_bytes()
        ra, rb = (json.loads((d / store.RESULT).read_text()) for d in (a, b))
        assert ra["metrics"] == rb["metrics"]


def test_second_sweep_does_nothing(capsys, study, snapshot):
    before = snapshot(study)
    text = sweep(capsys, study, "--jobs", "2")
    assert "2 runs: 2 already done, 0 run now" in text
    assert snapshot(study) == before  # DONE mtimes, result.json contents: nothing rewritten


def test_deleting_done_redoes_exactly_that_run(capsys, study, configs, snapshot):
    redo, keep = (store.run_dir(study, c) for c in configs)
    keep_before, redo_before = snapshot(keep), snapshot(redo)
    (redo / store.DONE).unlink()
    assert store.run_state(redo) == "incomplete"
    text = sweep(capsys, study, "--jobs", "1")
    assert "2 runs: 1 already done, 1 run now (1 ok)" in text
    assert snapshot(keep) == keep_before
    assert store.run_state(redo) == "done"
    after = snapshot(redo)
    assert after.keys() == redo_before.keys()
    assert after["DONE"][1] > redo_before["DONE"][1]  # rewritten
    assert after["history.jsonl"][0] == redo_before["history.jsonl"][0]  # not appended to, identical
    assert after["config.json"][0] == redo_before["config.json"][0]


def test_incomplete_directory_is_cleared_and_redone(capsys, study, configs):
    rd = store.run_dir(study, configs[1])
    history = (rd / store.HISTORY).read_text()
    for name in (store.DONE, store.RESULT, store.WEIGHTS):
        (rd / name).unlink()
    (rd / store.HISTORY).write_text(history.splitlines(keepends=True)[0] + '{"step": 50, "tr')  # killed mid-write
    (rd / ".model.pt.abc123.tmp").write_bytes(b"partial")
    assert store.run_state(rd) == "incomplete"

    rc = main(["status", str(study)])
    assert rc == 0
    assert (
        capsys.readouterr().out.strip()
        == f"{study}: 1 done (1 ok), 0 running, 0 failed, 0 stale, 1 incomplete, 0 damaged"
    )

    text = sweep(capsys, study, "--jobs", "1")
    assert "1 already done, 1 run now (1 ok)" in text
    assert {p.name for p in rd.iterdir()} == RUN_FILES
    assert (rd / store.HISTORY).read_text() == history
    assert json.loads((rd / store.RESULT).read_text())["status"] == "ok"


def test_status_counts(capsys, pool_study, tmp_path):
    assert main(["status", str(pool_study)]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"{pool_study}: 2 done (2 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 0 damaged"
    )
    assert main(["status", str(pool_study), "--experiment", str(EXPERIMENT)]) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(
            "2/2 done (2 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 0 damaged, 0 of the experiment's runs not "
            "started\n  experiment: tiny (2 runs)"
        )
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["status", str(empty), "--experiment", str(EXPERIMENT)]) == 0
    expected = (
        f"{empty}: 0/2 done (-), 0 running, 0 failed, 0 stale, 0 incomplete, 0 damaged, "
        "2 of the experiment's runs not started\n  experiment: tiny (2 runs)"
    )
    assert capsys.readouterr().out.strip() == expected


def test_report(capsys, study, configs):
    assert main(["report", str(study)]) == 0
    out = study / "report"
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"report: {out / 'index.html'}"  # after the claim 1-2 verdict table
    assert printed[0].split() == ["claim", "setting", "verdict", "decided", "by"]
    for name in ("index.html", "report.md", "runs.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.with_suffix(".csv").is_file()  # every figure beside the data it plots

    import pandas as pd

    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2
    assert sorted(runs["cfg.optim.lr"]) == [0.05, 0.2]
    assert set(runs["run_id"]) == {run_id(c) for c in configs}
    assert list(runs["status"]) == ["ok", "ok"]

    md = (out / "report.md").read_text()
    assert "2 finished runs (2 ok)" in md
    for png in pngs:
        assert f"figures/{png.name}" in md

    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert 'src="figures/' not in page and "src='figures/" not in page
    assert page.count('src="data:image/png;base64,') == len(pngs)
    # no leftover temporary report directories
    assert [p.name for p in study.iterdir() if p.name.startswith(".")] == []


def test_load_results(pool_study, configs):
    df = largelr.load_results(pool_study)
    assert len(df) == 2
    assert sorted(df["cfg.optim.lr"]) == [0.05, 0.2]
    assert set(df["run_id"]) == {run_id(c) for c in configs}
    assert df["test/acc"].between(0, 1).all()
    assert {"status", "steps", "cfg.seeds.init", "cfg.model.kwargs.width", "weights/comp"} <= set(df.columns)
    assert df.attrs["incomplete"] == 0


def test_dry_executor_prints_commands_and_runs_nothing(capsys, tmp_path, configs, pool_study, snapshot):
    out = tmp_path / "dry"
    text = sweep(capsys, out, "--executor", "dry")
    commands = [line for line in text.splitlines() if line.startswith("largelr run ")]
    assert len(commands) == 2
    ids = set()
    for line in commands:
        assert line.startswith(f"largelr run --out {out} --config - <<< '") and line.endswith("'")
        cfg_json = line.split("<<< '", 1)[1][:-1]
        ids.add(run_id(largelr.config.from_dict(json.loads(cfg_json))))
    assert ids == {run_id(c) for c in configs}
    assert not out.exists() or store.run_dirs(out) == []

    # on a finished study there is nothing to print
    before = snapshot(pool_study)
    text = sweep(capsys, pool_study, "--executor", "dry")
    assert not [line for line in text.splitlines() if line.startswith("largelr run ")]
    assert snapshot(pool_study) == before


def test_pool_children_use_split_threads(pool_study):
    """Each pool child gets cpu_count // jobs threads and records it in env.json."""
    for rd in store.run_dirs(pool_study):
        env = json.loads((rd / store.ENV).read_text())
        assert env["hardware"]["torch_threads"] == max(1, (os.cpu_count() or 1) // 2)


def test_shipped_study_loads_by_name_from_any_directory(tmp_path, monkeypatch):
    """`largelr sweep quickstart` must find the packaged study wherever it is run from."""
    from largelr.studies import study_names
    from largelr.sweep import load_experiment

    monkeypatch.chdir(tmp_path)
    assert {"quickstart", "lr_at_convergence"} <= set(study_names())
    exp = load_experiment("quickstart")
    assert exp.name == "quickstart" and exp.path.name == "quickstart.py"
    assert len(exp.configs) == 18  # 6 LRs x 3 seed triples, as its docstring says
    # every shipped study varies the data seed too, in step with the init and order seeds
    for name, n in (("quickstart", 3), ("lr_at_convergence", 2)):
        seeds = {(c.seeds.data, c.seeds.init, c.seeds.order) for c in load_experiment(name).configs}
        assert seeds == {(i, i, i) for i in range(n)}


def test_a_sweep_into_a_log_file_writes_one_line_per_run_and_no_bar_redraws(capsys, tmp_path):
    """With the progress bar on (no --no-progress) but stderr not a terminal (pytest's capture, nohup, Slurm
    logs): no carriage-return redraws, and one summary line per finished run on stdout."""
    rc = main(["sweep", str(EXPERIMENT), "--out", str(tmp_path / "s")])
    cap = capsys.readouterr()
    assert rc == 0 and "\r" not in cap.err and "\r" not in cap.out
    assert sum(" lr=" in line and " ok " in line for line in cap.out.splitlines()) == 2


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"largelr {largelr.__version__}\n"


def test_report_prints_the_study_verdict_table(capsys, study):
    assert main(["report", str(study)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("claim"))
    assert lines[head].split() == ["claim", "setting", "verdict", "decided", "by"]
    assert [line.split()[0] for line in lines[head + 2 : head + 4]] == ["1", "2"]
    assert lines[head + 4].startswith("rule and evidence:") and lines[-1].startswith("report: ")

"""``largelr export tensorboard|mlflow``: read back with the trackers' own readers (TensorBoard's event
accumulator and hparams plugin data; MLflow's file store through ``mlflow.search_runs``), never by parsing
our own files. The expected values come from the store (config.json, result.json, history.jsonl)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from largelr.cli import main
from largelr.export import export, run_names
from largelr.run import execute
from threads import torch_threads
from tiny import tiny_config


def store_runs(study: Path) -> dict[str, dict]:
    """{run id: {"lr", "result", "history"}} read straight from the run directories."""
    out = {}
    for rd in sorted(p for p in study.iterdir() if (p / "DONE").is_file()):
        cfg = json.loads((rd / "config.json").read_text())
        out[rd.name] = {
            "lr": cfg["optim"]["lr"],
            "result": json.loads((rd / "result.json").read_text()),
            "history": [json.loads(line) for line in (rd / "history.jsonl").read_text().splitlines()],
        }
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """Three tiny runs: LRs 0.1 and 0.2 at rho 0.95, LR 0.1 at rho 0.9 (so a second setting varies)."""
    root = tmp_path_factory.mktemp("export") / "study"
    with torch_threads(1):
        for lr, rho in (("0.1", "0.95"), ("0.2", "0.95"), ("0.1", "0.9")):
            execute(tiny_config(f"optim.lr={lr}", f"data.rho={rho}"), root)
    return root


def test_run_names_say_lr_seed_and_what_else_varies():
    a, b = tiny_config("optim.lr=0.1", "data.rho=0.95"), tiny_config("optim.lr=0.2", "seeds.data=1")
    names = run_names({"a": a, "b": b})
    # rho and seeds.data differ: rho is appended, the seed triple is spelled out where its parts differ
    assert names == {"a": "lr=0.1 seed=0 rho=0.95", "b": "lr=0.2 seeds=1/0/0 rho=0.99"}
    assert run_names({"a": a}) == {"a": "lr=0.1 seed=0"}


def test_tensorboard_export_reads_back_lr_history_and_end_metrics(study, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install 'largelr[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    out, n = export(study, "tensorboard", tmp_path / "tb")
    runs = store_runs(study)
    assert n == len(runs) == 3
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["lr=0.1,seed=0,rho=0.9", "lr=0.1,seed=0,rho=0.95", "lr=0.2,seed=0,rho=0.95"]
    seen = {}
    for folder in folders:
        acc = EventAccumulator(str(out / folder), size_guidance={"scalars": 0})
        acc.Reload()
        content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hp = start.session_start_info.hparams
        rid = hp["run_id"].string_value
        seen[rid] = hp["optim.lr"].number_value
        expected = runs[rid]
        assert hp["data.rho"].number_value == float(folder.rsplit("=", 1)[1])
        # the history at its steps, then the end-of-run value at the last step
        steps = [e.step for e in acc.Scalars("train/loss")]
        assert steps == [row["step"] for row in expected["history"]]
        comp = acc.Scalars("weights/comp")
        assert comp[-1].step == expected["result"]["steps"]
        assert math.isclose(comp[-1].value, expected["result"]["metrics"]["weights/comp"], rel_tol=1e-6)
    assert seen == {rid: r["lr"] for rid, r in runs.items()}


def test_mlflow_export_reads_back_lr_history_and_end_metrics(study, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'largelr[mlflow]')")
    out, n = export(study, "mlflow", tmp_path / "mlruns")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(out.resolve().as_uri())
    df = mlflow.search_runs(search_all_experiments=True)
    runs = store_runs(study)
    assert len(df) == n == 3
    rows = df.set_index("tags.largelr.run_id")
    assert {rid: float(lr) for rid, lr in rows["params.optim.lr"].items()} == {rid: r["lr"] for rid, r in runs.items()}
    for rid, r in runs.items():
        assert rows.loc[rid, "tags.mlflow.runName"].startswith(f"lr={r['lr']:g} seed=0 rho=")
        assert math.isclose(rows.loc[rid, "metrics.weights/comp"], r["result"]["metrics"]["weights/comp"])
        history = mlflow.tracking.MlflowClient().get_metric_history(rows.loc[rid, "run_id"], "train/loss")
        assert [m.step for m in history] == [row["step"] for row in r["history"]]
    # filtering by LR, as a user would
    picked = mlflow.search_runs(search_all_experiments=True, filter_string="params.`optim.lr` = '0.2'")
    assert list(picked["tags.largelr.run_id"]) == [rid for rid, r in runs.items() if r["lr"] == 0.2]


def test_export_again_replaces_and_refuses_a_foreign_folder(study, tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    out = tmp_path / "tb"
    export(study, "tensorboard", out)
    export(study, "tensorboard", out)  # replaced, not appended to
    assert len([p for p in out.iterdir() if p.is_dir()]) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tb.")]  # no partial or old folder left
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["export", "tensorboard", str(study), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a previous largelr export" in err
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_missing_tracker_package_is_one_error_line(study, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert main(["export", "mlflow", str(study), "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err == (
        "error: largelr export mlflow needs the mlflow package: pip install 'largelr[mlflow]'\n"
    )
    assert not (tmp_path / "m").exists()


def test_export_of_a_directory_without_runs_is_an_error(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    assert main(["export", "tensorboard", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no finished runs")

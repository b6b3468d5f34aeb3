"""Bad input through the CLI: exit code 2, one ``error: ...`` line naming the culprit, no traceback,
and the results directory left exactly as it was.

Most cases call ``largelr.cli.main`` in-process; a few run the installed ``largelr`` command in a
subprocess to check the real exit status and stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from largelr import store
from largelr.cli import main

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")

# Experiment files that are wrong in one way each. {name: source}
EXPERIMENTS = {
    "syntax.py": "from largelr.config import RunConfig\n\n\ndef sweep(:\n    return [RunConfig()]\n",
    "no_sweep.py": "from largelr.config import RunConfig\n\nCONFIGS = [RunConfig()]\n",
    "sweep_not_callable.py": "sweep = [1, 2]\n",
    "not_runconfig.py": "def sweep():\n    return [{'optim': {'lr': 0.1}}]\n",
    "empty.py": "def sweep():\n    return []\n",
    "returns_none.py": "def sweep():\n    pass\n",
    "import_fails.py": "import no_such_module_xyz\n\n\ndef sweep():\n    return []\n",
    "sweep_raises.py": "def sweep():\n    return [1 / 0]\n",
    "bad_override_inside.py": (
        "from largelr.config import RunConfig, apply_overrides\n\n\n"
        "def sweep():\n    return [apply_overrides(RunConfig(), ['optim.lr=-1'])]\n"
    ),
    "unknown_key_inside.py": (
        "from largelr.config import RunConfig\nfrom largelr.sweep import grid\n\n\n"
        "def sweep():\n    return grid(RunConfig(), {'optim.learning_rate': [0.1, 0.2]})\n"
    ),
    "bad_kwargs_inside.py": (
        "from largelr.config import ModelConfig, RunConfig\n\n\n"
        "def sweep():\n    return [RunConfig(model=ModelConfig(kwargs={'widht': 8}))]\n"
    ),
    "good.py": "from largelr.config import RunConfig\n\n\ndef sweep():\n    return [RunConfig()]\n",
}


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    d = tmp_path / "experiments"
    d.mkdir()
    for name, text in EXPERIMENTS.items():
        (d / name).write_text(text)
    (d / "notpython.txt").write_text("def sweep(): return []\n")
    (d / "bad.json").write_text('{"optim": {"lr": 0.1,}}')
    return d


def assert_user_error(capsys, argv: list[str], names: list[str]) -> str:
    """Run ``main(argv)``; check exit code 2 and one ``error:`` line on stderr containing ``names``."""
    rc = main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Traceback" not in cap.out
    assert rc == 2, (rc, cap.out, cap.err)
    lines = cap.err.splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# (id, argv after the subcommand and --out, substrings the message must contain)
RUN_CASES = [
    ("unknown_key", ["--set", "optim.lrr=0.1"], ["'optim.lrr'", "did you mean optim.lr"]),
    ("unknown_section", ["--set", "optimizer.lr=0.1"], ["'optimizer.lr'", "valid keys"]),
    ("wrong_type_str_for_float", ["--set", "optim.lr=fast"], ["optim.lr", "float", "'fast'"]),
    ("wrong_type_float_for_int", ["--set", "train.batch_size=12.5"], ["train.batch_size", "int", "12.5"]),
    ("wrong_type_bool_for_int", ["--set", "train.steps=True"], ["train.steps", "True"]),
    ("rho_above_1", ["--set", "data.rho=1.5"], ["data.rho", "[0, 1]", "1.5"]),
    ("rho_below_0", ["--set", "data.rho=-0.2"], ["data.rho", "-0.2"]),
    ("lr_zero", ["--set", "optim.lr=0"], ["optim.lr", "positive"]),
    ("lr_negative", ["--set", "optim.lr=-0.1"], ["optim.lr", "-0.1"]),
    ("batch_size_zero", ["--set", "train.batch_size=0"], ["train.batch_size", "positive"]),
    ("batch_size_negative", ["--set", "train.batch_size=-4"], ["train.batch_size", "-4"]),
    ("batch_larger_than_data", ["--set", "data.n_train=50"], ["train.batch_size", "data.n_train"]),
    ("steps_and_epochs", ["--set", "train.epochs=3"], ["train.steps", "train.epochs"]),
    ("neither_steps_nor_epochs", ["--set", "train.steps=None"], ["train.steps", "train.epochs"]),
    ("malformed_set", ["--set", "optim.lr"], ["'optim.lr'", "key=value"]),
    ("malformed_set_space", ["--set", "optim.lr 0.1"], ["'optim.lr 0.1'", "key=value"]),
    ("unknown_dataset", ["--set", "data.name=imagenet21k"], ["dataset", "'imagenet21k'"]),
    ("unknown_model", ["--set", "model.name=resnet9000"], ["model", "'resnet9000'"]),
    ("bad_model_kwargs_key", ["--set", "model.kwargs.widht=64"], ["model.kwargs.widht", "width"]),
    ("bad_model_kwargs_type", ["--set", "model.kwargs.width=wide"], ["model.kwargs.width", "'wide'"]),
    ("bad_data_kwargs_key", ["--set", "data.kwargs.colour=red"], ["data.kwargs.colour"]),
    ("unknown_metric", ["--set", "eval.metrics=['robustnes']"], ["metric", "'robustnes'"]),
    ("bad_device_name", ["--set", "train.device=gpu0"], ["train.device", "'gpu0'"]),
    ("missing_config_file", ["--config", "{tmp}/nope.json"], ["nope.json", "not found"]),
    ("malformed_config_file", ["--config", "{exp}/bad.json"], ["bad.json", "JSON"]),
]


@pytest.mark.parametrize("argv, names", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_run_rejects_bad_input_without_writing(capsys, tmp_path, exp_dir, argv, names):
    out = tmp_path / "out"
    argv = [a.format(tmp=tmp_path, exp=exp_dir) for a in argv]
    assert_user_error(capsys, ["run", "--out", str(out), *argv], names)
    assert not out.exists()


@NO_CUDA
def test_run_on_cuda_without_cuda(capsys, tmp_path):
    out = tmp_path / "out"
    assert_user_error(capsys, ["run", "--out", str(out), "--set", "train.device=cuda"], ["train.device", "cuda"])
    assert not out.exists()


def test_config_command_rejects_bad_input(capsys):
    assert_user_error(capsys, ["config", "--set", "optim.lrr=1"], ["optim.lrr"])
    assert_user_error(capsys, ["config", "--set", "model.kwargs.depht=2"], ["model.kwargs.depht", "depth"])


SWEEP_CASES = [
    ("missing_file", "missing.py", [], ["missing.py", "not found"]),
    ("not_python", "notpython.txt", [], ["notpython.txt", ".py"]),
    ("syntax_error", "syntax.py", [], ["syntax.py:4:", "syntax error"]),
    ("import_fails", "import_fails.py", [], ["import_fails.py", "no_such_module_xyz"]),
    ("no_sweep", "no_sweep.py", [], ["no_sweep.py", "sweep()"]),
    ("sweep_not_callable", "sweep_not_callable.py", [], ["sweep_not_callable.py", "sweep()"]),
    ("not_runconfig", "not_runconfig.py", [], ["not_runconfig.py", "RunConfig", "dict"]),
    ("empty_list", "empty.py", [], ["empty.py", "non-empty"]),
    ("returns_none", "returns_none.py", [], ["returns_none.py", "None"]),
    ("sweep_raises", "sweep_raises.py", [], ["sweep_raises.py", "ZeroDivisionError"]),
    ("invalid_override_inside", "bad_override_inside.py", [], ["bad_override_inside.py", "optim.lr"]),
    ("unknown_key_inside", "unknown_key_inside.py", [], ["unknown_key_inside.py", "optim.learning_rate"]),
    ("bad_kwargs_inside", "bad_kwargs_inside.py", [], ["bad_kwargs_inside.py", "model.kwargs.widht"]),
    ("invalid_set", "good.py", ["--set", "optim.lr=0"], ["good.py", "optim.lr"]),
    ("unknown_set_key", "good.py", ["--set", "optim.lrr=0.1"], ["optim.lrr"]),
    ("malformed_set", "good.py", ["--set", "optim.lr"], ["optim.lr", "key=value"]),
    ("jobs_zero", "good.py", ["--jobs", "0"], ["--jobs", "0"]),
    ("unknown_executor", "good.py", ["--executor", "kubernetes"], ["executor", "'kubernetes'", "slurm"]),
]


@pytest.mark.parametrize("exp, extra, names", [c[1:] for c in SWEEP_CASES], ids=[c[0] for c in SWEEP_CASES])
def test_sweep_rejects_bad_experiments_without_writing(capsys, tmp_path, exp_dir, exp, extra, names):
    out = tmp_path / "out"
    assert_user_error(capsys, ["sweep", str(exp_dir / exp), "--out", str(out), "--no-progress", *extra], names)
    assert not out.exists()


@NO_CUDA
def test_sweep_on_cuda_without_cuda_fails_before_starting(capsys, tmp_path, exp_dir):
    """Like ``largelr run``, a sweep asking for an absent device is a user error found up front, not
    one crashed run per config with exit code 1 and an output directory left behind."""
    out = tmp_path / "out"
    argv = ["sweep", str(exp_dir / "good.py"), "--out", str(out), "--no-progress", "--set", "train.device=cuda"]
    assert_user_error(capsys, argv, ["train.device", "cuda"])
    assert not out.exists()


def test_report_on_empty_dir(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(capsys, ["report", str(empty)], ["no finished runs", str(empty)])
    assert list(empty.iterdir()) == []


def test_report_and_status_on_missing_dir(capsys, tmp_path):
    missing = tmp_path / "missing"
    assert_user_error(capsys, ["report", str(missing)], [str(missing), "not found"])
    assert not missing.exists()
    assert_user_error(capsys, ["status", str(missing)], [str(missing), "not found"])
    assert not missing.exists()


def test_report_with_explicit_out_on_missing_dir(capsys, tmp_path):
    missing, out = tmp_path / "missing", tmp_path / "rep" / "ort"
    assert_user_error(capsys, ["report", str(missing), "--out", str(out)], [str(missing)])
    assert list(tmp_path.iterdir()) == []


def _only_run(study: Path) -> Path:
    (rd,) = store.run_dirs(study)
    assert store.run_state(rd) == "done"
    return rd


@pytest.mark.parametrize(
    "damage",
    ["truncated", "not_json", "json_list", "json_null", "no_metrics", "missing"],
)
def test_damaged_result_json(capsys, study_copy, snapshot, damage):
    rd = _only_run(study_copy)
    result = rd / store.RESULT
    text = result.read_text()
    if damage == "truncated":
        result.write_text(text[: len(text) // 2])
    elif damage == "not_json":
        result.write_bytes(b"\x00\xff garbage")
    elif damage == "json_list":
        result.write_text("[1, 2, 3]")
    elif damage == "json_null":
        result.write_text("null")
    elif damage == "no_metrics":
        result.write_text(json.dumps({"status": "ok"}))
    else:
        result.unlink()
    before = snapshot(study_copy)
    assert_user_error(capsys, ["report", str(study_copy)], ["no finished runs", rd.name, "result.json"])
    assert snapshot(study_copy) == before
    # status names the damaged run and exits 0 (it still counts the rest)
    assert main(["status", str(study_copy)]) == 0
    cap = capsys.readouterr()
    assert f"damaged {rd}: result.json" in cap.out and "Traceback" not in cap.err
    assert snapshot(study_copy) == before
    # `largelr run` of the same config finds the run done and must read its result
    argv = ["run", "--config", str(rd / store.CONFIG), "--out", str(study_copy)]
    assert_user_error(capsys, argv, ["result.json"])
    assert snapshot(study_copy) == before


@pytest.mark.parametrize("damage", ["not_json", "unknown_key"])
def test_damaged_config_json(capsys, study_copy, snapshot, damage):
    rd = _only_run(study_copy)
    cfg = rd / store.CONFIG
    if damage == "not_json":
        cfg.write_text("{")
    else:
        d = json.loads(cfg.read_text())
        d["optim"]["learning_rate"] = d["optim"].pop("lr")
        cfg.write_text(json.dumps(d))
    before = snapshot(study_copy)
    assert_user_error(capsys, ["report", str(study_copy)], ["config.json"])
    assert snapshot(study_copy) == before


def test_existing_report_survives_a_failed_report(capsys, study_copy, snapshot):
    assert main(["report", str(study_copy)]) == 0
    capsys.readouterr()
    (_only_run(study_copy) / store.RESULT).write_text("{")
    before = snapshot(study_copy)
    assert_user_error(capsys, ["report", str(study_copy)], ["result.json"])
    assert snapshot(study_copy) == before


# ---------------------------------------------------------------------------------------------
# the installed command, in a subprocess


def _largelr() -> list[str]:
    script = Path(sys.executable).with_name("largelr")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "largelr"]


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*_largelr(), *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_cli_user_error(proc: subprocess.CompletedProcess, names: list[str]) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for name in names:
        assert name in lines[0]


def test_subprocess_syntax_error_in_experiment(tmp_path, exp_dir):
    proc = _run_cli(["sweep", str(exp_dir / "syntax.py"), "--out", "out"], cwd=tmp_path)
    assert_cli_user_error(proc, ["syntax.py:4:"])
    assert not (tmp_path / "out").exists()


def test_subprocess_bad_override(tmp_path):
    proc = _run_cli(["run", "--out", "out", "--set", "optim.lr=-1", "--set", "model.kwargs.width=8"], cwd=tmp_path)
    assert_cli_user_error(proc, ["optim.lr"])
    assert list(tmp_path.iterdir()) == []


def test_subprocess_corrupt_result(tmp_path, study_copy, snapshot):
    (_only_run(study_copy) / store.RESULT).write_text('{"status": "ok", "metr')
    before = snapshot(study_copy)
    proc = _run_cli(["report", str(study_copy)], cwd=tmp_path)
    assert_cli_user_error(proc, ["result.json", "corrupt"])
    assert snapshot(study_copy) == before

"""Every user mistake is one ``error:`` line and exit 2 with nothing written; experiment files cannot exit
silently; damaged stores are diagnosed run by run (status, report, repair).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from largelr import store
from largelr.cli import main
from largelr.config import run_id
from test_cli_errors import assert_user_error
from tiny import TINY, TINY_SET

# (id, --set values on top of the tiny config, substrings the one error line must contain)
BAD_SETS = [
    (
        "n_test_below_metric_need",
        ["data.n_test=1", "eval.metrics=['counterfactual']"],
        ["data.n_test=1", "'counterfactual'", "at least 2"],
    ),
    (
        "n_test_below_default_set_need",
        ["data.n_test=1", "eval.metrics=['default']"],
        ["data.n_test=1", "counterfactual"],
    ),
    ("kwargs_int_key", ["data.kwargs={1: 2}"], ["data.kwargs", "keys must be strings", "int 1"]),
    ("kwargs_nested_int_key", ["model.kwargs={'width': {3: 4}}"], ["model.kwargs.width", "keys must be strings"]),
    ("kwargs_value_inf", ["model.kwargs.width=1e400"], ["model.kwargs.width", "finite number"]),
    ("epochs_1e400", ["train.steps=None", "train.epochs=1e400"], ["train.epochs", "finite number", "inf"]),
    ("loss_tol_inf", ["train.loss_tol=1e400"], ["train.loss_tol", "finite number"]),
    ("weight_decay_inf", ["optim.weight_decay=1e400"], ["optim.weight_decay", "finite number"]),
    ("lr_nan_text", ["optim.lr=nan"], ["optim.lr", "finite number", "'nan'"]),
    ("lr_inf_text", ["optim.lr=inf"], ["optim.lr", "finite number", "'inf'"]),
    ("momentum_minus_inf_text", ["optim.momentum=-inf"], ["optim.momentum", "finite number"]),
    ("sparsities_inf", ["eval.sparsities=[0.5, 1e400]"], ["eval.sparsities", "finite number"]),
    ("n_train_beyond_capacity", ["data.n_train=1000000000000"], ["data.n_train=1000000000000", "at most 500000"]),
    ("n_test_beyond_capacity", ["data.n_test=600000"], ["data.n_test=600000", "at most 500000"]),
    ("parity_beyond_capacity", ["data.name=parity", "data.n_val=20000000"], ["data.n_val", "'parity'", "10000000"]),
    ("model_width_zero", ["model.kwargs.width=0"], ["width=0"]),
    ("model_depth_negative", ["model.kwargs.depth=-1"], ["depth=-1"]),
]


@pytest.mark.parametrize("sets, names", [c[1:] for c in BAD_SETS], ids=[c[0] for c in BAD_SETS])
def test_run_rejects_before_writing(capsys, tmp_path, sets, names):
    out = tmp_path / "out"
    argv = ["run", "--out", str(out), *TINY_SET, *[a for s in sets for a in ("--set", s)]]
    assert_user_error(capsys, argv, names)
    assert not out.exists()  # no config.json / env.json left behind: the run directory was never made


def test_model_width_zero_leaves_existing_study_unchanged(capsys, study_copy, snapshot):
    before = snapshot(study_copy)
    assert_user_error(capsys, ["run", "--out", str(study_copy), *TINY_SET, "--set", "model.kwargs.width=0"], ["width"])
    assert snapshot(study_copy) == before


@pytest.mark.parametrize(
    "text, names",
    [
        ('{"train": {"steps": null, "epochs": Infinity}}', ["train.epochs", "finite number"]),
        ('{"optim": {"lr": NaN}}', ["optim.lr", "finite number"]),
        ('{"train": {"loss_tol": -Infinity}}', ["train.loss_tol", "finite number"]),
        ('{"data": {"kwargs": {"core_intensity": Infinity}}}', ["data.kwargs.core_intensity", "finite number"]),
        ("[1, 2]", ["<stdin>", "JSON object"]),
        ('{"optim": 3}', ["<stdin>", "'optim'", "object"]),
    ],
    ids=["epochs_infinity", "lr_nan", "loss_tol_minus_inf", "kwargs_infinity", "not_object", "section_not_object"],
)
def test_json_config_on_stdin(capsys, monkeypatch, tmp_path, text, names):
    for cmd in (["config"], ["run", "--out", str(tmp_path / "out")]):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert_user_error(capsys, [*cmd, "--config", "-"], names)
    assert not (tmp_path / "out").exists()


def test_binary_config_file(capsys, tmp_path):
    bad = tmp_path / "c.json"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    assert_user_error(capsys, ["config", "--config", str(bad)], ["c.json", "not valid JSON"])


HEAD = "import sys\nfrom largelr.config import *\n\n"
# experiment files, each wrong in one way: {file name: (body, substrings of the error line)}
BAD_EXPERIMENTS = {
    "epochs_1e400.py": (
        "def sweep():\n    return [RunConfig(train=TrainConfig(steps=None, epochs=1e400))]\n",
        ["epochs_1e400.py", "train.epochs", "finite number"],
    ),
    "steps_str.py": (
        "def sweep():\n    return [RunConfig(train=TrainConfig(steps='300'))]\n",
        ["train.steps", "'300'"],
    ),
    "lr_nan.py": ("def sweep():\n    return [RunConfig(optim=OptimConfig(lr=float('nan')))]\n", ["optim.lr", "finite"]),
    "kwargs_int_key.py": (
        "def sweep():\n    return [RunConfig(data=DataConfig(kwargs={1: 2}))]\n",
        ["kwargs_int_key.py", "keys must be strings"],
    ),
    "kwargs_object.py": (
        "def sweep():\n    return [RunConfig(model=ModelConfig(kwargs={'width': object()}))]\n",
        ["model.kwargs.width", "JSON value", "object"],
    ),
    "section_wrong_type.py": (
        "def sweep():\n    return [RunConfig(data='mnist')]\n",
        ["RunConfig.data", "DataConfig", "str"],
    ),
    "metrics_not_list.py": (
        "def sweep():\n    return [RunConfig(eval=EvalConfig(metrics=5))]\n",
        ["eval.metrics", "int"],
    ),
    "exit0.py": ("sys.exit(0)\n\ndef sweep():\n    return [RunConfig()]\n", ["exit0.py", "sys.exit(0)"]),
    "exit3_in_sweep.py": ("def sweep():\n    sys.exit(3)\n", ["exit3_in_sweep.py", "sweep()", "sys.exit(3)"]),
    "interrupt_in_sweep.py": (
        "def sweep():\n    raise KeyboardInterrupt\n",
        ["interrupt_in_sweep.py", "KeyboardInterrupt", "nothing was run"],
    ),
    "multiline_error.py": (
        "def sweep():\n    raise ValueError('a\\nb\\nc')\n",
        ["multiline_error.py", "ValueError: a b c"],
    ),
    "name_absolute.py": (
        "NAME = '/tmp/elsewhere'\n\ndef sweep():\n    return [RunConfig()]\n",
        ["NAME", "no absolute"],
    ),
    "name_dotdot.py": ("NAME = '../../escape'\n\ndef sweep():\n    return [RunConfig()]\n", ["NAME", "'..'"]),
    "name_not_str.py": ("NAME = 42\n\ndef sweep():\n    return [RunConfig()]\n", ["NAME", "string", "42"]),
    "name_empty.py": ("NAME = ''\n\ndef sweep():\n    return [RunConfig()]\n", ["NAME", "non-empty"]),
}


@pytest.mark.parametrize("fname", list(BAD_EXPERIMENTS))
def test_bad_experiment_file(capsys, tmp_path, monkeypatch, fname):
    body, names = BAD_EXPERIMENTS[fname]
    (tmp_path / fname).write_text(HEAD + body)
    monkeypatch.chdir(tmp_path)  # the default output runs/<NAME> would land here
    assert_user_error(capsys, ["sweep", fname, "--no-progress"], names)
    assert sorted(p.name for p in tmp_path.iterdir()) == [fname]
    assert not Path("/tmp/elsewhere").exists()


def test_experiment_int_for_float_gives_the_same_run_id_as_set(tmp_path):
    """Experiment configs go through set_path: lr=1 (int) is the run of --set optim.lr=1."""
    from largelr.config import RunConfig, apply_overrides
    from largelr.sweep import load_experiment

    (tmp_path / "e.py").write_text(HEAD + "def sweep():\n    return [RunConfig(optim=OptimConfig(lr=1))]\n")
    (cfg,) = load_experiment(tmp_path / "e.py").configs
    assert run_id(cfg) == run_id(apply_overrides(RunConfig(), ["optim.lr=1.0"]))


def test_run_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert_user_error(capsys, ["run", "--out", str(f), *TINY_SET], [str(f), "is a file"])
    assert_user_error(capsys, ["run", "--out", str(f / "a" / "b"), *TINY_SET], [str(f), "a file"])
    assert_user_error(capsys, ["sweep", "quickstart", "--out", str(f / "s"), "--no-progress"], [str(f), "a file"])
    assert [p.name for p in tmp_path.iterdir()] == ["file"] and f.read_text() == "x"


def test_report_out_is_a_file(capsys, study_copy, snapshot, tmp_path):
    f = tmp_path / "rep.html"
    f.write_text("x")
    before = snapshot(study_copy)
    assert_user_error(capsys, ["report", str(study_copy), "--out", str(f)], [str(f), "is a file"])
    assert snapshot(study_copy) == before and f.read_text() == "x"


def _unprivileged() -> list[str]:
    """A command prefix under which this user cannot write a mode-555 directory: nothing for a normal
    user; for root (which ignores permission bits) setpriv dropping CAP_DAC_OVERRIDE and friends."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not installed: cannot make a directory unwritable for root")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here")
    return prefix


@pytest.mark.slow
def test_read_only_output_directory(tmp_path, finished_study):
    prefix = _unprivileged()
    ro = tmp_path / "ro"
    shutil.copytree(finished_study, ro / "study")
    exp = _experiment(tmp_path, "optim.lr=0.3")
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = sorted(str(p) for p in ro.rglob("*"))
    cases = [
        (["run", "--out", str(ro / "new"), *TINY_SET], [str(ro), "not writable"]),
        (["run", "--out", str(ro / "study"), *TINY_SET, "--set", "optim.lr=0.3"], ["study", "not writable"]),
        (["sweep", str(exp), "--out", str(ro / "study"), "--no-progress"], ["study", "not writable"]),
        (["report", str(ro / "study")], ["report directory", "not writable"]),
    ]
    # one unprivileged interpreter runs every case (starting torch once per case is slow)
    script = (
        "import contextlib, io, json, sys\nfrom largelr.cli import main\nout = []\n"
        "for argv in json.loads(sys.argv[1]):\n    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n        rc = main(argv)\n    out.append((rc, err.getvalue()))\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", script, json.dumps([c[0] for c in cases])],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        for (argv, names), (rc, err) in zip(cases, json.loads(proc.stdout.splitlines()[-1])):
            assert rc == 2, (argv, err)
            lines = [line for line in err.splitlines() if not line.startswith("INFO ")]  # progress logging
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            assert all(n in lines[0] for n in names), (names, lines[0])
        assert sorted(str(p) for p in ro.rglob("*")) == before
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def _experiment(tmp_path: Path, *extra: str) -> Path:
    exp = tmp_path / "exp.py"
    exp.write_text(
        "from largelr.config import RunConfig, apply_overrides\n\n"
        f"def sweep():\n    return [apply_overrides(RunConfig(), {[*TINY, *extra]!r})]\n"
    )
    return exp


@pytest.mark.parametrize("jobs", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_config_error_inside_sweep_is_not_a_crash(capsys, tmp_path, jobs):
    """width=0 passes the registry's type checks and fails in the model factory, inside the run: the
    sweep says the config is invalid (exit 2), not "rerun to retry", and leaves no run directory."""
    out = tmp_path / "out"
    rc = main(
        [
            "sweep",
            str(_experiment(tmp_path, "model.kwargs.width=0")),
            "--out",
            str(out),
            "--no-progress",
            "--jobs",
            jobs,
        ]
    )
    cap = capsys.readouterr()
    assert rc == 2, (cap.out, cap.err)
    assert "Rerun the same command" not in cap.out + cap.err and "Traceback" not in cap.out + cap.err
    assert "invalid config" in cap.err and "width=0" in cap.err
    assert store.run_dirs(out) == []


# ---------------------------------------------------------------------------------------------
# damaged stores


@pytest.fixture
def two_copy(two_runs, tmp_path) -> Path:
    dst = tmp_path / "study"
    shutil.copytree(two_runs, dst)
    return dst


def _status(capsys, study: Path, *extra: str) -> list[str]:
    rc = main(["status", str(study), *extra])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.err, cap
    return cap.out.splitlines()


DAMAGES = {  # name: (file, how, the problem status names)
    "config_missing": (store.CONFIG, "delete", "config.json is missing"),
    "config_corrupt": (store.CONFIG, "{", "config.json is corrupt"),
    "env_missing": (store.ENV, "delete", "env.json is missing"),
    "env_corrupt": (store.ENV, "\x00\xff", "env.json is corrupt"),
    "env_not_object": (store.ENV, "[]", "env.json is not a JSON object"),
    "result_missing": (store.RESULT, "delete", "result.json is missing"),
    "result_truncated": (store.RESULT, "half", "result.json is corrupt"),
    "result_unknown_status": (store.RESULT, '{"status": "great", "metrics": {}}', "unknown status 'great'"),
    "result_no_metrics": (store.RESULT, '{"status": "ok"}', "no 'metrics'"),
    "history_corrupt": (store.HISTORY, "{not json\n", "history.jsonl is corrupt"),
    "history_not_object": (store.HISTORY, "0\n", "history.jsonl is corrupt"),  # found by test_fuzz
    "weights_missing": (store.WEIGHTS, "delete", "model.pt is missing"),
}


def damage(rd: Path, fname: str, how: str) -> None:
    path = rd / fname
    if how == "delete":
        path.unlink()
    elif how == "half":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_text(how)


@pytest.mark.parametrize("name", list(DAMAGES))
def test_status_and_strict_report_name_the_damaged_run(capsys, two_copy, snapshot, tmp_path, name):
    fname, how, problem = DAMAGES[name]
    bad, good = store.run_dirs(two_copy)
    damage(bad, fname, how)
    before = snapshot(two_copy)
    lines = _status(capsys, two_copy)
    assert lines[0] == f"{two_copy}: 1 done (1 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 1 damaged"
    assert lines[1].startswith(f"damaged {bad}: ") and problem in lines[1]
    assert good.name not in "\n".join(lines)
    assert_user_error(capsys, ["report", str(two_copy), "--strict", "--out", str(tmp_path / "r")], [bad.name, problem])
    assert not (tmp_path / "r").exists()
    assert snapshot(two_copy) == before


def test_report_skips_damaged_run_and_names_it(capsys, caplog, two_copy, snapshot, tmp_path):
    bad, good = store.run_dirs(two_copy)
    (bad / store.RESULT).write_text('{"status": "ok", "metr')
    before = snapshot(two_copy)
    rc = main(["report", str(two_copy), "--out", str(tmp_path / "r")])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.err
    assert f"skipping damaged run {bad}: result.json is corrupt" in caplog.text
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Damaged runs" in md and f"{bad.name} (result.json is corrupt" in md
    assert "1 finished runs" in md and good.name in (tmp_path / "r" / "runs.csv").read_text()
    assert bad.name not in (tmp_path / "r" / "runs.csv").read_text()
    assert snapshot(two_copy) == before


def test_all_runs_damaged_report_names_them(capsys, study_copy):
    (rd,) = store.run_dirs(study_copy)
    (rd / store.ENV).unlink()
    assert_user_error(
        capsys, ["report", str(study_copy)], ["no finished runs", "1 damaged", rd.name, "env.json is missing"]
    )


def test_verify_deep_finds_bad_weights_and_status_names_a_wrong_hash(capsys, two_copy):
    a, b = store.run_dirs(two_copy)
    (a / store.WEIGHTS).write_bytes(b"not a zip archive")
    assert store.verify_run(a) == []  # the shallow check sees the file, not what is in it
    assert _status(capsys, two_copy)[0].endswith("2 done (2 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 0 damaged")
    lines = _status(capsys, two_copy, "--verify")
    assert lines[0].endswith("1 done (1 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 1 damaged")
    assert lines[1].startswith(f"damaged {a}: model.pt does not load (")
    # a config.json that hashes to its directory's name under no id rule (renamed by hand): damage, per run
    moved = two_copy / "0123456789abcdef"
    b.rename(moved)
    lines = _status(capsys, two_copy)
    assert lines[0].endswith("1 done (1 ok), 0 running, 0 failed, 0 stale, 0 incomplete, 1 damaged")
    assert lines[1].startswith(f"damaged {moved}: config.json hashes to {b.name}, not to the directory name under")


def test_done_without_config_is_damaged_for_sweep_status_and_report(capsys, tmp_path, snapshot):
    """DONE but no config.json: sweep does not count it done (nor redo it silently), status and report
    name it; repair deletes it and the next sweep redoes it."""
    exp, out = _experiment(tmp_path), tmp_path / "out"
    assert main(["sweep", str(exp), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    (rd,) = store.run_dirs(out)
    (rd / store.CONFIG).unlink()
    before = snapshot(out)

    assert main(["sweep", str(exp), "--out", str(out), "--no-progress"]) == 1
    cap = capsys.readouterr()
    assert "1 runs: 0 already done, 0 run now" in cap.out
    assert f"1 runs are damaged and were not redone ({rd.name})" in cap.out
    assert f"damaged {rd}: config.json is missing" in _status(capsys, out)
    assert_user_error(capsys, ["report", str(out)], [rd.name, "config.json is missing"])
    assert snapshot(out) == before

    # repair: asks; "n" keeps, "y" deletes
    for answer, rc, kept in (("n\n", 1, True), ("", 1, True), ("y\n", 0, False)):
        sys_stdin = sys.stdin
        sys.stdin = io.StringIO(answer)
        try:
            assert main(["repair", str(out)]) == rc
        finally:
            sys.stdin = sys_stdin
        cap = capsys.readouterr()
        assert f"damaged {rd}: config.json is missing" in cap.out
        assert rd.exists() == kept
    assert main(["sweep", str(exp), "--out", str(out), "--no-progress"]) == 0
    assert "0 already done, 1 run now (1 ok)" in capsys.readouterr().out
    assert store.verify_run(rd, deep=True) == []


def test_repair_yes_deletes_only_damaged_runs(capsys, two_copy):
    bad, good = store.run_dirs(two_copy)
    (bad / store.RESULT).write_text("{")
    incomplete = two_copy / "ffffffffffffffff"
    incomplete.mkdir()
    (incomplete / store.CONFIG).write_text("{}")  # unfinished: the next sweep redoes it, not repair's business
    assert main(["repair", str(two_copy), "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"damaged {bad}: result.json is corrupt" in out and "deleted 1 damaged runs" in out
    assert not bad.exists() and good.exists() and incomplete.exists()
    assert main(["repair", str(two_copy)]) == 0
    assert "no damaged runs" in capsys.readouterr().out

"""Bad input: every traceback, hang and silent success on a bad target that an adversarial run found is one
``error:`` line with exit 2 (what was wrong, what is allowed), found before anything is created."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from largelr.cli import main
from test_cli_errors import assert_user_error
from tiny import TINY, TINY_SET

# (id, extra --set values on the tiny config, substrings of the one error line)
BOUNDS = [
    ("steps_1e26", ["train.steps=" + "1" + "0" * 26], ["train.steps", "[1, 10,000,000]"]),
    ("jtt_steps_1e30", ["train.jtt_steps=" + "1" + "0" * 30], ["train.jtt_steps", "[1, 10,000,000]"]),
    ("epochs_1e30", ["train.steps=None", "train.epochs=1e30"], ["train.epochs=1e+30", "more than the 10,000,000"]),
    ("width_1e10", ["model.kwargs.width=10000000000"], ["too large to build at all", "overflows", "smaller width"]),
    (
        "width_1e6",
        ["model.kwargs.width=1000000"],
        ["1,001,578,000,000 parameters", "about 14,924.7 GiB (16 bytes per parameter)", "smaller width"],
    ),
]


@pytest.mark.parametrize("sets, names", [c[1:] for c in BOUNDS], ids=[c[0] for c in BOUNDS])
def test_unbounded_settings_are_refused_before_anything_is_written(capsys, tmp_path, sets, names):
    """steps=1e26 and jtt_steps=1e30 used to train forever; width=1e10 crashed allocating memory."""
    out = tmp_path / "out"
    argv = ["run", "--out", str(out), *TINY_SET, *[a for s in sets for a in ("--set", s)]]
    t0 = time.perf_counter()
    assert_user_error(capsys, argv, names)
    assert time.perf_counter() - t0 < 60 and not out.exists()


def test_the_step_bound_is_inclusive():
    from largelr.config import MAX_STEPS, RunConfig, apply_overrides

    assert MAX_STEPS == 10_000_000
    assert apply_overrides(RunConfig(), [f"train.steps={MAX_STEPS}"]).train.steps == MAX_STEPS
    assert apply_overrides(RunConfig(), [f"train.jtt_steps={MAX_STEPS}"]).train.jtt_steps == MAX_STEPS


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_deeply_nested_json_config(capsys, monkeypatch, tmp_path, where):
    """A RecursionError traceback before."""
    text = '{"model": {"kwargs": {"width": ' + "[" * 100_000 + "]" * 100_000 + "}}}"
    if where == "file":
        (tmp_path / "deep.json").write_text(text)
        arg = str(tmp_path / "deep.json")
    else:
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        arg = "-"
    assert_user_error(capsys, ["config", "--config", arg], ["nested too deeply"])


EXPERIMENT = (
    "from largelr.config import RunConfig, apply_overrides\n\n"
    "def sweep():\n    return [apply_overrides(RunConfig(), {sets!r})]\n"
)


@pytest.fixture
def exp(tmp_path) -> Path:
    path = tmp_path / "exp.py"
    path.write_text(EXPERIMENT.format(sets=TINY))
    return path


EXECUTOR_CASES = [
    ("slurm_absent", ["--executor", "slurm", "--partition", "x"], "no-slurm", ["--executor slurm", "srun", "PATH"]),
    ("ray_bad_address", ["--executor", "ray", "--address", "not_an_address"], "", ["--address", "HOST:PORT"]),
    ("ray_bad_port", ["--executor", "ray", "--address", "host:99999"], "", ["--address", "'host:99999'"]),
    ("ray_nobody_there", ["--executor", "ray", "--address", "127.0.0.1:1"], "", ["cannot reach", "127.0.0.1:1"]),
    ("ray_gpus_inf", ["--executor", "ray", "--gpus-per-run", "inf"], "", ["--gpus-per-run", "finite", "inf"]),
    ("ray_cpus_zero", ["--executor", "ray", "--cpus-per-run", "0"], "", ["--cpus-per-run", "> 0"]),
    ("slurm_gpus_inf", ["--executor", "slurm", "--gpus-per-run", "inf"], "", ["--gpus-per-run", "finite"]),
    ("address_with_local", ["--address", "auto"], "", ["--address", "ray executor, not of local"]),
    ("partition_with_ray", ["--executor", "ray", "--partition", "gpu"], "", ["--partition", "slurm executor"]),
    ("jobs_with_dry", ["--executor", "dry", "--jobs", "3"], "", ["--jobs", "local executor, not of dry"]),
]


@pytest.mark.parametrize("extra, env, names", [c[1:] for c in EXECUTOR_CASES], ids=[c[0] for c in EXECUTOR_CASES])
def test_executor_options_are_checked_before_anything_is_created(capsys, monkeypatch, tmp_path, exp, extra, env, names):
    """slurm absent: 'Could not detect srun' traceback and an empty out directory; ray: a bad address
    was a traceback, 127.0.0.1:1 retried for 10 minutes; inf GPUs a traceback; --address with the local
    executor was ignored."""
    if env == "no-slurm":
        monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "out"
    t0 = time.perf_counter()
    assert_user_error(capsys, ["sweep", str(exp), "--out", str(out), "--no-progress", *extra], names)
    assert time.perf_counter() - t0 < 30 and not out.exists()


def test_library_callers_passing_a_default_along_are_not_refused():
    """`largelr reproduce mechanism --executor dry` (no --jobs) refused: "executor 'dry' has no option(s)
    jobs" -- run_target passes jobs=1, the default, which is no choice of the user's."""
    from largelr.errors import UserError
    from largelr.sweep.executors import executor_options

    assert vars(executor_options("dry", jobs=1)) == {}
    assert vars(executor_options("local", jobs=3)) == {"jobs": 3}
    with pytest.raises(UserError, match="executor 'dry' has no option\\(s\\) jobs"):
        executor_options("dry", jobs=3)
    with pytest.raises(UserError, match="no option\\(s\\) speed"):
        executor_options("local", speed=1)


def test_reproduce_dry_without_jobs(capsys, monkeypatch, tmp_path):
    assert main(["reproduce", "mechanism", "--preset", "tiny", "--executor", "dry", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert out.count("largelr run --out") >= 2 and not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "argv, names",
    [
        (["run", "--out", "", *TINY_SET], ["--out must name a directory", "''"]),
        (["run", "--out", "  ", *TINY_SET], ["--out must name a directory"]),
        (["sweep", "quickstart", "--out", "", "--no-progress"], ["--out must name a directory"]),
        (["report", "{tmp}", "--out", ""], ["--out must name a directory"]),
    ],
    ids=["run", "run_blank", "sweep", "report"],
)
def test_empty_out_is_refused(capsys, monkeypatch, tmp_path, argv, names):
    """`run --out ''` trained into the current directory."""
    monkeypatch.chdir(tmp_path)
    assert_user_error(capsys, [a.format(tmp=tmp_path) for a in argv], names)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [".", "./", "a/.."])
def test_experiment_name_must_be_a_directory_inside_runs(capsys, monkeypatch, tmp_path, name):
    """NAME = "." made runs/ itself the study."""
    (tmp_path / "e.py").write_text(f"NAME = {name!r}\n" + EXPERIMENT.format(sets=TINY))
    monkeypatch.chdir(tmp_path)
    assert_user_error(capsys, ["sweep", "e.py", "--no-progress"], ["NAME", repr(name)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.py"]


@pytest.mark.parametrize(
    "out, extra, names",
    [
        ("x.nope", [], ["--out 'x.nope'", "unknown image format 'nope'", ".png"]),
        ("grid", [], ["--out 'grid'", "no image format", ".png"]),
        ("{tmp}", [], ["--out", "a directory"]),
        ("", [], ["--out must be an image file"]),
        ("{tmp}/file/g.png", [], ["is a file, not a directory"]),
        ("g.png", ["--per-group", "0"], ["--per-group", "between 1 and 64", "got 0"]),
        ("g.png", ["--per-group", "100000"], ["--per-group", "got 100000"]),
    ],
    ids=["unknown_format", "no_extension", "directory", "empty", "under_a_file", "per_group_0", "per_group_huge"],
)
def test_data_preview_bad_targets(capsys, monkeypatch, tmp_path, out, extra, names):
    """x.nope and --per-group 0 were tracebacks; --out DIR silently wrote DIR.png beside it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    argv = ["data", "preview", "double_mnist", "--out", out.format(tmp=tmp_path), *extra]
    assert_user_error(capsys, argv, names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_data_download_into_a_file(capsys, tmp_path):
    """`data download mnist --dir <a file>` was a traceback (FileExistsError)."""
    f = tmp_path / "file"
    f.write_text("x")
    assert_user_error(capsys, ["data", "download", "mnist", "--dir", str(f)], [str(f), "is a file"])
    assert f.read_text() == "x"

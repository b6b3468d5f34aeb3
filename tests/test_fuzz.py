"""Property-based tests (hypothesis): whatever a user types, pipes or returns, the CLI exits 0 or 2 with
no traceback, and whatever damage is done to a run's files, ``status`` and ``report`` name that run.

Bounded example counts keep the whole file well under a minute; ``derandomize`` makes CI runs repeatable.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from largelr import store
from largelr.cli import main
from largelr.config import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    SeedConfig,
    TrainConfig,
    valid_keys,
)
from largelr.report.collect import load_attribution_maps, load_curves, load_histories, load_results

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KWARG_NAMES = ["width", "depth", "core_side", "x"]
KEYS = [k.replace(".<name>", f".{n}") for k in valid_keys() for n in (KWARG_NAMES if "<name>" in k else [""])]
KEYS += ["data.kwargs", "model.kwargs"]
TRICKY = ["None", "True", "nan", "-inf", "1e400", "10**12", "1000000000000", "[1, 2]", "{1: 2}", "((((", "{[1]}",
          "'x'", "-1", "0", "1e-400", "[]", "{}", "9" * 5000, "[" * 200, "b'x'", "1j",
          "{'a': float('nan')}"]  # fmt: skip
VALUE_TEXT = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=20),
    st.integers().map(str),
    st.floats().map(repr),
    st.lists(st.floats(), max_size=3).map(repr),
)
SET_ITEM = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), VALUE_TEXT),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.sampled_from(TRICKY)),
)


def check_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process: exit 0 or 2, no traceback, and on 2 exactly one ``error:`` line."""
    rc = main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    assert rc in (0, 2), (argv, rc, cap.err)
    if rc == 2:
        lines = cap.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), cap.err
    return rc, cap.out, cap.err


@settings(FUZZ, max_examples=120)
@given(items=st.lists(SET_ITEM, min_size=1, max_size=3))
def test_any_set_string(capsys, items):
    # --set=VALUE: a value starting with "-" is then a value, not an option (argparse's usage error)
    check_cli(capsys, ["config", *[f"--set={i}" for i in items]])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
SECTIONED = st.dictionaries(
    st.sampled_from(["data", "model", "optim", "train", "eval", "seeds", "other"]),
    st.dictionaries(st.sampled_from([k.split(".", 1)[1] for k in KEYS if "." in k] + ["zzz"]), JSON, max_size=3),
    max_size=3,
)


@FUZZ
@given(obj=st.one_of(JSON, SECTIONED), raw=st.booleans())
def test_any_json_on_stdin(capsys, monkeypatch, obj, raw):
    text = json.dumps(obj) if not raw else json.dumps(obj)[:-1]  # raw: a truncated document
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    check_cli(capsys, ["config", "--config", "-"])


ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.just(object()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=3)
    ),
    max_leaves=6,
)
SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "train": TrainConfig, "eval": EvalConfig,
            "seeds": SeedConfig}  # fmt: skip


@st.composite
def run_configs(draw) -> RunConfig:
    """A RunConfig as Python code could build it: any section field may hold any value."""
    import dataclasses

    parts = {}
    for name, cls in SECTIONS.items():
        fields = [f.name for f in dataclasses.fields(cls)]
        chosen = draw(st.lists(st.sampled_from(fields), max_size=2, unique=True))
        parts[name] = cls(**{f: draw(ANY) for f in chosen})
    if draw(st.booleans()):
        parts[draw(st.sampled_from(list(SECTIONS)))] = draw(ANY)  # a section of the wrong type
    return RunConfig(**parts)


@pytest.fixture(scope="module")
def payload_experiment(tmp_path_factory) -> Path:
    """An experiment file whose sweep() returns whatever the test put in ``largelr_fuzz_payload.VALUE``."""
    sys.modules["largelr_fuzz_payload"] = types.ModuleType("largelr_fuzz_payload")
    path = tmp_path_factory.mktemp("fuzz") / "payload.py"
    path.write_text("import largelr_fuzz_payload\n\n\ndef sweep():\n    return largelr_fuzz_payload.VALUE\n")
    yield path
    del sys.modules["largelr_fuzz_payload"]


@FUZZ
@given(value=st.one_of(st.lists(run_configs(), min_size=1, max_size=2), ANY, run_configs()))
def test_any_experiment_return_value(capsys, payload_experiment, tmp_path, value):
    sys.modules["largelr_fuzz_payload"].VALUE = value
    out = tmp_path / "never"
    check_cli(capsys, ["sweep", str(payload_experiment), "--executor", "dry", "--out", str(out), "--no-progress"])
    assert not out.exists()


DAMAGE = st.one_of(
    st.tuples(st.just("delete")),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=4)),
    st.tuples(st.just("replace"), st.binary(max_size=40)),
)


def apply_damage(path: Path, how: tuple) -> None:
    if how[0] == "delete":
        path.unlink()
    elif how[0] == "truncate":
        path.write_bytes(path.read_bytes()[: int(how[1] * path.stat().st_size)])
    elif how[0] == "flip":
        data = bytearray(path.read_bytes())
        for where, byte in how[1]:
            if data:
                data[min(int(where * len(data)), len(data) - 1)] = byte
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(how[1])


@settings(FUZZ, max_examples=30)
@given(which=st.integers(0, 1), fname=st.sampled_from(store.STORE_FILES), how=DAMAGE)
def test_any_damaged_run_is_named(capsys, two_runs, which, fname, how):
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study"
        shutil.copytree(two_runs, study)
        rd, other = store.run_dirs(study)[which], store.run_dirs(study)[1 - which]
        if (rd / fname).exists():
            apply_damage(rd / fname, how)
        deep, shallow = store.verify_run(rd, deep=True), store.verify_run(rd)
        assert store.verify_run(other, deep=True) == []
        if fname == store.DONE and not (rd / store.DONE).exists():
            assert deep == []  # no DONE: an unfinished run, redone by the next sweep, not damaged

        _, out, _ = check_cli(capsys, ["status", str(study), "--verify"])
        assert (f"damaged {rd}: " in out) == bool(deep), out
        assert f"damaged {other}" not in out

        if shallow:  # report --strict stops before rendering; it must name the run
            rc, _, err = check_cli(capsys, ["report", str(study), "--strict", "--out", str(Path(tmp) / "r")])
            assert rc == 2 and rd.name in err
        # whatever was not detected must still be readable by every report loader
        df = load_results(study)
        assert set(df["run_id"]) == ({other.name} if shallow else {other.name, rd.name}) - (
            {rd.name} if not (rd / store.DONE).exists() else set()
        )
        load_curves(study), load_histories(study), load_attribution_maps(study)

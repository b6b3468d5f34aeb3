"""Config: dotted overrides, type and range errors, suggestions, JSON round-trip, run ids, grids."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from largelr.config import (
    RunConfig,
    apply_overrides,
    flatten,
    from_dict,
    load_json,
    parse_value,
    run_id,
    to_dict,
    to_json,
    valid_keys,
)
from largelr.errors import ConfigError, UserError
from largelr.sweep import grid, log_space
from largelr.validate import check_config

# ---------------------------------------------------------------------------------------------
# overrides


def test_dotted_overrides_set_typed_fields_and_kwargs():
    cfg = apply_overrides(RunConfig(), ["optim.lr=0.05", "model.kwargs.width=64"])
    assert cfg.optim.lr == 0.05
    assert cfg.model.kwargs == {"width": 64}
    # everything else keeps its default
    assert cfg.data == RunConfig().data and cfg.train == RunConfig().train
    assert RunConfig().model.kwargs == {}  # the default was not mutated


def test_override_values_are_parsed_as_literals():
    cfg = apply_overrides(
        RunConfig(),
        [
            "optim.lr=1",  # int accepted for float, stored as float
            "optim.name=adam",  # bare word stays a string
            "train.until='budget'",  # quoted string
            "train.steps=None",
            "train.epochs=2.5",
            "eval.sparsities=[0.0, 0.5]",  # list becomes a tuple
            " seeds.init = 3 ",  # whitespace around key and value is ignored
            "data.kwargs.core_side=right",
        ],
    )
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.name == "adam"
    assert cfg.train.until == "budget"
    assert cfg.train.steps is None and cfg.train.epochs == 2.5
    assert cfg.eval.sparsities == (0.0, 0.5)
    assert cfg.seeds.init == 3
    assert cfg.data.kwargs == {"core_side": "right"}
    assert parse_value("0.1") == 0.1 and parse_value("[1, 2]") == [1, 2] and parse_value("x=y") == "x=y"


def test_later_override_wins_and_whole_kwargs_dict_replaces():
    cfg = apply_overrides(RunConfig(), ["optim.lr=0.1", "optim.lr=0.2", "model.kwargs.width=8"])
    assert cfg.optim.lr == 0.2
    cfg = apply_overrides(cfg, ["model.kwargs={'depth': 3}"])
    assert cfg.model.kwargs == {"depth": 3}


def test_validation_runs_after_all_overrides():
    # switching from steps to epochs takes two overrides; the intermediate state is not checked
    cfg = apply_overrides(RunConfig(), ["train.steps=None", "train.epochs=3"])
    assert (cfg.train.steps, cfg.train.epochs) == (None, 3)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optim.lr=fast", "optim.lr must be float, got str 'fast'"),
        ("optim.lr='0.1'", "optim.lr must be float, got str '0.1'"),
        ("optim.lr=True", "optim.lr must be float, got bool True"),
        ("train.batch_size=1.5", "train.batch_size must be int, got float 1.5"),
        ("train.batch_size=True", "train.batch_size must be int, got bool True"),
        ("train.steps=100.0", "train.steps must be int or None, got float 100.0"),
        ("train.until=forever", "train.until must be one of 'converged', 'budget'"),
        ("optim.name=rmsprop", "optim.name must be one of 'sgd', 'adam'"),
        ("eval.metrics=robustness", "eval.metrics must be a list of str"),
        ("eval.sparsities=[0.1, 'x']", "eval.sparsities must be a list of float"),
        ("model.kwargs=3", "model.kwargs must be a dict, got int"),
        ("seeds.init=-", "seeds.init must be int, got str '-'"),
    ],
)
def test_type_errors_name_key_expected_type_and_value(override, expected):
    with pytest.raises(ConfigError) as e:
        apply_overrides(RunConfig(), [override])
    assert expected in str(e.value)


@pytest.mark.parametrize(
    "key, suggestion",
    [("optim.lrr", "optim.lr"), ("optm.lr", "optim.lr"), ("train.batchsize", "train.batch_size"), ("seed.init", None)],
)
def test_unknown_key_suggests_close_matches_and_lists_valid_keys(key, suggestion):
    with pytest.raises(ConfigError) as e:
        apply_overrides(RunConfig(), [f"{key}=1"])
    msg = str(e.value)
    assert f"unknown config key {key!r}" in msg
    if suggestion:
        assert f"did you mean {suggestion}" in msg
    listed = msg.split("valid keys: ")[1].split(", ")
    assert listed == valid_keys()
    assert "optim.lr" in listed and "model.kwargs.<name>" in listed and "train.device" in listed
    assert "\n" not in msg


@pytest.mark.parametrize("key", ["optim", "optim.lr.extra", "data", ""])
def test_incomplete_or_too_deep_paths_are_unknown_keys(key):
    with pytest.raises(ConfigError, match="unknown config key"):
        apply_overrides(RunConfig(), [f"{key}=1"])


def test_override_without_equals_sign():
    with pytest.raises(ConfigError, match=r"override 'optim.lr' must look like key=value"):
        apply_overrides(RunConfig(), ["optim.lr"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("data.rho=1.5", "data.rho"),
        ("data.rho=-0.1", "data.rho"),
        ("data.n_train=0", "data.n_train"),
        ("optim.lr=0", "optim.lr"),
        ("optim.lr=-0.1", "optim.lr"),
        ("optim.lr=1e400", "optim.lr"),  # literal_eval gives inf
        ("optim.momentum=1.0", "optim.momentum"),
        ("optim.weight_decay=-1", "optim.weight_decay"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.batch_size=-5", "train.batch_size"),
        ("train.steps=0", "train.steps"),
        ("train.epochs=2", "train.epochs"),  # steps is set by default: both set
        ("train.steps=None", "train.epochs"),  # neither set
        ("train.loss_tol=0", "train.loss_tol"),
        ("train.eval_every=0", "train.eval_every"),
        ("train.fail_after=-1", "train.fail_after"),
        ("train.device=tpu", "train.device"),
        ("eval.kappa=1.0", "eval.kappa"),
        ("eval.sparsities=[]", "eval.sparsities"),
        ("eval.sparsities=[1.0]", "eval.sparsities"),
        ("eval.metrics=[]", "eval.metrics"),
        ("eval.n_repr=1", "eval.n_repr"),
    ],
)
def test_range_errors_name_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        apply_overrides(RunConfig(), [override])
    assert key in str(e.value)


def test_config_errors_are_user_errors():
    assert issubclass(ConfigError, UserError)


# ---------------------------------------------------------------------------------------------
# serialisation


CUSTOM = [
    "optim.lr=0.05",
    "optim.name=adam",
    "model.kwargs.width=64",
    "model.kwargs.depth=3",
    "data.kwargs.core_side=right",
    "train.steps=None",
    "train.epochs=1.5",
    "eval.metrics=['robustness']",
    "eval.sparsities=[0.0, 0.25]",
    "seeds.data=7",
]


@pytest.mark.parametrize("overrides", [[], CUSTOM], ids=["defaults", "custom"])
def test_json_round_trip(overrides):
    cfg = apply_overrides(RunConfig(), overrides)
    back = from_dict(json.loads(to_json(cfg)))
    assert back == cfg
    assert run_id(back) == run_id(cfg)
    assert from_dict(json.loads(to_json(cfg, indent=2))) == cfg


def test_load_json_round_trip_and_errors(tmp_path):
    cfg = apply_overrides(RunConfig(), CUSTOM)
    path = tmp_path / "config.json"
    path.write_text(to_json(cfg, indent=2))
    assert load_json(path) == cfg
    with pytest.raises(ConfigError, match="config file not found"):
        load_json(tmp_path / "missing.json")
    path.write_text("{bad json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_json(path)
    path.write_text('{"optim": {"lrr": 0.1}}')
    with pytest.raises(ConfigError, match="did you mean optim.lr"):
        load_json(path)


def test_from_dict_accepts_partial_dicts():
    cfg = from_dict({"optim": {"lr": 0.3}, "model": {"kwargs": {"width": 8}}})
    assert cfg == apply_overrides(RunConfig(), ["optim.lr=0.3", "model.kwargs.width=8"])


def test_canonical_json_is_stable():
    a = apply_overrides(RunConfig(), ["model.kwargs.width=64", "model.kwargs.depth=3", "optim.lr=0.05"])
    b = apply_overrides(RunConfig(), ["optim.lr=0.05", "model.kwargs.depth=3", "model.kwargs.width=64"])
    assert a.model.kwargs == b.model.kwargs and list(a.model.kwargs) != list(b.model.kwargs)
    assert to_json(a) == to_json(b) == to_json(a)
    text = to_json(a)
    assert ": " not in text and ", " not in text  # fixed compact separators
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert to_dict(a)["eval"]["sparsities"] == list(a.eval.sparsities)  # tuples become lists
    nested = apply_overrides(a, ["data.kwargs.sizes=[1, 2]", "eval.metrics=['robustness']"])
    for cfg in (RunConfig(), a, nested):  # the written-out conversion is asdict's, on every field
        assert to_dict(cfg) == json.loads(json.dumps(dataclasses.asdict(cfg)))


# ---------------------------------------------------------------------------------------------
# run ids


def test_run_id_is_stable_and_ignores_only_the_device():
    base = RunConfig()
    rid = run_id(base)
    assert len(rid) == 16 and all(c in "0123456789abcdef" for c in rid)
    assert run_id(RunConfig()) == rid == run_id(base)
    assert run_id(apply_overrides(base, ["train.device=cuda:1"])) == rid
    assert run_id(apply_overrides(base, ["train.device=mps"])) == rid
    changed = [
        "optim.lr=0.05",
        "seeds.init=1",
        "seeds.order=1",
        "seeds.data=1",
        "model.kwargs.width=64",
        "data.kwargs.core_side=right",
        "train.eval_every=100",
        "eval.kappa=0.2",
    ]
    ids = {run_id(apply_overrides(base, [o])) for o in changed}
    assert len(ids) == len(changed) and rid not in ids


# Literal run ids: an accidental change of the id rule renames every stored run, so it must fail here.
# Each id is also re-derived from a hand-written canonical string (the config minus its defaults).
PINNED = [
    ([], "{}", "44136fa355b3678a"),
    (
        [
            "data.n_train=10000",
            "train.steps=4000",
            "train.eval_every=500",
            "optim.lr=0.1",
            "seeds.data=1",
            "seeds.init=1",
            "seeds.order=1",
        ],
        '{"seeds":{"data":1,"init":1,"order":1},"train":{"eval_every":500,"steps":4000}}',
        "cb92f8f1e97834bb",
    ),
    (
        CUSTOM,
        '{"data":{"kwargs":{"core_side":"right"}},"eval":{"metrics":["robustness"],"sparsities":[0.0,0.25]},'
        '"model":{"kwargs":{"depth":3,"width":64}},"optim":{"lr":0.05,"name":"adam"},"seeds":{"data":7},'
        '"train":{"epochs":1.5,"steps":null}}',
        "cb4f761fed4c727b",
    ),
    (
        [
            "data.name=waterbirds",
            "data.kwargs.root=/data/wb",
            "data.kwargs.num_workers=0",
            "data.rho=0.5",
            "data.kwargs.image_size=32",
            "train.device=cuda:1",
        ],
        '{"data":{"kwargs":{"image_size":32},"name":"waterbirds"}}',
        "e8124032c15067dd",
    ),
]


@pytest.mark.parametrize(("overrides", "canonical", "rid"), PINNED)
def test_run_id_literal_pins(overrides, canonical, rid):
    import hashlib

    assert hashlib.sha256(canonical.encode()).hexdigest()[:16] == rid
    assert run_id(apply_overrides(RunConfig(), overrides)) == rid


def test_run_id_leaves_out_defaults_and_non_semantic_keys():
    base = RunConfig()
    rid = run_id(base)
    # explicit defaults (what a field added later with a default looks like to an old config)
    explicit = [
        "optim.lr=0.1",
        "train.fail_after=1000",
        "eval.kappa=0.1",
        "model.kwargs.width=256",
        "model.kwargs.depth=2",
        "model.kwargs.bias=False",
        "data.kwargs.core_side=left",
    ]
    assert run_id(apply_overrides(base, explicit)) == rid
    assert run_id(from_dict({"optim": {"lr": 0.1}, "train": {}})) == rid
    # one step off the default is not the default
    assert run_id(apply_overrides(base, ["model.kwargs.width=255"])) != rid
    # paths, loader workers, device: non-semantic; rho ignored by the builder: left out too
    wb = apply_overrides(base, ["data.name=waterbirds"])
    for o in ["data.kwargs.root=/elsewhere", "data.kwargs.num_workers=0", "data.rho=0.3", "train.device=cuda"]:
        assert run_id(apply_overrides(wb, [o])) == run_id(wb)
    rp = apply_overrides(base, ["data.name=rare_patch"])
    assert run_id(apply_overrides(rp, ["data.rho=0.5"])) == run_id(rp)
    # ... but rho means something on double_mnist, and a semantic kwarg changes the id
    assert run_id(apply_overrides(base, ["data.rho=0.5"])) != rid
    assert run_id(apply_overrides(wb, ["data.kwargs.image_size=32"])) != run_id(wb)
    assert run_id(apply_overrides(rp, ["data.kwargs.target_class=3"])) != run_id(rp)
    assert run_id(wb) != rid


def test_run_id_is_the_same_in_another_process():
    """Not Python's salted ``hash``: a fresh interpreter computes the same id."""
    cfg = apply_overrides(RunConfig(), CUSTOM)
    code = (
        "import json, sys; from largelr.config import from_dict, run_id; "
        "print(run_id(from_dict(json.loads(sys.stdin.read()))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=to_json(cfg), capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == run_id(cfg)


def test_run_id_does_not_depend_on_int_vs_float_spelling():
    """``train.epochs=2`` and ``train.epochs=2.0`` are the same run, so they must share a run id.

    (``optim.lr=1`` is stored as 1.0; ``train.epochs`` is ``float | None`` and should be too.)
    """
    lr_int, lr_float = (apply_overrides(RunConfig(), [f"optim.lr={v}"]) for v in ("1", "1.0"))
    assert run_id(lr_int) == run_id(lr_float)
    a = apply_overrides(RunConfig(), ["train.steps=None", "train.epochs=2"])
    b = apply_overrides(RunConfig(), ["train.steps=None", "train.epochs=2.0"])
    assert a == b
    assert run_id(a) == run_id(b)


def test_flatten_gives_dotted_keys():
    flat = flatten(apply_overrides(RunConfig(), ["model.kwargs.width=64"]))
    assert flat["optim.lr"] == 0.1
    assert flat["model.kwargs.width"] == 64
    assert isinstance(flat["eval.sparsities"], tuple)
    assert "train.device" in flat


# ---------------------------------------------------------------------------------------------
# grid and log_space


def test_grid_counts_order_and_unique_ids():
    base = apply_overrides(RunConfig(), ["model.kwargs.width=8"])
    cfgs = grid(base, {"optim.lr": [0.01, 0.1, 1], "seeds.init": [0, 1]})
    assert len(cfgs) == 6
    assert [(c.optim.lr, c.seeds.init) for c in cfgs] == [
        (0.01, 0),
        (0.01, 1),
        (0.1, 0),
        (0.1, 1),
        (1.0, 0),
        (1.0, 1),
    ]
    assert all(isinstance(c.optim.lr, float) for c in cfgs)
    assert len({run_id(c) for c in cfgs}) == 6
    assert all(c.model.kwargs == {"width": 8} for c in cfgs)  # base values kept
    assert grid(base, {}) == [base]


def test_grid_zipped_tuple_axes():
    axes = {
        "optim.lr": [0.01, 0.1],
        ("seeds.init", "seeds.order"): [(0, 0), (1, 1), (2, 2)],
        "model.kwargs.width": [8, 16],
    }
    cfgs = grid(RunConfig(), axes)
    assert len(cfgs) == 2 * 3 * 2  # zipped axis counts once, not 3 x 3
    assert all(c.seeds.init == c.seeds.order for c in cfgs)
    assert {(c.seeds.init, c.seeds.order) for c in cfgs} == {(0, 0), (1, 1), (2, 2)}
    assert len({run_id(c) for c in cfgs}) == 12


@pytest.mark.parametrize(
    "axes, match",
    [
        ({("seeds.init", "seeds.order"): [(0, 0, 0)]}, "needs tuples of 2 values"),
        ({("seeds.init", "seeds.order"): [0]}, "needs tuples of 2 values"),
        ({"optim.lrr": [0.1]}, "did you mean optim.lr"),
        ({"optim.lr": [0.1, -1.0]}, "optim.lr must be a positive number"),
        ({"train.batch_size": [0.5]}, "train.batch_size must be int"),
    ],
)
def test_grid_errors(axes, match):
    with pytest.raises(ConfigError, match=match):
        grid(RunConfig(), axes)


def test_log_space():
    vals = log_space(0.01, 0.5, 5)
    assert len(vals) == 5
    assert vals[0] == 0.01 and vals[-1] == 0.5
    assert vals == sorted(vals) and len(set(vals)) == 5
    expected = [0.01 * (0.5 / 0.01) ** (i / 4) for i in range(5)]
    for v, e in zip(vals, expected):
        assert v == float(f"{e:.3g}")
        assert math.isclose(v, e, rel_tol=5e-3)
    assert log_space(0.1, 10.0, 3) == [0.1, 1.0, 10.0]
    assert log_space(0.3, 3.0, 1) == [0.3]
    assert log_space(1e-4, 1e-1, 4) == [1e-4, 1e-3, 1e-2, 1e-1]


# ---------------------------------------------------------------------------------------------
# checks against the registries


def test_check_config_accepts_valid_and_returns_it():
    cfg = apply_overrides(RunConfig(), ["model.kwargs.width=8", "model.kwargs.depth=1", "model.kwargs.bias=True"])
    assert check_config(cfg) is cfg


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.kwargs.widht=8", "unknown key model.kwargs.widht; did you mean width"),
        ("model.kwargs.num_classes=3", "unknown key model.kwargs.num_classes"),  # filled in by the dataset
        ("model.kwargs.width='wide'", "model.kwargs.width must be int, got str 'wide'"),
        ("model.kwargs.width=2.5", "model.kwargs.width must be int, got float 2.5"),
        ("model.kwargs.width=True", "model.kwargs.width must be int, got bool True"),
        ("model.kwargs.bias=1", "model.kwargs.bias must be bool, got int 1"),
        ("data.kwargs.core_sid=left", "unknown key data.kwargs.core_sid; did you mean core_side"),
        ("data.kwargs.seed=3", "unknown key data.kwargs.seed"),  # comes from seeds.data
        ("data.kwargs.core_side=middle", "data.kwargs.core_side must be one of 'left', 'right'"),
        ("data.kwargs.core_intensity=bright", "data.kwargs.core_intensity must be float, got str 'bright'"),
        ("data.name=cifar100", "unknown dataset 'cifar100'"),
        ("data.name=double_mnst", "did you mean double_mnist"),
        ("model.name=resnet9000", "unknown model 'resnet9000'"),
        ("eval.metrics=['robustnes']", "unknown metric 'robustnes'; did you mean robustness"),
        ("train.batch_size=20000", "train.batch_size (20000) must not exceed data.n_train (10000)"),
    ],
)
def test_check_config_rejects_bad_family_keys_and_values(override, expected):
    cfg = apply_overrides(RunConfig(), [override])  # passes the torch-free checks
    with pytest.raises(ConfigError) as e:
        check_config(cfg)
    assert expected in str(e.value)
    assert "\n" not in str(e.value)

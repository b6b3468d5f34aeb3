"""Every registered metric on the toy dataset, the metric sets, and metrics that need region masks."""

from __future__ import annotations

import json
import logging
import re

import pytest
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.config import EvalConfig
from largelr.data import DATASETS
from largelr.errors import UserError
from largelr.evaluate import evaluate
from largelr.metrics import (
    METRIC_SETS,
    METRICS,
    Key,
    key_for,
    key_info,
    plan_metrics,
    resolve_metric_names,
    scalar_items,
)
from largelr.metrics.base import has_regions
from largelr.models.mlp import mlp

SMALL = {"sparsities": (0.0, 0.5), "n_repr": 30}
END = [n for n in METRICS.names() if METRICS.spec(n).when == "end"]  # the metrics eval.metrics may name


def _model_and_data(name: str):
    """The wired toy model and dataset, or a tiny rare_patch for a metric that does not apply to the toy."""
    data = toy_dataset()
    model = wired_mlp("core")
    applies = METRICS.spec(name).applies_to
    if applies and not applies(data):  # e.g. vulnerability: rare_patch and imagenet9 only
        data = DATASETS.get("rare_patch")(rho=0.0, n_train=40, n_val=20, n_test=40, seed=0)
        model = mlp(input_shape=data.input_shape, num_classes=data.num_classes, width=8, depth=1).eval()
    return model, data


@pytest.mark.parametrize("name", END)
def test_metric_contract(name):
    """Keys are split/metric or weights/metric; values are JSON-able; the same model gives the same numbers."""
    model, data = _model_and_data(name)
    out = METRICS.get(name)(make_ctx(model, data, **SMALL))
    assert out, f"{name} returned nothing on a dataset with masks"
    for key, value in out.items():
        prefix = key.split("/")[0]
        assert prefix in ("train", "val", "test", "weights"), key
        assert isinstance(value, (int, float, list, dict)), (key, type(value))
    again = METRICS.get(name)(make_ctx(model, data, **SMALL))
    assert json.dumps(out, sort_keys=True) == json.dumps(again, sort_keys=True)


def test_sets():
    assert set(METRIC_SETS["default"]) <= set(METRICS.names())
    assert resolve_metric_names(["full"]) == END
    assert resolve_metric_names(["default", "attribution_ig", "robustness"])[-1] == "attribution_ig"


def test_region_metrics_skipped_from_sets_but_rejected_by_name(caplog):
    data = toy_dataset(masks=False)
    assert not has_regions(data) and has_regions(toy_dataset())
    with caplog.at_level(logging.WARNING):
        names = plan_metrics(["full"], data)
    assert "attribution" not in names and "counterfactual" not in names and "probes" in names
    assert "defines no core/spurious regions" in caplog.text
    with pytest.raises(UserError, match="attribution.*defines no core/spurious regions|regions.*attribution"):
        plan_metrics(["default", "attribution"], data)


def test_evaluate_full_on_toy():
    metrics, timings = evaluate(wired_mlp("core"), toy_dataset(), EvalConfig(metrics=("full",), **SMALL))
    assert set(timings) == set(END) - {"vulnerability"}  # it does not apply to the toy
    assert metrics["test/acc"] == 1.0 and metrics["test/core_util"] == 1.0
    assert metrics["test/cf_spurious_flip"] == 0.0 and metrics["test/dfr_worst_group_acc"] == 1.0
    json.dumps(metrics)


def _declared_by(name: str, key: str) -> bool:
    """Whether metric ``name`` itself declares ``key`` (exactly, or by a ``{i}`` layer pattern)."""
    for declared in METRICS.spec(name).keys:
        pattern = re.escape(declared).replace(re.escape("{i}"), r"\d+")
        if re.fullmatch(pattern, key):
            return True
    return False


@pytest.mark.parametrize("name", END)
def test_every_scalar_key_is_declared_by_its_metric(name):
    """A report reads labels and directions from the declarations: a scalar key its metric does not
    declare would get no label and no verdict. Also no stale declarations: each declared exact key is
    produced (for metrics that apply to every dataset)."""
    model, data = _model_and_data(name)
    out = METRICS.get(name)(make_ctx(model, data, **SMALL))
    scalars = set(scalar_items(out))
    undeclared = sorted(k for k in scalars if not _declared_by(name, k))
    assert not undeclared, f"metric {name!r} emits undeclared keys {undeclared}"
    declared = METRICS.spec(name).keys
    for key, info in declared.items():
        assert isinstance(info, Key) and info.desirable in ("higher", "lower", None), key
        if "{i}" not in key and METRICS.spec(name).applies_to is None:  # per-dataset keys: one dataset here
            assert key in scalars, f"metric {name!r} declares {key!r} but does not produce it"
    assert key_for(next(iter(declared))) is declared[next(iter(declared))]


def test_key_lookup_by_pattern_and_headline_set():
    assert key_for("weights/comp_layer12") == key_info()["weights/comp_layer{i}"]
    assert key_for("weights/comp_layerX") is None and key_for("test/unknown") is None
    headline = {k for k, v in key_info().items() if v.headline}
    assert {"weights/comp", "test/prune_rel_auc", "test/acc", "test/class_sep"} <= headline
    assert "test/prune_auc" not in headline and "test/prune_layer_rel_auc" not in headline


def test_history_metrics_run_in_the_loop_and_stay_out_of_results_and_eval_metrics():
    """``accuracy`` and ``dynamics`` are history metrics: run in name order at every evaluation, declaring every
    key they emit, never in "full" or by name in eval.metrics, and their keys are not result keys (``key_info``:
    a history key such as ``train/loss`` gets no column label, ``test/acc`` keeps the robustness metric's)."""
    from largelr.config import EvalConfig
    from largelr.errors import ConfigError
    from largelr.evaluate import evaluate_history
    from largelr.metrics import history_metric_names

    assert history_metric_names() == ["accuracy", "dynamics"]
    row = evaluate_history(wired_mlp("core").train(), toy_dataset(), EvalConfig(n_dynamics=12))
    declared = {k for n in history_metric_names() for k in METRICS.spec(n).keys}
    assert set(row) == declared and list(row)[:2] == ["train/acc", "train/loss"] and list(row)[-1].startswith("dyn/")
    assert not set(history_metric_names()) & set(resolve_metric_names(["full"]))
    with pytest.raises(ConfigError, match="'dynamics' is a history metric"):
        resolve_metric_names(["dynamics"])
    assert "train/loss" not in key_info() and "dyn/ebcr" not in key_info()
    assert key_info()["test/acc"] is METRICS.spec("robustness").keys["test/acc"]
    assert not [k for k in evaluate_history(wired_mlp("core"), toy_dataset(), EvalConfig(n_dynamics=0)) if "dyn" in k]

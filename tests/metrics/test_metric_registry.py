"""Every registered metric on the toy dataset, the metric sets, and metrics that need region masks."""

from __future__ import annotations

import json
import logging

import pytest
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.config import EvalConfig
from largelr.data import DATASETS
from largelr.errors import UserError
from largelr.evaluate import evaluate
from largelr.metrics import METRIC_SETS, METRICS, plan_metrics, resolve_metric_names
from largelr.metrics.base import has_regions
from largelr.models.mlp import mlp

SMALL = {"sparsities": (0.0, 0.5), "n_repr": 30}


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_contract(name):
    """Keys are split/metric or weights/metric; values are JSON-able; the same model gives the same numbers."""
    data = toy_dataset()
    model = wired_mlp("core")
    applies = METRICS.meta(name).get("applies_to")
    if applies and not applies(data):  # e.g. vulnerability: rare_patch and imagenet9 only
        data = DATASETS.get("rare_patch")(rho=0.0, n_train=40, n_val=20, n_test=40, seed=0)
        model = mlp(input_shape=data.input_shape, num_classes=data.num_classes, width=8, depth=1).eval()
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
    assert resolve_metric_names(["full"]) == METRICS.names()
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
    assert set(timings) == set(METRICS.names()) - {"vulnerability"}  # it does not apply to the toy
    assert metrics["test/acc"] == 1.0 and metrics["test/core_util"] == 1.0
    assert metrics["test/cf_spurious_flip"] == 0.0 and metrics["test/dfr_worst_group_acc"] == 1.0
    json.dumps(metrics)

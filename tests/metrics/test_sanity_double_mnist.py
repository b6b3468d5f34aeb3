"""Sanity check on real data: a model that only ever saw the core digit must look core-reliant.

Two MLPs are trained on Double MNIST with rho = 1: one with the spurious half blanked (it can only
learn the core digit), one with the core half blanked (it can only learn the spurious digit, which
equals the label in training). Both are evaluated on the ordinary unbiased test split.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from largelr.config import EvalConfig, RunConfig, apply_overrides
from largelr.data import build_dataset
from largelr.evaluate import EvalContext
from largelr.metrics import METRICS
from largelr.train import train

OVERRIDES = [
    "data.rho=1.0",
    "data.n_train=2000",
    "data.n_val=200",
    "data.n_test=1000",
    "model.kwargs.width=128",
    "train.steps=400",
    "train.until='budget'",
    "train.eval_every=400",
]


@pytest.fixture(scope="module")
def metrics_by_model(one_thread) -> dict[str, dict[str, float]]:
    cfg = apply_overrides(RunConfig(), OVERRIDES)
    data = build_dataset(cfg.data, seed=0)
    tr = data.splits["train"]
    core = tr.masks["core"].unsqueeze(1)  # (N, 1, H, W)
    out = {}
    for name, keep in (("core_only", core), ("spurious_only", ~core)):
        blanked = replace(data, splits={**data.splits, "train": replace(tr, x=tr.x * keep)})
        model = train(cfg, blanked).model
        ctx = EvalContext(model, data, EvalConfig(n_repr=600), seed=0)
        out[name] = {}
        for metric in ("attribution", "counterfactual", "probes", "dfr", "selectivity"):
            out[name].update(METRICS.get(metric)(ctx))
    return out


def test_core_only_model_uses_the_core(metrics_by_model):
    core, spur = metrics_by_model["core_only"], metrics_by_model["spurious_only"]
    summary = {k: (round(core[k], 3), round(spur[k], 3)) for k in core if isinstance(core[k], float)}
    assert core["test/core_util"] > 0.5 > spur["test/core_util"], summary
    assert core["test/cf_spurious_flip"] < spur["test/cf_spurious_flip"], summary
    assert core["test/cf_core_follow"] > spur["test/cf_core_follow"], summary
    assert core["test/probe_gap"] > 0 > spur["test/probe_gap"], summary
    assert core["test/dfr_worst_group_acc"] > spur["test/dfr_worst_group_acc"], summary
    assert core["test/csi_gt_bsi"] > spur["test/csi_gt_bsi"], summary

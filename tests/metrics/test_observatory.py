"""The dynamics observatory: which rows it measures, what it measures (against independent derivations), that it
leaves training unchanged, and its figure."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from metric_toys import C, toy_dataset, wired_mlp

from largelr.config import RunConfig, apply_overrides
from largelr.data import build_dataset
from largelr.errors import ConfigError
from largelr.metrics.observatory import KEYS, Observatory, due, learned_at
from largelr.metrics.sharpness import sharpness_of
from largelr.train import init_model, train

TINY = [
    "data.n_train=300",
    "data.n_val=50",
    "data.n_test=200",
    "model.kwargs.width=32",
    "train.steps=50",
    "train.eval_every=10",
    "train.batch_size=50",
    "train.until='budget'",
    "eval.n_dynamics=60",
]


@pytest.fixture(scope="module")
def tiny():
    cfg = apply_overrides(RunConfig(), TINY)
    return cfg, build_dataset(cfg.data, seed=cfg.seeds.data)


def test_rows_measured_and_training_unchanged(tiny):
    """Measured at step 0, at the first row at or after each multiple of ``observatory_every`` (20: rows 20, 40)
    and at the budget's last step (50), nowhere else; the losses, accuracies and weights are those of the same run
    without the observatory, bit for bit."""
    cfg, data = tiny
    plain = train(cfg, data)
    seen = train(apply_overrides(cfg, ["eval.observatory=True", "eval.observatory_every=20"]), data)
    assert [r["step"] for r in seen.history if "obs/sharpness" in r] == [0, 20, 40, 50]
    for a, b in zip(plain.history, seen.history, strict=True):
        assert json.dumps({k: v for k, v in b.items() if not k.startswith("obs/")}, sort_keys=True) == json.dumps(
            a, sort_keys=True
        )  # as JSON: NaN (an empty stratum) equals NaN
    for p, q in zip(plain.model.parameters(), seen.model.parameters(), strict=True):
        assert torch.equal(p, q)
    row = seen.history[0]
    assert set(KEYS) <= set(row)
    # at step 0: lambda_0, as the end-of-run metric measures it (tolerance 1e-3 there, 1e-2 here)
    lam0 = sharpness_of(init_model(cfg, data, torch.device("cpu")), data.splits["train"], seed=0).value
    assert row["obs/sharpness"] == pytest.approx(lam0, rel=0.02)
    assert row["obs/sharpness_x_lr_over_2"] == pytest.approx(row["obs/sharpness"] * cfg.optim.lr / 2)
    last = seen.history[-1]
    assert 1 <= last["obs/sharpness_iters"] <= 20 and last["obs/sharpness"] > 0
    for key in ("obs/probe_y", "obs/probe_s"):
        assert 0.0 <= last[key] <= 1.0


def test_later_measurements_start_from_the_last_eigenvector(tiny):
    """The second measurement of the same model starts Lanczos from the first one's top eigenvector (plus the
    seeded Gaussian): it stops after fewer products, at the same lambda_max within the 1% tolerance."""
    cfg, data = tiny
    model = init_model(cfg, data, torch.device("cpu"))
    obs = Observatory(data, seed=0, every=1)
    first, second = obs.measure(model, lr=0.1), obs.measure(model, lr=0.1)
    assert second["obs/sharpness_iters"] < first["obs/sharpness_iters"]
    assert second["obs/sharpness"] == pytest.approx(first["obs/sharpness"], rel=0.02)
    again = Observatory(data, seed=0, every=1).measure(model, lr=0.1)  # a new one (a resumed run) starts cold
    assert again == first


def test_observatory_every_alone_is_refused():
    with pytest.raises(ConfigError, match="needs eval.observatory=True"):
        apply_overrides(RunConfig(), ["eval.observatory_every=500"])
    with pytest.raises(ConfigError, match="positive"):
        apply_overrides(RunConfig(), ["eval.observatory=True", "eval.observatory_every=0"])


def test_due_is_a_function_of_the_steps():
    rows = [0, 300, 600, 900, 1200, 1500, 1800, 2000]
    assert [s for p, s in zip([None, *rows], rows) if due(s, p, 1000, s == 2000)] == [0, 1200, 2000]
    assert [s for p, s in zip([None, *rows], rows) if due(s, p, 600, False)] == [0, 600, 1200, 1800]


def _reading(half: str) -> torch.nn.Module:
    """``wired_mlp``'s hidden layer with only the units of one half kept: its features carry y only ("core") or
    s only ("spurious")."""
    model = wired_mlp("core")
    with torch.no_grad():
        model.body[1].weight[slice(C, 2 * C) if half == "core" else slice(0, C)] = 0.0
    return model


@pytest.mark.parametrize(("half", "decodable", "independent"), [("core", "y", "s"), ("spurious", "s", "y")])
def test_probes_read_what_the_features_carry(half, decodable, independent):
    """Features that are a one-hot of y (of s) on the unbiased toy test split (every (y, s) pair 20 times): the
    probe for it is exact, and the probe for the other, independent of the features, is near chance 1/3."""
    data = toy_dataset(reps=20)
    obs = Observatory(data, seed=0, every=1).measure(_reading(half), lr=0.1)
    assert obs[f"obs/probe_{decodable}"] == 1.0
    assert obs[f"obs/probe_{independent}"] <= 0.5


def test_learned_at():
    assert math.isnan(learned_at([0, 10, 20], [0.5, 0.5, 0.5], chance=0.1))  # decodable from the start, no gain
    assert math.isnan(learned_at([0, 10, 20], [0.1, 0.105, 0.1], chance=0.1))  # nothing learned
    assert learned_at([0, 10, 20, 30], [0.2, 0.6, 1.0, 1.0], chance=0.1) == pytest.approx(10.0)  # 0.6 = halfway
    assert learned_at([0, 10, 20], [0.2, 0.3, 1.0], chance=0.1, share=0.25) == pytest.approx(10 + 10 * 0.1 / 0.7)
    assert math.isnan(learned_at([0, 100], [0.3, float("nan")], chance=0.1))  # one finite row


def test_figure_from_histories(tiny):
    import pandas as pd

    from largelr.report.observatory_figure import observatory_figure, spike_table

    cfg, data = tiny
    rows = []
    for lr in (0.05, 0.2):
        out = train(apply_overrides(replace(cfg, optim=replace(cfg.optim, lr=lr)), ["eval.observatory=True"]), data)
        rows += [{"run_id": f"r{lr}", "lr": lr, "seed": 0, "status": out.status, **r} for r in out.history]
    hist = pd.DataFrame(rows)
    fig, agg = observatory_figure(hist)
    assert len(fig.axes) == 4 and set(agg["lr"]) == {0.05, 0.2}
    assert agg.dropna(subset=["obs/sharpness"])["step"].tolist() == [0, 50, 0, 50]  # every 1000 steps: 0 and last
    table = spike_table(hist)
    assert list(table["run_id"]) == ["r0.05", "r0.2"] and (table["catapults"] >= 0).all()

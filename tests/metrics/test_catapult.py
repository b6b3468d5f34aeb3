"""The loss-spike detector on hand-made and on a seeded batch of synthetic loss curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from largelr.metrics.catapult import EARLY, Spike, catapults, detect_spikes
from largelr.seeding import derive_seed

T = 200  # entries per synthetic curve


def test_rule_by_hand():
    # running minimum 0.5 before entry 3; 1.2 <= 2 x 0.5 is no spike, 1.1 > 1.0 starts one
    assert detect_spikes([2.0, 1.0, 0.5, 0.9, 1.1, 1.4, 0.9, 0.2]) == [Spike(4, 5, 6, 1.4 / 0.5)]
    assert detect_spikes([1.0, 0.5, 0.9, 1.0]) == []  # 1.0 is not above 2 x 0.5
    assert detect_spikes([1.0, 0.5, 3.0, 3.0, 3.0]) == []  # a new plateau, never falls back
    assert detect_spikes([1.0, 0.5, 3.0, 0.4], window=1) == [Spike(2, 2, 3, 6.0)]
    assert detect_spikes([1.0, 0.5, 3.0, 2.0, 0.4], window=1) == []  # falls back one entry too late
    two = detect_spikes([1.0, 0.5, 3.0, 0.4, 0.3, 5.0, 0.2])
    assert [(s.start, s.end) for s in two] == [(2, 3), (5, 6)]
    assert two[1].height == pytest.approx(5.0 / 0.3)  # the minimum restarted at 0.4 after the first spike
    assert detect_spikes([1.0, 0.5, 3.0, 0.9, 1.0, 0.2]) == [Spike(2, 2, 3, 6.0)]  # 1.0 <= 2 x 0.9: its tail
    assert detect_spikes([1e-4, 1e-5, 1e-4, 1e-5], min_rise=1e-3) == []  # noise near zero loss
    assert detect_spikes([1e-4, 1e-5, 1e-4, 1e-5]) == [Spike(2, 2, 3, 10.0)]
    with pytest.raises(ValueError):
        detect_spikes([1.0], factor=1.0)


def _curve(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, int]:
    """A decaying loss a exp(-t / tau) + c with 10% log-normal noise, and for kind "spike" a bump of height
    3-30x rising over 1-4 entries and decaying over 3-30; "diverge" grows without bound from t0 (to inf);
    "plateau" jumps 3-10x at t0 and stays there (noise only). Returns (curve, t0)."""
    t = np.arange(T)
    a, tau, c = rng.uniform(1, 3), rng.uniform(10, 60), rng.uniform(0.01, 0.2)
    loss = (a * np.exp(-t / tau) + c) * np.exp(0.1 * rng.standard_normal(T))
    t0 = int(rng.integers(20, 150))
    if kind == "spike":
        h, rise, fall = rng.uniform(3, 30), int(rng.integers(1, 5)), int(rng.integers(3, 31))
        shape = np.zeros(T)
        up = np.arange(1, rise + 1) / rise
        down = 1 - np.arange(1, fall + 1) / fall
        bump = np.concatenate([up, down])[: T - t0]
        shape[t0 : t0 + len(bump)] = bump
        loss = loss * (1 + (h - 1) * shape)
    elif kind == "diverge":
        grow = np.exp(0.5 * np.clip(t - t0, 0, None))
        loss = np.where(t - t0 > 60, math.inf, loss * grow)
    elif kind == "plateau":
        level = loss[t0] * rng.uniform(3, 10) * np.exp(0.1 * rng.standard_normal(T))
        loss = np.where(t >= t0, level, loss)
    return loss, t0


def test_precision_and_recall_on_synthetic_curves():
    """300 seeded curves: 100 with one spike, 100 clean, 50 diverging, 50 jumping to a plateau. A detection
    is correct when a spiked curve's spike starts within 5 entries of the bump's onset. Measured: precision
    1.0, recall 1.0 (the acceptance bar is 0.9 each)."""
    rng = np.random.default_rng(derive_seed(0, "synthetic_loss_curves"))
    kinds = ["spike"] * 100 + ["clean"] * 100 + ["diverge"] * 50 + ["plateau"] * 50
    true_pos = false_pos = found = 0
    for kind in kinds:
        loss, t0 = _curve(rng, kind)
        spikes = detect_spikes(loss.tolist())
        hits = [s for s in spikes if kind == "spike" and t0 <= s.start <= t0 + 5]
        true_pos += len(hits[:1])
        false_pos += len(spikes) - len(hits[:1])
        found += bool(hits)
    precision = true_pos / max(true_pos + false_pos, 1)
    recall = found / 100
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


# Full-batch GD on a small real model: Double MNIST, 500 training images, a 2 x 32 ReLU MLP, one evaluation per step
REAL = [
    "data.n_train=500",
    "data.n_val=50",
    "data.n_test=100",
    "model.kwargs.width=32",
    "train.batch_size=500",
    "train.steps=60",
    "train.eval_every=1",
    "train.fail_after=60",
    "train.until='budget'",
    "eval.n_dynamics=0",
]


@pytest.fixture(scope="module")
def real():
    from largelr.config import RunConfig, apply_overrides
    from largelr.data import build_dataset
    from largelr.suggest import initial_sharpness

    cfg = apply_overrides(RunConfig(), REAL)
    data = build_dataset(cfg.data, seed=cfg.seeds.data)
    return cfg, data, 2 / initial_sharpness(cfg, data).value


def _losses(cfg, data, lr: float) -> list[float]:
    from dataclasses import replace

    from largelr.train import train

    return [row["train/loss"] for row in train(replace(cfg, optim=replace(cfg.optim, lr=lr)), data).history]


@pytest.mark.parametrize("fraction", [1.0, 1.4, 2.0])
def test_real_model_catapults_above_two_over_lambda0(real, fraction):
    """Above 2/lambda_0 (measured 2/lambda_0 = 2.96 here) the loss grows from its initial value within a few steps
    and falls back: a catapult (then the ReLUs die and the run fails, this MLP's ceiling)."""
    cfg, data, edge = real
    losses = _losses(cfg, data, fraction * edge)
    found = catapults(losses)
    assert found and found[0].start <= 10 and losses[found[0].peak] > losses[0]


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.35])
def test_real_model_no_catapult_well_below_two_over_lambda0(real, fraction):
    """Well below 2/lambda_0 there is no catapult. At 0.1 and 0.2 of it the loss does spike (measured: from 0.23 at
    step 39 and from 0.89 at step 22): the sharpness rose about tenfold by then (progressive sharpening to the edge
    of stability of the *current* curvature, 2/eta), and the loss had fallen below half its initial value first."""
    cfg, data, edge = real
    losses = _losses(cfg, data, fraction * edge)
    assert catapults(losses) == []
    if fraction <= 0.2:
        (first, *_) = detect_spikes(losses)
        assert losses[first.peak] / first.height < EARLY * losses[0]  # the spike's baseline, below half of L_0


def test_catapults_by_hand():
    # 2.3 -> 2.0: baseline 2.0 >= 0.5 x 2.3, so the spike to 8.0 is a catapult; the later one from 0.2 is not
    losses = [2.3, 2.0, 5.0, 8.0, 1.0, 0.5, 0.2, 0.9, 0.1]
    assert detect_spikes(losses) == [Spike(2, 3, 4, 4.0), Spike(7, 7, 8, 4.5)]
    assert catapults(losses) == [Spike(2, 3, 4, 4.0)]
    assert catapults(losses, early=0.9) == []  # baseline 2.0 < 0.9 x 2.3 = 2.07
    assert catapults([1.0, 0.6, 1.3, 0.5]) == [Spike(2, 2, 3, 1.3 / 0.6)]  # baseline 0.6 >= 0.5: the bound is inclusive
    assert catapults([1.0, 0.49, 1.3, 0.4]) == []
    assert catapults([]) == []

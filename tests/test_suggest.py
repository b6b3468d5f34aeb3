"""``largelr suggest-lr``: lambda_0, the ladder's regimes and its walk, the suggestion, the CLI and its errors."""

from __future__ import annotations

import json
import math

import pytest

from largelr.cli import main
from largelr.config import RunConfig, apply_overrides
from largelr.data import build_dataset
from largelr.errors import UserError
from largelr.metrics.sharpness import sharpness_of
from largelr.suggest import Rung, initial_sharpness, probe, probe_data, suggest_lr, sweep_grid
from largelr.train import init_model

# the tiny config of tests/conftest.py (which another conftest.py shadows when the whole suite is collected) at
# a 40-step budget, so every probe is 40 steps: the whole ladder takes a few seconds on one core
TINY = [
    "data.n_train=500",
    "data.n_val=200",
    "data.n_test=200",
    "model.kwargs.width=32",
    "train.steps=40",
    "train.eval_every=20",
    "train.batch_size=50",
    'eval.metrics=["robustness", "compressibility"]',
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture(scope="module")
def tiny():
    cfg = apply_overrides(RunConfig(), TINY)
    return cfg, build_dataset(cfg.data, seed=cfg.seeds.data)


def test_initial_sharpness_is_that_of_the_initialised_model(tiny):
    cfg, data = tiny
    top = initial_sharpness(cfg, data)
    again = sharpness_of(init_model(cfg, data, data.splits["train"].x.device), data.splits["train"], seed=0)
    assert top == again and top.converged and top.value > 0


def test_probe_regimes_far_below_and_far_above_the_edge(tiny):
    """On the tiny MLP, 2/lambda_0 ~ 3 (measured): at 1/20 of it the probe trains without a spike; at 1/10 the
    loss already spikes (0.98 -> 2.37 at step 25, then falls), but from below half its initial value: SGD on
    50-sample batches sharpened far above lambda_0 by then, an edge-of-stability spike ("spiking"), not a catapult
    (``catapults``); so 2/lambda_0 is an upper bound here, and the ladder descends from it. At 30x it does not
    train (the loss explodes and the ReLUs die, or it becomes non-finite)."""
    cfg, data = tiny
    edge = 2 / initial_sharpness(cfg, data).value
    small = probe_data(data)
    assert len(small.splits["test"].y) == 64 and len(small.splits["train"].y) == cfg.data.n_train
    low = probe(cfg, small, lr=edge / 20, steps=40)
    assert low.regime == "stable" and low.trains and low.steps == 40
    assert low.final_loss < low.initial_loss and len(low.curve) == 41  # 40 steps, one evaluation per step + init
    spike = probe(cfg, small, lr=edge / 10, steps=40)
    assert spike.regime == "spiking" and spike.trains
    high = probe(cfg, small, lr=edge * 30, steps=40)
    assert high.regime in ("divergent", "failed") and not high.trains


def test_ladder_walk_and_suggestion(tiny, monkeypatch):
    """The ladder's rungs are the sweep's grid LRs 0.001 * 3^(k/2), from two below the grid LR at or below the
    edge; it climbs from a rung that trains and stops at the first that does not; the suggestion is the largest
    rung that trained over sqrt 3, itself a grid LR; probe steps add up (a stub probe: LRs up to 1.0 train)."""
    import largelr.suggest as suggest

    cfg, data = tiny

    def fake_probe(cfg, data, *, lr, steps):
        ok = lr <= 1.0 + 1e-12
        return Rung(lr, "stable" if ok else "divergent", steps if ok else 3, 2.3, 1.0 if ok else math.inf, 0.5, ())

    def grid(k):  # the sweep grid, written out: 0.001 * sqrt(3)^k
        return 0.001 * 3 ** (k / 2)

    monkeypatch.setattr(suggest, "probe", fake_probe)
    monkeypatch.setattr(suggest, "initial_sharpness", lambda cfg, data: suggest.TopEigen(2 / 0.1, 7, True))
    s = suggest_lr(cfg, data=data, steps=40)
    # edge 0.1: grid(8) = 0.081 <= 0.1 < grid(9) = 0.14, so the ladder starts at grid(6) = 0.027
    assert s.edge == pytest.approx(0.1) and s.anchor == pytest.approx(grid(8))
    lrs = [r.lr for r in s.rungs]  # grid(13) = 1.26 is the first above 1.0
    assert lrs == pytest.approx([grid(k) for k in range(6, 14)])
    assert s.largest_trains == pytest.approx(grid(12)) and s.lr == pytest.approx(grid(11))
    assert s.probe_steps == 7 * 40 + 3 and s.hvp_products == 7
    assert s.sweep_lrs == len(sweep_grid("sgd")) == 13 and s.sweep_steps == 13 * 40  # 0.001 .. 0.5 at ratio sqrt 3
    assert sweep_grid("sgd") == pytest.approx([grid(k) for k in range(13)])
    assert sweep_grid("sgd")[-1] >= 0.5 > sweep_grid("sgd")[-2]

    # an edge on a grid LR anchors there (rounding aside), one just below it anchors a grid step lower
    monkeypatch.setattr(suggest, "initial_sharpness", lambda cfg, data: suggest.TopEigen(2 / grid(9), 7, True))
    assert suggest_lr(cfg, data=data, steps=40).anchor == pytest.approx(grid(9))
    monkeypatch.setattr(suggest, "initial_sharpness", lambda cfg, data: suggest.TopEigen(2 / grid(9) * 1.01, 7, True))
    assert suggest_lr(cfg, data=data, steps=40).anchor == pytest.approx(grid(8))

    monkeypatch.setattr(suggest, "initial_sharpness", lambda cfg, data: suggest.TopEigen(2 / 100.0, 7, True))
    down = suggest_lr(cfg, data=data, steps=40, margin_rungs=0)  # edge 100: descends to the first that trains
    # grid(20) = 59 <= 100 < grid(21): the ladder starts at grid(18) = 19.7 and descends to grid(12) = 0.729
    assert down.anchor == pytest.approx(grid(20)) and down.rungs[-1].lr == pytest.approx(grid(18))
    assert down.largest_trains == pytest.approx(grid(12)) and down.lr == down.largest_trains
    assert [r.trains for r in down.rungs] == [True] + [False] * 6
    two = suggest_lr(cfg, data=data, steps=40, margin_rungs=2)
    assert two.lr == pytest.approx(grid(10)) and two.margin_rungs == 2


def test_suggest_lr_end_to_end_and_cli(tiny, tmp_path, capsys):
    cfg, data = tiny
    s = suggest_lr(cfg, data=data, steps=40)
    assert s.lr is not None and s.lr < s.largest_trains
    assert s.rungs[0].lr < s.rungs[-1].lr and any(not r.trains for r in s.rungs)
    args = ["suggest-lr", *(f"--set={o}" for o in TINY), "--steps", "40", "--out", str(tmp_path)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"suggested lr = {s.lr:.4g}" in printed and "stability edge" in printed and "probe steps" in printed
    (run,) = tmp_path.iterdir()
    assert (run / "suggest_lr.png").stat().st_size > 0
    saved = json.loads((run / "suggest_lr.json").read_text())
    assert saved["lr"] == pytest.approx(s.lr) and len(saved["rungs"]) == len(s.rungs)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "5"], "--steps must be at least 10"),
        (["--margin", "-1"], "--margin must be >= 0"),
        (["--set", "optim.lrr=1"], "unknown config key 'optim.lrr'"),
        (["--config", "/no/such/file.json"], "config file not found"),
    ],
)
def test_cli_user_errors_exit_2(extra, message, capsys):
    assert main(["suggest-lr", *extra]) == 2
    assert message in capsys.readouterr().err


def test_library_refuses_bad_arguments(tiny):
    cfg, data = tiny
    for kw in ({"steps": 3}, {"margin_rungs": -1}, {"max_rungs": 0}):
        with pytest.raises(UserError):
            suggest_lr(cfg, data=data, **kw)

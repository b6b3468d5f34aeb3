"""Optimizers and LR schedules: schedule values computed by hand, the LR in force, weight-decay groups."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from largelr.config import OptimConfig, RunConfig, apply_overrides
from largelr.errors import ConfigError
from largelr.optim import DEFAULT_LR_GRID, OPTIMIZERS, build_optimizer, lr_at, lr_curve, param_groups
from largelr.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_constant_schedule_is_the_base_lr_at_every_step():
    assert lr_curve(OptimConfig(lr=0.3), 5) == [0.3] * 5


def test_step_schedule_multiplies_by_gamma_every_step_every_updates():
    cfg = OptimConfig(lr=0.1, schedule="step", step_every=3, gamma=0.5)
    want = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    assert lr_curve(cfg, 7) == pytest.approx(want)


def test_cosine_schedule_by_hand():
    # 0.5 * (1 + cos(pi * t / 4)) for t = 0..3: 1, (1 + 1/sqrt 2)/2, 1/2, (1 - 1/sqrt 2)/2
    r = 1 / math.sqrt(2)
    assert lr_curve(OptimConfig(lr=2.0, schedule="cosine"), 4) == pytest.approx([2.0, 1 + r, 1.0, 1 - r])


def test_linear_warmup_then_constant_and_then_cosine():
    warm = OptimConfig(lr=0.1, schedule="linear_warmup", warmup_steps=4)
    assert lr_curve(warm, 6) == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    # 2 warm-up updates, then a cosine over the remaining 4: 1, 0.854, 0.5, 0.146 of the base
    cos = OptimConfig(lr=1.0, schedule="cosine", warmup_steps=2)
    assert lr_curve(cos, 6) == pytest.approx([0.5, 1.0, 1.0, 0.5 + 0.5 / math.sqrt(2), 0.5, 0.5 - 0.5 / math.sqrt(2)])
    # step decay counts its updates after the warm-up
    step = OptimConfig(lr=1.0, schedule="step", warmup_steps=2, step_every=2, gamma=0.1)
    assert lr_curve(step, 6) == pytest.approx([0.5, 1.0, 1.0, 1.0, 0.1, 0.1])


def test_schedule_is_a_pure_function_of_the_step():
    cfg = OptimConfig(lr=0.1, schedule="cosine", warmup_steps=3)
    forwards = [lr_at(t, cfg, 20) for t in range(20)]
    backwards = [lr_at(t, cfg, 20) for t in reversed(range(20))][::-1]
    assert forwards == backwards


def test_every_history_row_logs_the_lr_of_its_last_update(make_cfg, data_tiny):
    cfg = make_cfg("optim.schedule='step'", "optim.step_every=20", "optim.gamma=0.5")
    out = train(cfg, data_tiny)
    # row at step s logs the LR of update s (0-based index s - 1); row 0 the first update's
    assert [(r["step"], r["lr"]) for r in out.history] == [(0, 0.1), (20, 0.1), (40, 0.05), (60, 0.025)]


def test_the_scheduled_lr_is_the_one_the_optimizer_uses(make_cfg, data_tiny):
    """An LR dropped to ~0 after 30 updates leaves the weights where a 30-step run ends."""
    dropped = train(make_cfg("optim.schedule='step'", "optim.step_every=30", "optim.gamma=1e-12"), data_tiny)
    short = train(make_cfg("train.steps=30"), data_tiny)
    for a, b in zip(dropped.model.parameters(), short.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=0)
    assert dropped.steps == 60 and short.steps == 30


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 4)  # weight (2-d) + bias (1-d)
        self.bn = nn.BatchNorm1d(4)  # weight and bias (1-d)


@pytest.mark.parametrize(
    ("name", "switch", "norm_bias_decay"),
    [("sgd", None, 0.1), ("adam", None, 0.1), ("adamw", None, 0.0), ("sgd", False, 0.0), ("adamw", True, 0.1)],
)
def test_weight_decay_on_norm_and_bias_is_switchable(name, switch, norm_bias_decay):
    net = _Net()
    groups = param_groups(net, OptimConfig(name=name, weight_decay=0.1, decay_norm_and_bias=switch))
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert decay[id(net.lin.weight)] == 0.1
    assert [decay[id(p)] for p in (net.lin.bias, net.bn.weight, net.bn.bias)] == [norm_bias_decay] * 3


def test_adamw_decays_decoupled_and_adam_through_the_gradient():
    """With a zero loss gradient, AdamW shrinks p by lr*wd*p (2 -> 1.98); Adam's L2 term becomes the
    gradient, normalised by Adam to a step of ~lr (2 -> 1.9)."""
    out = {}
    for name in ("adam", "adamw"):
        net = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            net.weight.fill_(2.0)
        opt = build_optimizer(net, OptimConfig(name=name, lr=0.1, weight_decay=0.1))
        (net.weight * 0.0).sum().backward()
        opt.step()
        out[name] = float(net.weight.detach())
    assert out["adamw"] == pytest.approx(1.98, abs=1e-6)
    assert out["adam"] == pytest.approx(1.9, abs=1e-6)


def test_nesterov_differs_from_heavy_ball_after_the_first_step():
    """Heavy ball: v = g, p -= lr*v. Nesterov: p -= lr*(g + mu*v). With loss = p (g = 1), lr = 1, mu = 0.5:
    after two steps heavy ball gives -(1 + 1.5) = -2.5 and Nesterov -(1.5 + 1.75) = -3.25."""
    out = {}
    for nesterov in (False, True):
        p = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            p.weight.zero_()
        opt = build_optimizer(p, OptimConfig(lr=1.0, momentum=0.5, nesterov=nesterov))
        for _ in range(2):
            opt.zero_grad()
            p.weight.sum().backward()
            opt.step()
        out[nesterov] = float(p.weight.detach())
    assert out == {False: pytest.approx(-2.5), True: pytest.approx(-3.25)}


def test_each_optimizer_declares_a_default_lr_grid_in_the_papers_range():
    assert set(DEFAULT_LR_GRID) == set(OPTIMIZERS) == {"sgd", "adam", "adamw"}
    assert (min(DEFAULT_LR_GRID["sgd"]), max(DEFAULT_LR_GRID["sgd"])) == (0.001, 0.5)  # paper-spec section 4
    assert (min(DEFAULT_LR_GRID["adam"]), max(DEFAULT_LR_GRID["adam"])) == (1e-5, 3e-3)
    assert all(list(g) == sorted(g) for g in DEFAULT_LR_GRID.values())


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["optim.nesterov=True"], "optim.nesterov needs"),
        (["optim.name='adam'", "optim.momentum=0.9"], "optim.momentum is for sgd only"),
        (["optim.schedule='linear_warmup'"], "needs optim.warmup_steps > 0"),
        (["optim.gamma=0.0"], "optim.gamma must be in (0, 1]"),
        (["optim.step_every=0"], "optim.step_every must be"),
        (["optim.warmup_steps=-1"], "optim.warmup_steps must be >= 0"),
        (["optim.name='lion'"], "optim.name must be one of 'sgd', 'adam', 'adamw'"),
    ],
)
def test_bad_optimizer_settings_fail_with_one_line(overrides, needle):
    with pytest.raises(ConfigError, match=None) as e:
        apply_overrides(RunConfig(), overrides)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_history_lr_at_schedule_boundaries_and_during_warm_up(make_cfg, data_tiny):
    """Row s logs update s's LR (0-based index s - 1). By hand: warm-up 2 (0.05, 0.1), then halving
    every 19 updates counted from the end of warm-up: index 19 -> t' 17 -> 0.1; 39 -> 37 -> 0.05;
    59 -> 57 -> 0.1 * 0.5**3."""
    cfg = make_cfg("optim.schedule='step'", "optim.step_every=19", "optim.gamma=0.5", "optim.warmup_steps=2")
    out = train(cfg, data_tiny)
    assert [r["step"] for r in out.history] == [0, 20, 40, 60]
    assert [r["lr"] for r in out.history] == pytest.approx([0.05, 0.1, 0.05, 0.0125])

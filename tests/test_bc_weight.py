"""The BC up-weighting intervention (train.bc_weight / bc_set / jtt_steps, paper-spec claim 6)."""

from __future__ import annotations

import math

import pytest
import torch

from largelr.config import RunConfig, run_id
from largelr.data import build_dataset
from largelr.errors import ConfigError
from largelr.objectives import sample_weights, weighted_cross_entropy
from largelr.train import erm_error_set, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    from largelr.config import apply_overrides

    cfg = apply_overrides(RunConfig(), ["data.n_train=500", "data.n_val=200", "data.n_test=200", "data.rho=0.9"])
    return build_dataset(cfg.data, seed=0)


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_weight_one_equals_plain_training_bit_for_bit(make_cfg, data):
    plain = train(make_cfg(), data)
    for extra in (["train.bc_weight=1.0"], ["train.bc_weight=1", "train.bc_set=jtt", "train.jtt_steps=7"]):
        again = train(make_cfg(*extra), data)
        assert [str(r) for r in again.history] == [str(r) for r in plain.history]
        a, b = state(plain.model), state(again.model)
        assert all(torch.equal(a[k], b[k]) for k in a)
    # and a weight other than 1 does change training (so the comparison above can fail)
    up = train(make_cfg("train.bc_weight=5.0"), data)
    assert not all(torch.equal(v, state(up.model)[k]) for k, v in state(plain.model).items())


def test_default_fields_keep_existing_run_ids(make_cfg):
    assert run_id(make_cfg("train.bc_weight=1.0", "train.bc_set=jtt")) != run_id(make_cfg("train.bc_weight=2.0"))
    assert run_id(make_cfg("train.bc_weight=1.0")) == run_id(make_cfg())
    assert run_id(make_cfg("train.bc_weight=2.0", "train.bc_set=jtt")) != run_id(make_cfg("train.bc_weight=2.0"))


def test_a_weighted_run_names_its_normalisation_in_its_id(make_cfg):
    """The default normalisation changed meaning (it was per batch, unnormalised): a weighted run's id always
    includes it, so a run stored before (unnormalised, no field) never shares an id with a new normalised one."""
    from largelr.config import identity

    summed, batch = make_cfg("train.bc_weight=2.0"), make_cfg("train.bc_weight=2.0", "train.bc_weight_norm=batch")
    assert identity(summed)["train"]["bc_weight_norm"] == "sum" and run_id(summed) != run_id(batch)
    assert "bc_weight_norm" not in identity(make_cfg()).get("train", {})  # plain runs keep their ids
    assert "bc_weight_norm" not in identity(make_cfg("train.bc_weight_norm=batch")).get("train", {})


def test_unnormalised_weighted_loss_raises_the_bc_share_and_the_step_on_a_fixed_batch():
    # 4 samples, 3 classes. Zero logits: every CE = ln 3. Sample 0 is BC (weight lam), 1-3 are BA.
    logits = torch.zeros(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    for lam in (1.0, 3.0, 9.0):
        w = torch.tensor([lam, 1.0, 1.0, 1.0])
        loss = weighted_cross_entropy(logits, y, w, normalise=False)
        assert float(loss) == pytest.approx((lam + 3) * math.log(3) / 4)
        # BC share of the loss: lam*ln3 / ((lam+3)*ln3) = lam/(lam+3): 1/4, 1/2, 3/4
        bc_part = weighted_cross_entropy(logits[:1], y[:1], w[:1], normalise=False) / 4
        assert float(bc_part / loss) == pytest.approx(lam / (lam + 3))
    # non-uniform logits: sample 0 has logit 2 on class 1 (wrong), others predict their class with logit 2
    logits = torch.tensor([[0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    l_bc = math.log(math.exp(2) + 2)  # -log softmax of the true class (logit 0)
    l_ba = -2 + math.log(math.exp(2) + 2)
    w = torch.tensor([4.0, 1.0, 1.0, 1.0])
    assert float(weighted_cross_entropy(logits, y, w, normalise=False)) == pytest.approx((4 * l_bc + 3 * l_ba) / 4)
    # normalised: divided by the sum of weights (7), not the batch size (4)
    assert float(weighted_cross_entropy(logits, y, w)) == pytest.approx((4 * l_bc + 3 * l_ba) / 7)
    # unnormalised, its gradient on the BC sample's logits is 4x the plain one; normalised, 4/7 x 4
    g = []
    for weights, norm in ((torch.ones(4), False), (w, False), (w, True)):
        z = logits.clone().requires_grad_(True)
        weighted_cross_entropy(z, y, weights, normalise=norm).backward()
        g.append(z.grad[0].clone())
    assert torch.allclose(g[1], 4 * g[0]) and torch.allclose(g[2], 4 * g[0] * 4 / 7)
    # every weight 0 (a batch of BC samples at lam = 0): loss 0, no NaN
    assert float(weighted_cross_entropy(logits, y, torch.zeros(4))) == 0.0


def test_normalised_weighting_is_duplicating_the_bc_set_lambda_times():
    """Exact: the gradient of the normalised weighted loss over a set equals the gradient of the plain mean loss
    over the set with each BC sample repeated lambda times (integer lambda), in float64."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=gen)
    bc = torch.tensor([True, False, False, True] + [False] * 8)
    model = torch.nn.Linear(5, 3, dtype=torch.float64)
    for lam in (0, 3, 10):
        model.zero_grad()
        w = torch.where(bc, torch.tensor(float(lam), dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
        weighted_cross_entropy(model(x), y, w).backward()
        g_weighted = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        reps = torch.where(bc, lam, 1)
        xd, yd = x.repeat_interleave(reps, 0), y.repeat_interleave(reps, 0)
        torch.nn.functional.cross_entropy(model(xd), yd).backward()
        assert all(torch.allclose(a, p.grad, atol=1e-14, rtol=0) for a, p in zip(g_weighted, model.parameters()))
        assert len(yd) == 10 + 2 * lam


def _never():
    raise AssertionError("the JTT error set is only trained for bc_set=jtt")


def test_oracle_weights_are_the_bc_labels(make_cfg, data):
    w = sample_weights(make_cfg("train.bc_weight=3.0"), data, jtt_error_set=_never)
    bc = ~data.splits["train"].aligned
    assert int(bc.sum()) == 50  # rho 0.9 of 500
    assert torch.equal(w == 3.0, bc) and torch.equal(w == 1.0, ~bc)
    assert sample_weights(make_cfg(), data, jtt_error_set=_never) is None


def test_jtt_set_is_the_erm_errors_and_a_pure_function_of_the_config(make_cfg, data):
    cfg = make_cfg("train.bc_weight=3.0", "train.bc_set=jtt", "train.jtt_steps=20")
    a, b = erm_error_set(cfg, data), erm_error_set(cfg, data)
    assert torch.equal(a, b)
    # independently: train plain ERM for 20 steps with the same seeds, list its training errors
    erm = train(make_cfg("train.steps=20", "train.until=budget"), data)
    with torch.no_grad():
        erm.model.eval()
        wrong = erm.model(data.splits["train"].x).argmax(1) != data.splits["train"].y
    assert torch.equal(a, wrong)
    assert 0 < int(a.sum()) < len(a)
    w = sample_weights(cfg, data, jtt_error_set=lambda: erm_error_set(cfg, data))
    assert torch.equal(w == 3.0, wrong)


@pytest.mark.parametrize("bad", ["train.bc_weight=-1.0", "train.bc_weight=inf", "train.jtt_steps=0"])
def test_bad_values_are_rejected(make_cfg, bad):
    with pytest.raises(ConfigError, match=bad.split("=")[0]):
        make_cfg(bad)


def test_jtt_erm_ignores_the_runs_own_budget_stop_rules_and_dynamics(make_cfg, data, caplog):
    """The ERM model of JTT is trained on exactly ``jtt_steps`` steps whatever the run's epochs,
    convergence rule, evaluation period, failure rule or dynamics subset; its summary is logged."""
    import logging

    cfg = make_cfg(
        "train.bc_weight=3.0", "train.bc_set=jtt", "train.jtt_steps=20", "train.steps=None", "train.epochs=1.0",
        "train.loss_tol=10.0", "train.eval_every=5", "train.fail_after=5", "eval.n_dynamics=50",
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="largelr.train"):
        got = erm_error_set(cfg, data)
    erm = train(make_cfg("train.steps=20", "train.until=budget"), data)  # plain ERM, 20 steps, by hand
    split = data.splits["train"]
    with torch.no_grad():
        erm.model.eval()
        wrong = erm.model(split.x).argmax(1) != split.y
    assert torch.equal(got, wrong)
    bc = ~split.aligned
    expected = (
        f"JTT error set: {int(wrong.sum())} of {len(wrong)} training samples "
        f"({int((wrong & bc).sum())} of {int(bc.sum())} true BC) after 20 ERM steps (ok)"
    )
    assert expected in caplog.messages


def test_up_weighting_trains_differently_and_keeps_label_smoothing(make_cfg, data):
    init = state(train(make_cfg("train.steps=1", "optim.lr=1e-12"), data).model)
    plain = state(train(make_cfg(), data).model)
    up = state(train(make_cfg("train.bc_weight=2.0"), data).model)
    up_smooth = state(train(make_cfg("train.bc_weight=2.0", "train.label_smoothing=0.1"), data).model)
    for k in init:
        if init[k].is_floating_point():
            assert not torch.equal(up[k], init[k]) or k.endswith("bias")  # the weighted loss trains
    assert any(not torch.equal(up[k], plain[k]) for k in up)
    assert any(not torch.equal(up_smooth[k], up[k]) for k in up)  # smoothing reaches the weighted loss


def test_objective_is_plain_or_weighted_cross_entropy_of_the_batch(make_cfg, data):
    """The loss of a batch of training indices, by hand: plain CE (label smoothing kept) at weight 1, and with
    ``bc_set=jtt`` the weight on exactly the error set the loop hands in, normalised by the sum of weights."""
    from largelr.objectives import objective

    y = data.splits["train"].y
    idx = torch.tensor([4, 0, 7, 2])
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    plain = objective(make_cfg("train.label_smoothing=0.1"), data, jtt_error_set=_never)(logits, idx)
    assert torch.equal(plain, torch.nn.functional.cross_entropy(logits, y[idx], label_smoothing=0.1))
    errors = torch.zeros(len(y), dtype=torch.bool)
    errors[[0, 2]] = True  # two of the batch's samples
    jtt = objective(make_cfg("train.bc_weight=3.0", "train.bc_set=jtt"), data, jtt_error_set=lambda: errors)
    ce = torch.nn.functional.cross_entropy(logits, y[idx], reduction="none")
    assert float(jtt(logits, idx)) == pytest.approx(float(ce[0] + 3 * ce[1] + ce[2] + 3 * ce[3]) / 8)


def test_the_loop_weights_a_jtt_run_by_its_erm_error_set(make_cfg, data, monkeypatch):
    """``train`` hands JTT's identification step (``erm_error_set`` of its own config) to the objective, once."""
    import largelr.train as train_mod

    calls, real = [], train_mod.erm_error_set
    monkeypatch.setattr(train_mod, "erm_error_set", lambda cfg, d: calls.append(cfg) or real(cfg, d))
    cfg = make_cfg("train.bc_weight=3.0", "train.bc_set=jtt", "train.jtt_steps=20", "train.steps=20")
    train(cfg, data)
    assert calls == [cfg]

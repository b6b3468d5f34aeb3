"""The training loop and one run end to end (``largelr.run``) on a tiny config: determinism, seeds, stopping
rules, statuses."""

from __future__ import annotations

import json
import math

import pytest
import torch

from largelr import store
from largelr.config import TrainConfig, run_id, total_steps
from largelr.data import build_dataset
from largelr.run import execute
from largelr.train import TrainOutcome, init_model, is_failed, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    """The tiny config's dataset (seeds.data=0), built once for the module. Tests must not modify it."""
    from largelr.config import RunConfig, apply_overrides

    cfg = apply_overrides(RunConfig(), ["data.n_train=500", "data.n_val=200", "data.n_test=200"])
    return build_dataset(cfg.data, seed=0)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def canon(rows: list[dict]) -> list[str]:
    """History rows as canonical JSON strings, so NaN compares equal to NaN."""
    return [json.dumps(r, sort_keys=True) for r in rows]


def same_split_tensors(d1, d2) -> bool:
    return all(
        torch.equal(getattr(d1.splits[s], f), getattr(d2.splits[s], f))
        for s in ("train", "val", "test")
        for f in ("x", "y", "s", "aligned")
    )


# ---------------------------------------------------------------------------------------------
# determinism and seeds


def test_training_twice_gives_identical_history_and_weights(make_cfg, data):
    cfg = make_cfg()
    torch.manual_seed(123)  # the global RNG state must not matter
    a = train(cfg, data)
    torch.manual_seed(456)
    torch.rand(10)
    b = train(cfg, data)
    assert [r["step"] for r in a.history] == [0, 20, 40, 60]
    assert canon(a.history) == canon(b.history)
    assert same_weights(weights(a.model), weights(b.model))
    assert a.status == "ok" and a.steps == 60


def test_history_jsonl_is_identical_across_runs(make_cfg, finished_study, tmp_path):
    cfg = make_cfg()
    result = execute(cfg, tmp_path / "again")
    rd_a, rd_b = store.run_dir(finished_study, cfg), store.run_dir(tmp_path / "again", cfg)
    assert (rd_a / store.HISTORY).read_bytes() == (rd_b / store.HISTORY).read_bytes()
    assert (rd_a / store.CONFIG).read_bytes() == (rd_b / store.CONFIG).read_bytes()
    first = json.loads((rd_a / store.RESULT).read_text())
    assert first["metrics"] == json.loads(json.dumps(store.sanitize(result["metrics"])))
    assert same_weights(store.load_weights(rd_a), store.load_weights(rd_b))


def test_init_seed_changes_weights_but_not_data(make_cfg):
    a_cfg, b_cfg = make_cfg(), make_cfg("seeds.init=1")
    torch.manual_seed(1)
    data_a = build_dataset(a_cfg.data, seed=a_cfg.seeds.data)
    torch.manual_seed(2)  # the dataset must not draw from the global RNG
    data_b = build_dataset(b_cfg.data, seed=b_cfg.seeds.data)
    assert same_split_tensors(data_a, data_b)
    init_a = weights(init_model(a_cfg, data_a, torch.device("cpu")))
    init_b = weights(init_model(b_cfg, data_b, torch.device("cpu")))
    assert not same_weights(init_a, init_b)
    a, b = train(a_cfg, data_a), train(b_cfg, data_b)
    assert not same_weights(weights(a.model), weights(b.model))
    assert canon(a.history[:1]) != canon(b.history[:1])  # different init, different step-0 metrics
    assert same_split_tensors(data_a, data_b)  # training does not modify the data


def test_order_seed_changes_training_but_not_init(make_cfg, data):
    a_cfg, b_cfg = make_cfg(), make_cfg("seeds.order=1")
    assert same_weights(
        weights(init_model(a_cfg, data, torch.device("cpu"))), weights(init_model(b_cfg, data, torch.device("cpu")))
    )
    a, b = train(a_cfg, data), train(b_cfg, data)
    assert canon(a.history[:1]) == canon(b.history[:1])
    assert canon(a.history[1:]) != canon(b.history[1:])


def test_data_seed_changes_data_but_not_init(make_cfg, data):
    cfg = make_cfg("seeds.data=1")
    other = build_dataset(cfg.data, seed=cfg.seeds.data)
    assert other.input_shape == data.input_shape and other.num_classes == data.num_classes
    for split in ("train", "val", "test"):
        assert len(other.splits[split]) == len(data.splits[split])
        assert not torch.equal(other.splits[split].x, data.splits[split].x)
    assert not torch.equal(other.splits["train"].y, data.splits["train"].y)
    # same rho, so the same share of bias-aligned training samples
    assert other.splits["train"].aligned.sum() == data.splits["train"].aligned.sum()
    assert same_weights(
        weights(init_model(make_cfg(), data, torch.device("cpu"))), weights(init_model(cfg, other, torch.device("cpu")))
    )


# ---------------------------------------------------------------------------------------------
# outcomes recorded by largelr.run


def test_huge_lr_diverges_and_is_recorded(make_cfg, tmp_path):
    """lr=1e6 sends the loss to NaN at the first evaluation. (Large-but-finite LRs such as 1e4 only kill
    every ReLU of this bias-free MLP: loss log(10), accuracy at chance, which ends as "failed".)"""
    cfg = make_cfg("optim.lr=1e6")
    result = execute(cfg, tmp_path)
    rd = store.run_dir(tmp_path, cfg)
    assert store.run_state(rd) == "done"
    assert result["status"] == "diverged" and result["converged"] is False
    assert result["steps"] == 20  # stopped at the first evaluation that saw a non-finite loss
    on_disk = json.loads((rd / store.RESULT).read_text())
    assert on_disk["status"] == "diverged" and on_disk["run_id"] == run_id(cfg)
    assert on_disk["final_train_loss"] is None  # NaN is written as null
    history = store.read_history(rd)
    assert [r["step"] for r in history] == [0, 20]
    assert history[-1]["train/loss"] is None
    # it diverged before its first evaluation after step 0: the step-0 row describes the untrained
    # model, not this run, so every metric is null (the keys of a history row, without step/epoch)
    assert on_disk["metrics"] == {k: None for k in history[0] if k not in ("step", "epoch")}
    assert "test/acc" in on_disk["metrics"] and "train/loss" in on_disk["metrics"]
    assert (rd / store.WEIGHTS).is_file() and (rd / store.ENV).is_file()


def test_run_that_cannot_learn_fails(make_cfg, tmp_path):
    cfg = make_cfg("optim.lr=1e-9", "train.fail_after=20")
    result = execute(cfg, tmp_path)
    assert result["status"] == "failed" and result["converged"] is False
    assert result["steps"] == 20
    assert result["final_train_acc"] <= 1.25 * 0.1
    assert "test/acc" in result["metrics"]  # failed runs are still evaluated
    rd = store.run_dir(tmp_path, cfg)
    assert store.run_state(rd) == "done"
    assert json.loads((rd / store.RESULT).read_text())["status"] == "failed"


def test_fail_after_is_respected(make_cfg, data):
    """The same untrainable run is not stopped before ``fail_after`` (evaluations at steps 20 and 40 at
    chance let it go on) but the budget ends before it, so the rule fires at the last step (60)."""
    out = train(make_cfg("optim.lr=1e-9", "train.fail_after=1000"), data)
    assert out.status == "failed" and out.steps == 60
    assert [r["step"] for r in out.history] == [0, 20, 40, 60]
    assert all(r["train/acc"] <= 0.125 for r in out.history[1:])


def test_until_converged_stops_early_and_budget_runs_it_all(make_cfg, data):
    extra = ["optim.lr=0.2", "train.steps=600", "train.loss_tol=0.5"]
    conv = train(make_cfg(*extra, "train.until=converged"), data)
    assert conv.status == "ok" and conv.converged
    assert conv.steps < 600 and conv.steps % 20 == 0
    last = conv.history[-1]
    assert last["step"] == conv.steps and last["train/acc"] == 1.0 and last["train/loss"] < 0.5
    # nothing stopped it earlier: no earlier evaluation met the criterion
    assert all(not (r["train/acc"] == 1.0 and r["train/loss"] < 0.5) for r in conv.history[:-1])

    budget = train(make_cfg(*extra, "train.until=budget"), data)
    assert budget.status == "ok" and not budget.converged
    assert budget.steps == 600
    assert [r["step"] for r in budget.history] == list(range(0, 601, 20))
    assert canon(budget.history[: len(conv.history)]) == canon(conv.history)  # same trajectory up to the stop


def test_last_step_is_evaluated_when_not_a_multiple_of_eval_every(make_cfg, data):
    out = train(make_cfg("train.steps=50"), data)
    assert [r["step"] for r in out.history] == [0, 20, 40, 50]
    assert out.steps == 50


# ---------------------------------------------------------------------------------------------
# epochs -> steps


@pytest.mark.parametrize(
    "epochs, n_train, batch, steps",
    [(1.0, 500, 50, 10), (2.5, 500, 50, 25), (1.0, 120, 50, 3), (0.01, 500, 50, 1), (3, 1000, 100, 30)],
)
def test_epochs_become_steps(epochs, n_train, batch, steps):
    assert total_steps(TrainConfig(steps=None, epochs=epochs, batch_size=batch), n_train) == steps


def test_steps_take_precedence_as_the_budget():
    assert total_steps(TrainConfig(steps=123, epochs=None, batch_size=7), 10) == 123


def test_training_for_epochs(make_cfg, data):
    out = train(make_cfg("train.steps=None", "train.epochs=1.5", "train.eval_every=5"), data)
    assert out.steps == 15
    assert [r["step"] for r in out.history] == [0, 5, 10, 15]
    assert [r["epoch"] for r in out.history] == [0.0, 0.5, 1.0, 1.5]


# ---------------------------------------------------------------------------------------------
# stop rules at their exact boundaries, and the history row against the end-of-run metrics


def test_convergence_needs_the_loss_strictly_below_loss_tol(make_cfg, data):
    extra = ["optim.lr=0.2", "train.steps=600", "train.loss_tol=0.5"]
    budget = train(make_cfg(*extra, "train.until=budget"), data)
    first = next(r for r in budget.history if r["train/acc"] == 1.0)  # the first evaluation at 100%
    loss = first["train/loss"]
    at = train(make_cfg(*extra[:2], f"train.loss_tol={loss!r}", "train.until=converged"), data)
    assert at.steps > first["step"]  # loss == loss_tol is not below it: training goes on
    assert at.converged and at.history[-1]["train/loss"] < loss
    above = math.nextafter(loss, math.inf)
    just = train(make_cfg(*extra[:2], f"train.loss_tol={above!r}", "train.until=converged"), data)
    assert just.converged and just.steps == first["step"] and just.status == "ok"


def _nan_loss_from(step_index: int, acc: float, monkeypatch):
    """Make the ``step_index``-th evaluation (0 = step 0) report a NaN train loss and train accuracy ``acc``."""
    from largelr import train as train_mod

    real, calls = train_mod.evaluate_history, []

    def row(*args):
        out = real(*args)
        calls.append(1)
        if len(calls) > step_index:
            out.update({"train/loss": math.nan, "train/acc": acc})
        return out

    monkeypatch.setattr(train_mod, "evaluate_history", row)


def test_nan_after_finite_rows_is_diverged_and_keeps_the_last_finite_row(make_cfg, data, monkeypatch):
    _nan_loss_from(2, acc=0.5, monkeypatch=monkeypatch)  # steps 0 and 20 finite, NaN at step 40
    out = train(make_cfg(), data)
    assert out.status == "diverged" and not out.converged and out.steps == 40
    assert [r["step"] for r in out.history] == [0, 20, 40]
    assert out.last_finite is out.history[1]


def test_diverged_wins_over_failed_when_both_hold(make_cfg, data, monkeypatch):
    # at step 20 >= fail_after the loss is NaN and the accuracy is at chance: both rules apply
    _nan_loss_from(1, acc=0.0, monkeypatch=monkeypatch)
    out = train(make_cfg("train.fail_after=0"), data)
    assert out.status == "diverged" and out.steps == 20


def test_last_finite_skips_the_untrained_row():
    """A diverged run reports its last finite evaluation after step 0, or nothing."""

    def row(step: int, loss: float) -> dict:
        return {"step": step, "train/loss": loss, "test/acc": step / 100}

    out = TrainOutcome(torch.nn.Linear(1, 1), "diverged", False, 30)
    out.history = [row(0, 2.3), row(10, 1.0), row(20, 0.5), row(30, float("nan"))]
    assert out.last_finite["step"] == 20
    out.history = [row(0, 2.3), row(10, float("inf"))]
    assert out.last_finite == {}


@pytest.mark.parametrize(
    ("step", "total", "acc", "classes", "fail_after", "failed"),
    [
        (1000, 5000, 0.125, 10, 1000, True),  # exactly 1.25 x chance (1/10) at fail_after
        (1000, 5000, 0.12500001, 10, 1000, False),  # just above
        (1000, 5000, 0.625, 2, 1000, True),  # exactly 1.25 x 1/2
        (1000, 5000, 0.6251, 2, 1000, False),
        (999, 5000, 0.1, 10, 1000, False),  # before fail_after, not the last step
        (500, 500, 0.1, 10, 1000, True),  # budget ends before fail_after: the last step is checked
        (500, 500, 0.13, 10, 1000, False),
    ],
)
def test_failure_rule_boundaries(step, total, acc, classes, fail_after, failed):
    assert is_failed(step, total, acc, classes, fail_after) is failed


def test_short_budget_dead_network_fails(make_cfg, tmp_path, one_thread):
    """LR 2.0 kills every ReLU of the tiny bias-free MLP (train acc stays at chance, 0.1); with a budget
    of 500 steps below fail_after=1000 the rule still fires at the last evaluation."""
    cfg = make_cfg("optim.lr=2.0", "train.steps=500", "train.eval_every=100", "train.fail_after=1000")
    result = execute(cfg, tmp_path)
    assert result["status"] == "failed" and result["steps"] == 500
    assert result["final_train_acc"] <= 0.125


def test_eval_and_train_seconds_add_up_every_segment(make_cfg, data_tiny, monkeypatch):
    """A fake clock that advances 1 s per reading: the start evaluation and the 3 later ones each take
    1 s, and each of the 3 training segments between them 1 s."""
    import largelr.train as train_mod

    ticks = iter(range(10_000))
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: float(next(ticks)))
    out = train(make_cfg(), data_tiny)
    assert [r["step"] for r in out.history] == [0, 20, 40, 60]
    assert (out.eval_seconds, out.train_seconds) == (4.0, 3.0)


def test_the_end_of_training_is_logged(make_cfg, data_tiny, caplog):
    import logging

    with caplog.at_level(logging.DEBUG, logger="largelr.train"):
        train(make_cfg(), data_tiny)
    assert "trained 60 steps: ok" in caplog.messages


def test_history_dynamics_track_the_subset_drawn_from_the_data_seed(make_cfg, data_tiny):
    from largelr.metrics.dynamics import dynamics_row, dynamics_subset

    out = train(make_cfg("eval.n_dynamics=50"), data_tiny)  # 50 of 500: the draw matters
    idx = dynamics_subset(data_tiny, 50, 0)  # seeds.data = 0
    expected = dynamics_row(out.model, data_tiny.splits["train"], idx)
    assert {k: out.history[-1][k] for k in expected} == pytest.approx(expected, nan_ok=True)
    other = dynamics_row(out.model, data_tiny.splits["train"], dynamics_subset(data_tiny, 50, 1))
    assert other != pytest.approx(expected, nan_ok=True)  # another seed tracks other samples


def test_dropout_runs_are_reproducible_from_their_seeds(make_cfg, data_tiny):
    """Dropout masks come from a generator seeded from the order seed, not from whatever state torch's
    global RNG is in: two runs of one config, with the global RNG moved in between, give the same model."""
    cfg = make_cfg("model.kwargs.dropout=0.5", "train.steps=5", "train.eval_every=5")
    a = train(cfg, data_tiny).model
    torch.rand(1000)  # move the global RNG
    b = train(cfg, data_tiny).model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_largelr_run_is_execute(monkeypatch):
    """The public ``largelr.run(cfg, study)`` and the module ``largelr.run`` share a name; once the module is
    imported the package attribute is the module, which calls ``execute``."""
    import importlib

    import largelr

    module = importlib.import_module("largelr.run")
    assert largelr.run is module and largelr.__getattr__("run") is module
    calls = []
    monkeypatch.setattr(module, "execute", lambda cfg, study, force=False: calls.append((cfg, study, force)) or {})
    assert largelr.run("cfg", "study") == {} and largelr.run("cfg", "s2", force=True) == {}
    assert calls == [("cfg", "study", False), ("cfg", "s2", True)]

"""Robustness numbers on a hand-made 8-sample example (values worked out by hand in the comments)."""

from __future__ import annotations

import math

import pytest
import torch
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.metrics.base import METRICS
from largelr.metrics.robustness import group_accuracy, robustness_metrics, worst_group

# groups (y, s): (0,0) x2, (0,1) x2, (1,1) x2, (1,0) x2; class 2 exists but has no samples
Y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
S = torch.tensor([0, 0, 1, 1, 1, 1, 0, 0])
PRED = torch.tensor([0, 0, 1, 0, 1, 1, 2, 1])
# correct:           1  1  0  1  1  1  0  1
ALIGNED = Y == S


def test_group_accuracy_matrix():
    A = group_accuracy(PRED, Y, S, 3, 3)
    assert A[0, 0] == 1.0 and A[0, 1] == 0.5 and A[1, 1] == 1.0 and A[1, 0] == 0.5
    assert torch.isnan(A[2]).all() and torch.isnan(A[:, 2]).all()


def test_robustness_metrics_by_hand():
    frac = torch.tensor([[0.4, 0.1, 0.0], [0.1, 0.4, 0.0], [0.0, 0.0, 0.0]])
    r = robustness_metrics(PRED, Y, S, ALIGNED, 3, 3, frac, pulled=torch.arange(3))  # s = c pulls to class c
    assert r["acc"] == pytest.approx(6 / 8)
    assert r["acc_ba"] == pytest.approx(1.0)  # samples 0, 1, 4, 5
    assert r["acc_bc"] == pytest.approx(0.5)  # samples 2, 3, 6, 7: 3 and 7 right
    assert r["worst_group_acc"] == pytest.approx(0.5)
    assert r["unbiased_acc"] == pytest.approx((1 + 0.5 + 1 + 0.5) / 4)
    assert r["avg_acc"] == pytest.approx(0.4 * 1 + 0.1 * 0.5 + 0.1 * 0.5 + 0.4 * 1)
    # BC errors: sample 2 predicts 1 = its s (follows), sample 6 predicts 2 != s = 0
    assert r["bias_following"] == pytest.approx(0.5)
    assert r["group_acc"][0][:2] == [1.0, 0.5] and r["group_acc"][2] == [None, None, None]
    assert r["min_group_n"] == 2.0  # every non-empty group has 2 samples; class 2's empty groups do not count
    # BC samples by class: class 0 -> samples 2, 3 (1 of 2 right), class 1 -> samples 6, 7 (1 of 2 right)
    assert r["worst_class_acc_bc"] == pytest.approx(0.5)


def test_worst_class_bc_accuracy_and_smallest_group_with_unequal_classes():
    # class 0: BC samples (s=1) x3, 3 right; class 1: BC (s=0) x1, wrong; aligned (1,1) x1: smallest group 1
    y = torch.tensor([0, 0, 0, 1, 1])
    s = torch.tensor([1, 1, 1, 0, 1])
    pred = torch.tensor([0, 0, 0, 0, 1])
    r = robustness_metrics(pred, y, s, y == s, 2, 2)
    assert r["worst_class_acc_bc"] == 0.0  # class 1's one BC sample is wrong; class 0's three are right (1.0)
    assert r["min_group_n"] == 1.0  # groups (0,1) x3, (1,0) x1, (1,1) x1
    e = torch.zeros(0, dtype=torch.long)
    empty = robustness_metrics(e, e, e, torch.zeros(0, dtype=torch.bool), 2, 2)
    assert math.isnan(empty["worst_class_acc_bc"]) and math.isnan(empty["min_group_n"])


def test_robustness_metrics_empty_subsets_are_nan():
    y = torch.tensor([0, 1])
    r = robustness_metrics(y.clone(), y, y.clone(), torch.tensor([True, True]), 2, 2, pulled=torch.arange(2))
    assert r["acc"] == 1.0 and math.isnan(r["acc_bc"]) and math.isnan(r["bias_following"])
    assert "avg_acc" not in r


# ---------------------------------------------------------------------------------------------
# values a one-character change would alter (from mutation testing, tools/mutation.py)


def test_group_accuracy_with_unequal_group_sizes():
    # groups (y, s) = (0, 1) x1 right, (1, 0) x3 with 2 right, (1, 1) x1 wrong; num_attrs 2 != num_classes 3
    y = torch.tensor([0, 1, 1, 1, 1])
    s = torch.tensor([1, 0, 0, 0, 1])
    pred = torch.tensor([0, 1, 1, 2, 0])
    A = group_accuracy(pred, y, s, 3, 2)
    assert A.shape == (3, 2)
    assert A[0, 1] == 1.0 and A[1, 0] == pytest.approx(2 / 3) and A[1, 1] == 0.0
    assert torch.isnan(A[0, 0]) and torch.isnan(A[2]).all()


def test_avg_acc_renormalises_over_present_groups():
    # training puts weight on group (1, 0), which the scored split lacks: the rest is renormalised
    y = torch.tensor([0, 0, 1])
    s = torch.tensor([0, 1, 1])
    pred = torch.tensor([0, 1, 1])  # (0, 0) right, (0, 1) wrong, (1, 1) right
    frac = torch.tensor([[0.5, 0.1], [0.2, 0.2]])
    r = robustness_metrics(pred, y, s, y == s, 2, 2, frac)
    assert r["avg_acc"] == pytest.approx((0.5 * 1 + 0.1 * 0 + 0.2 * 1) / 0.8)
    assert r["worst_group_acc"] == 0.0 and r["unbiased_acc"] == pytest.approx(2 / 3)
    assert r["acc_ba"] == 1.0 and r["acc_bc"] == 0.0 and r["acc"] == pytest.approx(2 / 3)
    assert math.isnan(robustness_metrics(pred, y, s, y == s, 2, 2, torch.zeros(2, 2))["avg_acc"])


def test_robustness_metric_on_a_model_that_reads_the_spurious_attribute():
    # wired to predict s: right exactly on the aligned samples. Toy train/val: 27 aligned + 3 conflicting
    # samples (groups (0,1), (1,2), (2,0)); test: all 9 groups x 4.
    out = METRICS.get("robustness")(make_ctx(wired_mlp("spurious"), toy_dataset()))
    assert out["test/acc"] == pytest.approx(1 / 3) and out["val/acc"] == pytest.approx(0.9)
    for split in ("val", "test"):
        assert out[f"{split}/acc_ba"] == 1.0 and out[f"{split}/acc_bc"] == 0.0
        assert out[f"{split}/worst_group_acc"] == 0.0
        assert out[f"{split}/avg_acc"] == pytest.approx(27 / 30)  # training proportions: 9/30 per aligned group
    assert out["test/unbiased_acc"] == pytest.approx(1 / 3) and out["val/unbiased_acc"] == pytest.approx(0.5)
    assert out["test/group_acc"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert out["val/group_acc"][0] == [1.0, 0.0, None]


def test_history_accuracy_equals_the_end_of_run_robustness_metrics():
    """Same model, same splits: the history's test numbers are the robustness metric's, acc_bc on the
    conflicting samples. The model predicts s, so it is right on exactly the aligned samples."""
    from largelr.config import EvalConfig
    from largelr.evaluate import evaluate_history

    data = toy_dataset()
    for reads, acc_bc in (("spurious", 0.0), ("core", 1.0)):
        model = wired_mlp(reads).train()
        row = evaluate_history(model, data, EvalConfig(n_dynamics=0))
        assert model.training  # handed back in training mode
        metrics = METRICS.get("robustness")(make_ctx(model, data))
        for key in ("test/acc", "test/acc_bc", "test/worst_group_acc", "val/acc"):
            assert row[key] == metrics[key]
        assert row["test/acc_bc"] == acc_bc
    # by hand for the s-reader: logits 3 * onehot(s); train has 27 aligned and 3 conflicting samples
    row = evaluate_history(wired_mlp("spurious"), data, EvalConfig(n_dynamics=0))
    assert list(row) == ["train/acc", "train/loss", "val/acc", "test/acc", "test/acc_bc", "test/worst_group_acc"]
    assert row["train/acc"] == pytest.approx(0.9) and row["test/acc"] == pytest.approx(1 / 3)
    expected_loss = (27 * math.log(1 + 2 * math.exp(-3)) + 3 * math.log(math.exp(3) + 2)) / 30
    assert row["train/loss"] == pytest.approx(expected_loss)
    assert row["test/worst_group_acc"] == 0.0


def test_worst_group_ignores_empty_groups():
    A = torch.tensor([[1.0, float("nan")], [0.25, 0.75]])
    assert worst_group(A) == 0.25
    assert math.isnan(worst_group(torch.full((2, 2), float("nan"))))


def test_robustness_metrics_of_an_empty_split_are_all_nan():
    e = torch.zeros(0, dtype=torch.long)
    r = robustness_metrics(e, e, e, torch.zeros(0, dtype=torch.bool), 2, 2, torch.full((2, 2), 0.25))
    for key in ("acc", "acc_ba", "acc_bc", "worst_group_acc", "unbiased_acc", "avg_acc"):
        assert math.isnan(r[key]), key
    assert r["group_acc"] == [[None, None], [None, None]]


def test_declared_keys_say_what_the_paper_says():
    """Every key's label, desirable direction, headline flag and property family, written out: the test
    split is the robustness property (accuracy and worst-group accuracy its headlines; a lower
    bias-following share is better), the biased val split only diagnostics."""
    test_keys = {
        "acc": ("test accuracy (unbiased)", "higher", True),
        "acc_ba": ("bias-aligned accuracy", "higher", False),
        "acc_bc": ("bias-conflicting accuracy", "higher", False),
        "worst_group_acc": ("worst-group accuracy", "higher", True),
        "worst_class_acc_bc": ("worst-class bias-conflicting accuracy (ours)", "higher", False),
        "unbiased_acc": ("mean group accuracy", "higher", False),
        "avg_acc": ("group accuracy weighted by training proportions", "higher", False),
        "bias_following": ("share of BC errors predicting s", "lower", False),
    }
    expected = {f"test/{k}": (label, d, h, "robustness") for k, (label, d, h) in test_keys.items()}
    for k, (label, d, _) in test_keys.items():
        expected[f"val/{k}"] = ("val (biased): " + ("accuracy" if k == "acc" else label), d, False, None)
    expected["test/min_group_n"] = ("samples in the smallest group", None, False, None)
    expected["val/min_group_n"] = ("val (biased): samples in the smallest group", None, False, None)
    keys = METRICS.spec("robustness").keys
    assert {k: (v.label, v.desirable, v.headline, v.property) for k, v in keys.items()} == expected
    # every accuracy has a smallest effect of interest of one point; worst-group accuracy on small groups is
    # judged by the worst-class BC accuracy of the same split
    assert {k: v.sesoi for k, v in keys.items() if v.desirable} == {k: 0.01 for k in keys if keys[k].desirable}
    for split in ("test", "val"):
        small = keys[f"{split}/worst_group_acc"].small_groups
        assert (small.size_key, small.min_size, small.use) == (
            f"{split}/min_group_n",
            100,
            f"{split}/worst_class_acc_bc",
        )


def test_bias_following_share_is_not_symmetric():
    """Three BC errors, two of which predict the class their attribute pulls to: 2/3 (its complement
    would be 1/3). Attribute 2 pulls to no class, so its error is not a BC error."""
    y = torch.tensor([0, 0, 1, 2, 0, 1])
    s = torch.tensor([1, 1, 0, 1, 2, 1])  # pulled: 0 -> 0, 1 -> 1, 2 -> none
    pred = torch.tensor([1, 1, 2, 2, 1, 1])  # BC errors: 0, 1 (predict the pulled 1), 2 (predicts 2, not 0)
    aligned = torch.tensor([False, False, False, False, True, True])
    r = robustness_metrics(pred, y, s, aligned, 3, 3, pulled=torch.tensor([0, 1, -1]))
    assert r["bias_following"] == pytest.approx(2 / 3)

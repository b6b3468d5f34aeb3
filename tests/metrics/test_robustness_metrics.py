"""Robustness numbers on a hand-made 8-sample example (values worked out by hand in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from largelr.metrics.robustness import group_accuracy, robustness_metrics

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


def test_robustness_metrics_empty_subsets_are_nan():
    y = torch.tensor([0, 1])
    r = robustness_metrics(y.clone(), y, y.clone(), torch.tensor([True, True]), 2, 2, pulled=torch.arange(2))
    assert r["acc"] == 1.0 and math.isnan(r["acc_bc"]) and math.isnan(r["bias_following"])
    assert "avg_acc" not in r

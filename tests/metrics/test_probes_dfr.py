"""Linear probes and DFR: the logistic-regression solver against scikit-learn, and known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.metrics.base import METRICS
from largelr.metrics.probes import dfr_scores, fit_logistic, group_balanced_weights, halves, probe_accuracy


def test_fit_logistic_matches_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    g = torch.Generator().manual_seed(0)
    y = torch.randint(3, (120,), generator=g)
    Z = torch.randn(120, 5, generator=g) + F.one_hot(y, 5).double() * 0.8
    ours = fit_logistic(Z, y, 3, C=0.5)
    X = StandardScaler().fit_transform(Z.numpy())
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y.numpy())
    np.testing.assert_allclose(ours.logits(Z).softmax(1).numpy(), ref.predict_proba(X), atol=1e-4)


def test_group_balanced_weights_equalise_groups():
    g = torch.tensor([0, 0, 0, 1, 2, 2])
    w = group_balanced_weights(g)
    assert w.mean() == pytest.approx(1.0)
    assert [float(w[g == k].sum()) for k in range(3)] == pytest.approx([2.0, 2.0, 2.0])


def test_halves_are_fixed_and_disjoint():
    a, b = halves(11, seed=3, tag="x")
    a2, _ = halves(11, seed=3, tag="x")
    assert torch.equal(a, a2) and len(a) == 5 and len(b) == 6
    assert sorted(torch.cat([a, b]).tolist()) == list(range(11))


def _balanced(reps: int) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = torch.tensor(list(itertools.product(range(3), range(3))) * reps)
    return pairs[:, 0], pairs[:, 1]


def test_probe_decodes_what_the_features_hold():
    y, s = _balanced(10)
    Z = 3.0 * F.one_hot(y, 3).float()  # features carry y only; s is independent of y
    assert probe_accuracy(Z, y, 3, seed=0, tag="t") == 1.0
    assert probe_accuracy(Z, s, 3, seed=0, tag="t") < 0.6  # chance is 1/3


def test_dfr_known_answers():
    y, s = _balanced(10)
    both = torch.cat([F.one_hot(y, 3), F.one_hot(s, 3)], 1).float()
    assert dfr_scores(both, y, s, 3, 3, seed=0)["worst"] == 1.0  # y is linearly readable
    s_only = F.one_hot(s, 3).float()
    r = dfr_scores(s_only, y, s, 3, 3, seed=0)
    assert r["worst"] == 0.0  # predictions depend on s alone, so some group is always wrong
    assert r["mean"] < 0.6


def test_probes_and_dfr_metrics_on_wired_models():
    data = toy_dataset()
    for reads in ("core", "spurious"):
        ctx = make_ctx(wired_mlp(reads), data)
        p = METRICS.get("probes")(ctx)
        # both models share the body, whose features hold y (units 0-2) and s (units 3-5)
        assert p["test/probe_y"] == 1.0 and p["test/probe_s"] == 1.0 and p["test/probe_gap"] == 0.0
        d = METRICS.get("dfr")(ctx)
        # retraining the last layer on balanced groups recovers a perfect classifier from either model
        assert d["test/dfr_worst_group_acc"] == 1.0 and d["test/dfr_acc"] == 1.0

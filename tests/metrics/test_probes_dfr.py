"""Linear probes and DFR: the logistic-regression solver against scikit-learn, and known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.metrics.base import METRICS
from largelr.metrics.probes import dfr_scores, fit_logistic, group_balanced_weights, halves, probe_accuracy
from largelr.seeding import make_generator


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


# ---------------------------------------------------------------------------------------------
# values a one-character change would alter (from mutation testing, tools/mutation.py)


def test_fit_logistic_default_c_and_sample_weights_match_sklearn():
    """Weights w (mean 1) give sklearn's objective with sample_weight=w; a constant feature is left unscaled."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    g = torch.Generator().manual_seed(1)
    y = torch.randint(3, (90,), generator=g)
    Z = torch.randn(90, 4, generator=g) + F.one_hot(y, 4).double() * 0.7
    Z[:, 3] = 2.0  # constant column
    w = group_balanced_weights(torch.randint(4, (90,), generator=g))
    ours = fit_logistic(Z, y, 3, sample_weight=w)  # default C = 1
    assert torch.equal(ours.scale[3:], torch.ones(1, dtype=torch.double)) and ours.mean[3] == 2.0
    X = StandardScaler().fit_transform(Z.numpy())
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y.numpy(), sample_weight=w.numpy())
    np.testing.assert_allclose(ours.logits(Z).softmax(1).numpy(), ref.predict_proba(X), atol=1e-4)
    assert torch.equal(ours.predict(Z), ours.logits(Z).argmax(1))


def test_two_valued_targets_are_probed_and_one_valued_are_nan():
    y = torch.tensor([0, 1] * 10)
    Z = F.one_hot(y, 2).float()
    assert probe_accuracy(Z, y, 2, seed=0, tag="t") == 1.0
    assert math.isnan(probe_accuracy(Z, torch.zeros(20, dtype=torch.long), 2, seed=0, tag="t"))
    s = torch.tensor([0, 0, 1, 1] * 5)
    r = dfr_scores(Z, y, s, 2, 2, seed=0)
    assert r == {"worst": 1.0, "mean": 1.0, "acc": 1.0}
    nan = dfr_scores(Z, torch.zeros(20, dtype=torch.long), s, 2, 2, seed=0)
    assert set(nan) == {"worst", "mean", "acc"} and all(math.isnan(v) for v in nan.values())


def test_halves_split_in_two_and_depend_on_seed_and_tag():
    a, b = halves(10, seed=0, tag="x")
    assert len(a) == len(b) == 5 and torch.equal(a, a.sort().values) and torch.equal(b, b.sort().values)
    assert not torch.equal(a, halves(10, seed=1, tag="x")[0]) and not torch.equal(a, halves(10, seed=0, tag="y")[0])


def test_dfr_scores_fit_group_weighted_on_one_seeded_half_and_score_the_other():
    """dfr_scores composed by hand: the seeded "dfr" halves, group-balanced weights, group accuracies by loops."""
    g = torch.Generator().manual_seed(2)
    y = torch.randint(3, (90,), generator=g)
    s = torch.where(torch.rand(90, generator=g) < 0.8, y, torch.randint(3, (90,), generator=g))  # mostly aligned
    Z = torch.randn(90, 3, generator=g) * 1.5 + F.one_hot(y, 3) + 2.0 * F.one_hot(s, 3)
    expected: dict[str, list[float]] = {"worst": [], "mean": [], "acc": []}
    a, b = halves(90, 5, "dfr")
    for fit, score in ((a, b), (b, a)):
        readout = fit_logistic(Z[fit], y[fit], 3, group_balanced_weights((y * 3 + s)[fit]))
        pred = readout.predict(Z[score])
        accs = []
        for c, v in itertools.product(range(3), range(3)):
            in_group = (y[score] == c) & (s[score] == v)
            if in_group.any():
                accs.append(float((pred[in_group] == c).double().mean()))
        expected["worst"].append(min(accs))
        expected["mean"].append(sum(accs) / len(accs))
        expected["acc"].append(float((pred == y[score]).double().mean()))
    got = dfr_scores(Z, y, s, 3, 3, seed=5)
    assert got == pytest.approx({k: sum(v) / 2 for k, v in expected.items()})


def test_probe_accuracy_cross_fits_over_the_seeded_halves():
    g = torch.Generator().manual_seed(3)
    t = torch.randint(3, (60,), generator=g)
    Z = torch.randn(60, 3, generator=g) * 1.5 + F.one_hot(t, 3)  # noisy: held-out accuracy below 1
    a, b = halves(60, 7, "probe")
    accs = []
    for fit, score in ((a, b), (b, a)):
        pred = fit_logistic(Z[fit], t[fit], 3).predict(Z[score])
        accs.append(float((pred == t[score]).double().mean()))
    assert probe_accuracy(Z, t, 3, seed=7, tag="probe") == pytest.approx(sum(accs) / 2)


def test_fit_logistic_converges_on_a_problem_that_needs_more_than_20_iterations():
    """40 correlated features, 4 classes: L-BFGS stopped at torch's default 20 iterations is 1e-3 off
    scikit-learn here; ours (50 iterations, tolerance_change 1e-12) is within 1e-5."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    g = torch.Generator().manual_seed(2)
    y = torch.randint(4, (200,), generator=g)
    mixed = torch.randn(200, 40, generator=g) @ torch.randn(40, 40, generator=g) * 0.3
    Z = mixed + torch.randn(200, 40, generator=g) + F.one_hot(y, 40).double() * 0.5
    X = StandardScaler().fit_transform(Z.numpy())
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(X, y.numpy())
    ours = fit_logistic(Z, y, 4)
    np.testing.assert_allclose(ours.logits(Z).softmax(1).numpy(), ref.predict_proba(X), atol=1e-5)


def test_halves_are_the_seeds_own_stream():
    """The halves come from the stream (seed, "halves", tag), which no other consumer of the seed draws from."""
    perm = torch.randperm(12, generator=make_generator(4, "halves", "probe"))
    a, b = halves(12, seed=4, tag="probe")
    assert torch.equal(a, perm[:6].sort().values) and torch.equal(b, perm[6:].sort().values)

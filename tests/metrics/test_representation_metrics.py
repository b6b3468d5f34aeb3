"""Activation sparsity, cosine separation, Fisher ratio and unit selectivity on hand-made features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.metrics.base import METRICS
from largelr.metrics.representation import activation_sparsity, fisher_ratio, separation
from largelr.metrics.selectivity import selectivity_index


def test_activation_sparsity_by_hand():
    Z = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    out = activation_sparsity(Z)
    assert out["act_zero_frac"] == pytest.approx(6 / 9)
    assert out["dead_frac"] == pytest.approx(1 / 3)
    # per-sample PQI: (0,1,0) is one-hot; (0,2,3) has l1 = 5, l2 = sqrt(13); the zero row is skipped
    expected = ((1 - 3**-0.5) + (1 - 5 / math.sqrt(3 * 13))) / 2
    assert out["act_pqi"] == pytest.approx(expected)


def _cos_distance_brute(A: np.ndarray, B: np.ndarray) -> float:
    """1 - mean over all pairs (a, b) of cos(a, b), zero vectors having cosine 0 with everything."""
    total = 0.0
    for a in A:
        for b in B:
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            total += 0.0 if na == 0 or nb == 0 else float(a @ b) / (na * nb)
    return 1.0 - total / (len(A) * len(B))


def test_separation_matches_brute_force_double_loop():
    rng = np.random.default_rng(0)
    Z = np.maximum(rng.normal(size=(30, 5)), 0)
    Z[3] = 0.0  # an all-zero sample
    labels = rng.integers(0, 4, size=30)
    labels[labels == 3] = 2  # class 3 absent: skipped
    classes = sorted(set(labels.tolist()))
    within = np.mean([_cos_distance_brute(Z[labels == c], Z[labels == c]) for c in classes])
    between_all = np.mean([_cos_distance_brute(Z[labels == c], Z[labels == d]) for c in classes for d in classes])
    between_off = np.mean(
        [_cos_distance_brute(Z[labels == c], Z[labels == d]) for c in classes for d in classes if c != d]
    )
    Zt, lt = torch.tensor(Z, dtype=torch.float32), torch.tensor(labels)
    assert separation(Zt, lt, 4) == pytest.approx(1 - within / between_all, rel=1e-5)
    assert separation(Zt, lt, 4, same_pairs=False) == pytest.approx(1 - within / between_off, rel=1e-5)


def test_separation_conventions_by_hand_on_three_classes():
    """Class 0 = {(1,0), (0,1)}, class 1 = {(1,0)}, class 2 = {(0,1)}.

    Mean cosines M[c][c'] over all pairs: M00 = (1+0+0+1)/4 = 1/2, M11 = M22 = 1, M01 = M02 = 1/2,
    M12 = 0; distances D = 1 - M: D00 = 1/2, D11 = D22 = 0, D01 = D02 = 1/2, D12 = 1.
    D_within = (1/2 + 0 + 0) / 3 = 1/6.
    Authors (all 9 ordered pairs incl. c = c'): D_between = (4 * 1/2 + 2 * 1 + 1/2) / 9 = 1/2,
    class_sep = 1 - (1/6) / (1/2) = 2/3.
    Ours (6 pairs c != c'): D_between = (4 * 1/2 + 2 * 1) / 6 = 2/3, class_sep_offdiag = 1 - (1/6) / (2/3) = 3/4.
    """
    Z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 2])
    assert separation(Z, labels, 3) == pytest.approx(2 / 3)
    assert separation(Z, labels, 3, same_pairs=False) == pytest.approx(3 / 4)


def test_fisher_ratio_matches_numpy():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=40)
    Z = rng.normal(size=(40, 4)) + labels[:, None] * np.array([1.0, 0.5, 0.0, 0.0])
    mu = Z.mean(0)
    S_B = sum(
        (labels == c).sum() * np.outer(Z[labels == c].mean(0) - mu, Z[labels == c].mean(0) - mu) for c in range(3)
    )
    S_W = sum((Z[labels == c] - Z[labels == c].mean(0)).T @ (Z[labels == c] - Z[labels == c].mean(0)) for c in range(3))
    got = fisher_ratio(torch.tensor(Z), torch.tensor(labels), 5)  # values 3, 4 absent
    assert got == pytest.approx(np.trace(S_B) / np.trace(S_W))
    assert math.isnan(fisher_ratio(torch.tensor(Z), torch.zeros(40, dtype=torch.long), 3))


def test_selectivity_on_a_toy():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    s = torch.tensor([0, 1, 1, 2, 2, 0])
    Z = torch.tensor(
        [
            [2.0, 2, 0, 0, 0, 0],  # class-0 unit: CSI 1; s-means (1, 1, 0): BSI 0.5 / 1.5
            [1.0, 1, 1, 1, 1, 1],  # constant: CSI = BSI = 0
            [0.0, 0, 0, 0, 0, 0],  # dead: excluded
            [0.0, 3, 3, 0, 0, 0],  # s=1 unit: class means (1.5, 1.5, 0): CSI 0.75 / 2.25; BSI 1
        ]
    ).T
    csi = selectivity_index(Z, y, 3)
    bsi = selectivity_index(Z, s, 3)
    assert csi[[0, 1, 3]].tolist() == pytest.approx([1.0, 0.0, 1 / 3])
    assert bsi[[0, 1, 3]].tolist() == pytest.approx([1 / 3, 0.0, 1.0])
    assert torch.isnan(csi[2]) and torch.isnan(bsi[2])


def test_selectivity_metric_on_wired_model():
    # units 0-2 respond to one class each (CSI 1), units 3-5 to one spurious value each (BSI 1); on the
    # unbiased toy test split each unit's mean over the other factor is flat (0 selectivity)
    out = METRICS.get("selectivity")(make_ctx(wired_mlp("core"), toy_dataset()))
    assert out["test/csi_mean"] == pytest.approx(0.5) and out["test/bsi_mean"] == pytest.approx(0.5)
    assert out["test/csi_gt_bsi"] == pytest.approx(0.5)


def test_representation_metrics_keys():
    ctx = make_ctx(wired_mlp("core"), toy_dataset())
    sep = METRICS.get("class_separation")(ctx)
    assert set(sep) == {
        "test/class_sep",
        "test/class_sep_offdiag",
        "test/bias_sep",
        "test/bias_sep_offdiag",
        "test/fisher_ratio",
        "test/bias_fisher_ratio",
    }
    Z, y, s = ctx.features("test")
    assert sep["test/class_sep_offdiag"] == separation(Z, y, 3, same_pairs=False)
    assert sep["test/bias_sep_offdiag"] == separation(Z, s, 3, same_pairs=False)
    assert sep["test/class_sep"] == separation(Z, y, 3) != sep["test/class_sep_offdiag"]
    sparsity = METRICS.get("activation_sparsity")(ctx)
    assert set(sparsity) == {"test/act_zero_frac", "test/dead_frac", "test/act_pqi"}
    # every sample lights exactly one core and one spurious unit of 6, each with value 3
    assert sparsity["test/act_zero_frac"] == pytest.approx(4 / 6) and sparsity["test/dead_frac"] == 0.0
    assert sparsity["test/act_pqi"] == pytest.approx(1 - 6**-0.5 * 6 / math.sqrt(18))


# ---------------------------------------------------------------------------------------------
# values a one-character change would alter (from mutation testing, tools/mutation.py)


def test_activation_sparsity_dead_units_are_columns():
    Z = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0]])  # units 0 and 2 dead; no sample all zero
    out = activation_sparsity(Z)
    assert out["act_zero_frac"] == pytest.approx(5 / 8)
    assert out["dead_frac"] == pytest.approx(2 / 4)
    assert out["act_pqi"] == pytest.approx(((1 - 0.5 * 3 / math.sqrt(5)) + (1 - 0.5)) / 2)
    assert math.isnan(activation_sparsity(torch.zeros(2, 3))["act_pqi"])


def test_fisher_ratio_two_classes_by_hand():
    Z = torch.tensor([[0.0], [2.0], [4.0], [6.0]])
    # means 1 and 5 around 3: tr S_B = 2 * 4 + 2 * 4 = 16; tr S_W = 4 * 1 = 4
    assert fisher_ratio(Z, torch.tensor([0, 0, 1, 1]), 2) == pytest.approx(4.0)
    assert math.isnan(fisher_ratio(torch.tensor([[1.0], [1.0], [3.0]]), torch.tensor([0, 0, 1]), 2))  # no spread
    # a class of one sample counts; small spread (tr S_W = 0.02 < 1): means 0.1, 0.5 around 0.7 / 3
    # tr S_B = 2 (0.1 - 0.7 / 3)^2 + (0.5 - 0.7 / 3)^2 = 0.32 / 3, tr S_W = 0.01 + 0.01 + 0
    got = fisher_ratio(torch.tensor([[0.0], [0.2], [0.5]]), torch.tensor([0, 0, 1]), 2)
    assert got == pytest.approx(16 / 3)


def test_separation_needs_two_present_classes():
    Z = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    assert math.isfinite(separation(Z, torch.tensor([0, 0, 1]), 3))  # two of three classes present
    assert math.isnan(separation(Z, torch.tensor([2, 2, 2]), 3))
    assert math.isnan(separation(torch.tensor([[1.0, 0.0], [2.0, 0.0]]), torch.tensor([0, 1]), 2))  # all parallel


def _core_with_spurious_leak() -> torch.nn.Module:
    """The wired core reader whose spurious units fire at half strength: Z = [3 onehot(y), 1.5 onehot(s)]."""
    model = wired_mlp("core")
    with torch.no_grad():
        model.body[1].weight[3:] *= 0.5
    return model


def test_separation_and_fisher_follow_the_information_in_the_features():
    """y is carried twice as strongly as s, so y separates more than s (orderings hold for any D_between)."""
    out = METRICS.get("class_separation")(make_ctx(_core_with_spurious_leak(), toy_dataset()))
    assert out["test/class_sep"] > out["test/bias_sep"]
    # by y: tr S_B = 3 classes * 12 * |3 e_y - 1|^2 = 216, tr S_W = 36 * |1.5 e_s - 0.5|^2 = 54
    assert out["test/fisher_ratio"] == pytest.approx(216 / 54)
    # by s: tr S_B = 36 * 1.5 = 54, tr S_W = 36 * 6 = 216
    assert out["test/bias_fisher_ratio"] == pytest.approx(54 / 216)


def test_selectivity_index_with_two_values_and_with_one():
    Z = torch.tensor([[0.3], [0.1], [0.1]])  # small activations: mean sums below 1
    assert selectivity_index(Z, torch.tensor([0, 1, 1]), 3).tolist() == pytest.approx([0.5])  # 0.2 / 0.4
    one = selectivity_index(Z, torch.tensor([1, 1, 1]), 3)
    assert torch.isnan(one).all() and one.dtype == torch.double


def test_selectivity_metric_ties_and_dead_units():
    model = wired_mlp("core")
    with torch.no_grad():
        W = model.body[1].weight.view(6, 3, 6)
        W[0] = 0.0
        W[0, 0, :] = 1.0  # unit 0 reads core row 0 and spurious row 0: 3 [y=0] + 3 [s=0]
        W[1:3] = 0.0  # units 1, 2 dead
    out = METRICS.get("selectivity")(make_ctx(model, toy_dataset()))
    # unit 0: means 4 on its value, 1 elsewhere -> CSI = BSI = 3 / 5 (a tie, not counted as CSI > BSI);
    # units 3-5: CSI 0, BSI 1; units 1, 2 excluded
    assert out["test/csi_mean"] == pytest.approx(0.6 / 4)
    assert out["test/bsi_mean"] == pytest.approx((0.6 + 3) / 4)
    assert out["test/csi_gt_bsi"] == 0.0
    with torch.no_grad():
        model.body[1].weight.zero_()
    dead = METRICS.get("selectivity")(make_ctx(model, toy_dataset()))
    assert all(math.isnan(v) for v in dead.values()) and len(dead) == 3

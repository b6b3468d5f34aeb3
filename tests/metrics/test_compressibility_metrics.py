"""comp_kappa, PQ-index, curve summaries and unstructured magnitude pruning."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from metric_toys import make_ctx, toy_dataset, wired_mlp
from torch import nn
from torch.nn.utils import prune

from largelr.metrics.base import METRICS
from largelr.metrics.compressibility import (
    comp_kappa,
    comp_kappa_rows,
    compressible,
    curve_summaries,
    pq_index,
    prunable,
    prune_global_magnitude,
    prune_layerwise_magnitude,
    realised_sparsity,
    weight_tensors,
)
from largelr.models.mlp import mlp


def test_comp_kappa_by_hand():
    w = torch.tensor([3.0, -4.0, 0, 0, 0, 0, 0, 0, 0, 1.0])  # D = 10, |w|^2 = 26
    assert comp_kappa(w, 0.1) == pytest.approx(1 - math.sqrt(10 / 26))  # keeps |-4|
    assert comp_kappa(w, 0.2) == pytest.approx(1 - math.sqrt(1 / 26))  # keeps 4 and 3
    assert comp_kappa(torch.ones(10), 0.1) == pytest.approx(1 - math.sqrt(0.9))
    assert math.isnan(comp_kappa(torch.zeros(4), 0.5))


def test_comp_kappa_rows_skips_zero_rows():
    W = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert comp_kappa_rows(W, 0.5) == pytest.approx((1.0 + (1 - math.sqrt(0.5))) / 2)


def test_pq_index_one_hot_and_constant():
    d = 16
    one_hot = torch.zeros(d)
    one_hot[3] = 5.0
    assert float(pq_index(one_hot)) == pytest.approx(1 - d**-0.5)
    assert float(pq_index(torch.full((d,), 0.3))) == pytest.approx(0.0, abs=1e-12)
    rows = pq_index(torch.stack([one_hot, torch.ones(d), torch.zeros(d)]))
    assert rows[0] == pytest.approx(1 - d**-0.5) and rows[1] == pytest.approx(0.0, abs=1e-12)
    assert torch.isnan(rows[2])


def test_curve_summaries_by_hand():
    # given out of order: the function sorts by sparsity; chance 0 makes r = acc / acc(0)
    out = curve_summaries([0.9, 0.0, 0.5], [0.7, 0.8, 0.796], "p", chance=0.0)
    assert out["p_max_sparsity_99"] == 0.5  # 0.796 >= 0.99 * 0.8 = 0.792 > 0.7
    assert out["p_max_sparsity_95"] == 0.5  # 0.7 < 0.76
    area = (0.8 + 0.796) / 2 * 0.5 + (0.796 + 0.7) / 2 * 0.4
    assert out["p_auc"] == pytest.approx(area / 0.9)
    assert out["p_rel_auc"] == pytest.approx(area / 0.8 / 0.9)


def test_relative_auc_by_hand_above_chance():
    """Two classes (chance 0.5), acc (0.9, 0.8, 0.95, 0.5) at s = (0, 0.25, 0.5, 1):
    r = clip((acc - 0.5) / 0.4, 0, 1) = (1, 0.75, 1 (1.125 clipped), 0);
    area = 0.25 * (1 + 0.75) / 2 + 0.25 * (0.75 + 1) / 2 + 0.5 * (1 + 0) / 2 = 0.21875 + 0.21875 + 0.25 = 0.6875."""
    out = curve_summaries([0.0, 0.25, 0.5, 1.0], [0.9, 0.8, 0.95, 0.5], "p", chance=0.5)
    assert out["p_rel_auc"] == pytest.approx(0.6875)
    assert out["p_max_sparsity_99"] == 0.0 and out["p_max_sparsity_95"] == 0.0  # r(0.25) = 0.75 fails both


def test_chance_level_curve_scores_zero():
    """A model at chance (10 classes) loses nothing when pruned, but has nothing to lose: 0, not 0.99."""
    s = [0.0, 0.5, 0.9, 0.99]
    for acc in ([0.1, 0.1, 0.1, 0.1], [0.09, 0.11, 0.1, 0.1]):
        out = curve_summaries(s, acc, "p", chance=0.1)
        assert out["p_rel_auc"] == 0.0
        assert out["p_max_sparsity_99"] == 0.0 and out["p_max_sparsity_95"] == 0.0


def test_max_sparsity_is_monotone_after_a_dip():
    """acc 0.9, 0.9, 0.5, 0.9, 0.9 at s = 0, 0.1, 0.2, 0.3, 0.4 (chance 0.1): the dip at 0.2 ends the
    run of passing levels, so the answer is 0.1 although 0.3 and 0.4 pass again."""
    out = curve_summaries([0.0, 0.1, 0.2, 0.3, 0.4], [0.9, 0.9, 0.5, 0.9, 0.9], "p", chance=0.1)
    assert out["p_max_sparsity_99"] == 0.1 and out["p_max_sparsity_95"] == 0.1


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return mlp(input_shape=(1, 4, 6), num_classes=3, width=8, depth=2, bias=True)


@pytest.mark.parametrize("fn", [prune_global_magnitude, prune_layerwise_magnitude])
def test_pruning_does_not_mutate_and_realises_sparsity(fn):
    model = _model()
    before = copy.deepcopy(model.state_dict())
    pruned = fn(model, 0.5)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    w_frac, all_frac = realised_sparsity(pruned)
    assert w_frac == pytest.approx(0.5, abs=0.01)  # per-layer rounding of round(0.5 * n)
    assert all_frac < w_frac  # biases are not pruned
    for (m, _), (mp, _) in zip(prunable(model), prunable(pruned)):
        kept = mp.weight != 0
        assert torch.equal(mp.weight[kept], m.weight[kept])  # survivors keep their values


def test_layerwise_pruning_hits_every_layer_at_the_same_rate():
    pruned = prune_layerwise_magnitude(_model(), 0.75)
    for m, _ in prunable(pruned):
        assert float((m.weight == 0).double().mean()) == pytest.approx(0.75, abs=1.0 / m.weight.numel())


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9])
def test_magnitude_pruning_matches_torch_prune(sparsity):
    """Same zeroed entries as torch.nn.utils.prune (random weights: no ties)."""
    model = _model(1)
    ref_g, ref_l = copy.deepcopy(model), copy.deepcopy(model)
    prune.global_unstructured(prunable(ref_g), pruning_method=prune.L1Unstructured, amount=sparsity)
    for m, name in prunable(ref_l):
        prune.l1_unstructured(m, name, amount=sparsity)
    for ours, ref in (
        (prune_global_magnitude(model, sparsity), ref_g),
        (prune_layerwise_magnitude(model, sparsity), ref_l),
    ):
        for (m, _), (r, _) in zip(prunable(ours), prunable(ref)):
            assert torch.equal(m.weight == 0, r.weight == 0)


def test_prune_curve_metrics_on_toy():
    model = wired_mlp("core")  # perfect on the toy test split; 5/6 of its weights are already 0
    ctx = make_ctx(model, toy_dataset(), sparsities=(0.0, 0.5, 0.9))
    for name, stem in (("prune_curve", "prune"), ("prune_layer_curve", "prune_layer")):
        out = METRICS.get(name)(ctx)
        rows = out[f"test/{stem}"]
        assert [r["sparsity"] for r in rows] == [0.0, 0.5, 0.9]
        assert rows[0]["acc"] == 1.0 and rows[0]["realised_weight_sparsity"] == realised_sparsity(model)[0]
        assert rows[1]["acc"] == 1.0  # pruning 50% removes only zeros
        assert [r["worst_group_acc"] for r in rows[:2]] == [1.0, 1.0]
        # bias-free, 126 weights of which 105 are 0; at 0.9 round(113.4) = 113 (per layer 97 + 16) are
        assert rows[2]["realised_weight_sparsity"] == pytest.approx(113 / 126)
        assert rows[2]["realised_param_sparsity"] == pytest.approx(113 / 126)
        assert {f"test/{stem}_auc", f"test/{stem}_max_sparsity_99", f"test/{stem}_max_sparsity_95"} <= set(out)


def test_compressibility_metric_keys():
    out = METRICS.get("compressibility")(make_ctx(_model(), toy_dataset()))
    assert {"weights/comp", "weights/pqi", "weights/comp_layer0", "weights/pqi_layer2"} <= set(out)
    assert 0 < out["weights/pqi"] < 1


# ---------------------------------------------------------------------------------------------
# values a one-character change would alter (from mutation testing, tools/mutation.py)


def test_comp_kappa_keeps_ceil_of_non_integer_kappa_d():
    w = torch.tensor([3.0, -4.0, 0, 0, 0, 0, 0, 0, 0, 1.0])  # D = 10, |w|^2 = 26
    # kappa * D = 1.5 keeps ceil = 2 entries (4 and 3), not floor = 1; 0.01 * 10 = 0.1 still keeps one
    assert comp_kappa(w, 0.15) == pytest.approx(1 - math.sqrt(1 / 26))
    assert comp_kappa(w, 0.01) == pytest.approx(1 - math.sqrt(10 / 26))
    assert comp_kappa(torch.tensor([[3.0, 4.0]]), 0.5) == pytest.approx(1 - 3 / 5)  # flattened; sorted by |w|
    assert comp_kappa(torch.tensor([0.6, -0.8]), 0.5) == pytest.approx(1 - 0.6)  # unit norm is not "zero"


def test_comp_kappa_rows_keeps_ceil_and_averages_rows():
    W = torch.tensor([[3.0, -4.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    # kappa * D = 1.5 -> top 2 per row: row 0 keeps 4, 3 (tail norm 1 of sqrt 26); row 1 tail sqrt(2) of 2
    expected = ((1 - 1 / math.sqrt(26)) + (1 - math.sqrt(2) / 2)) / 2
    assert comp_kappa_rows(W, 0.3) == pytest.approx(expected)
    assert math.isnan(comp_kappa_rows(torch.zeros(2, 3), 0.5))
    # conv kernels are rows of out_channels x (in_channels * kernel)
    assert comp_kappa_rows(W[:2].reshape(2, 5, 1, 1), 0.3) == pytest.approx(expected)


def test_pq_index_general_p_q_by_hand():
    z = torch.tensor([3.0, 4.0])  # l1 = 7, l2 = 5, l4 = 337 ** 0.25, d = 2
    assert float(pq_index(z)) == pytest.approx(1 - 2**-0.5 * 7 / 5)
    assert float(pq_index(z, p=2.0, q=4.0)) == pytest.approx(1 - 2 ** (1 / 4 - 1 / 2) * 5 / 337**0.25)
    assert float(pq_index(z / 10)) == pytest.approx(1 - 2**-0.5 * 7 / 5)  # scale-free, also with norm < 1


def test_pruning_ties_are_broken_by_position():
    model = _model()
    with torch.no_grad():
        for m in _mlp_layers(model):
            m.weight.fill_(0.5)
    pruned = prune_global_magnitude(model, 0.5)  # all 280 magnitudes equal: the first 140 positions go
    got = torch.cat([m.weight.detach().flatten() == 0 for m in _mlp_layers(pruned)])
    assert torch.equal(got, torch.arange(280) < 140)


def _mlp_layers(model: nn.Module) -> list[nn.Linear]:
    """The depth-2 MLP's weight layers, spelled out: two hidden Linear layers, then the classifier."""
    return [model.body[1], model.body[3], model.classifier]


def test_pruning_targets_are_every_linear_layer_including_the_classifier():
    model = _model()
    assert [m for m, _ in prunable(model)] == _mlp_layers(model)
    assert all(name == "weight" for _, name in prunable(model))
    assert [name for name, _ in weight_tensors(model)] == ["body.1.weight", "body.3.weight", "classifier.weight"]


@pytest.mark.parametrize("sparsity", [0.35, 1.0])
def test_global_pruning_zeroes_the_smallest_weights_of_all_layers(sparsity):
    model = _model(2)
    layers = _mlp_layers(model)
    flat = torch.cat([m.weight.detach().flatten() for m in layers])  # 192 + 64 + 24 = 280 entries
    k = round(sparsity * len(flat))  # 0.35 * 280 = 98
    expected_zero = torch.zeros(len(flat), dtype=torch.bool)
    expected_zero[flat.abs().argsort()[:k]] = True  # random weights: no ties
    pruned = prune_global_magnitude(model, sparsity)
    got = torch.cat([m.weight.detach().flatten() == 0 for m in _mlp_layers(pruned)])
    assert torch.equal(got, expected_zero)
    for m, mp in zip(layers, _mlp_layers(pruned)):
        assert torch.equal(mp.bias, m.bias)  # biases are never pruned
    w_frac, all_frac = realised_sparsity(pruned)
    assert w_frac == pytest.approx(k / 280)
    assert all_frac == pytest.approx(k / (280 + 8 + 8 + 3))


def test_layerwise_pruning_rounds_each_layer():
    model = _model(3)
    pruned = prune_layerwise_magnitude(model, 0.35)
    # round(0.35 * n) per layer: 67.2 -> 67, 22.4 -> 22, 8.4 -> 8 (floor/ceil would differ in some layer)
    for m, mp, k in zip(_mlp_layers(model), _mlp_layers(pruned), (67, 22, 8)):
        expected = torch.zeros(m.weight.numel(), dtype=torch.bool)
        expected[m.weight.detach().flatten().abs().argsort()[:k]] = True
        assert torch.equal(mp.weight.detach().flatten() == 0, expected)


def test_realised_sparsity_counts_zeros_by_hand():
    model = _model()
    with torch.no_grad():
        for m in _mlp_layers(model):
            m.weight.fill_(1.0)
            m.bias.fill_(1.0)
        model.body[3].weight[:2] = 0.0  # 16 of the 280 weights
        model.classifier.bias[0] = 0.0  # 1 of the 19 biases
    w_frac, all_frac = realised_sparsity(model)
    assert w_frac == pytest.approx(16 / 280)
    assert all_frac == pytest.approx(17 / 299)


def test_compressibility_metric_values_by_hand():
    model = _model()
    with torch.no_grad():
        for m in _mlp_layers(model):
            m.weight.zero_()
        model.body[1].weight[0, :2] = torch.tensor([3.0, -4.0])  # layer 0: one nonzero row (3, -4, 0, ...)
        model.body[3].weight[:] = 1.0  # layer 1: 64 equal entries
        model.classifier.weight[1, 0] = 2.0  # layer 2: one-hot
    out = METRICS.get("compressibility")(make_ctx(model, toy_dataset(), kappa=0.01))
    # pooled: D = 280, ceil(2.8) = 3 kept: 4, 3, 2; the tail is 64 ones -> norm 8 of sqrt(25 + 4 + 64)
    assert out["weights/comp"] == pytest.approx(1 - 8 / math.sqrt(93))
    l1 = 3 + 4 + 64 + 2
    assert out["weights/pqi"] == pytest.approx(1 - 280**-0.5 * l1 / math.sqrt(93))
    # per layer rows: kappa * 24 = 0.24 keeps 1 per row; the only nonzero row keeps 4 of (3, -4)
    assert out["weights/comp_layer0"] == pytest.approx(1 - 3 / 5)
    assert out["weights/comp_layer1"] == pytest.approx(1 - math.sqrt(7 / 8))  # rows of 8 ones keep 1
    assert out["weights/comp_layer2"] == pytest.approx(1.0)
    assert out["weights/pqi_layer0"] == pytest.approx(1 - 192**-0.5 * 7 / 5)
    assert out["weights/pqi_layer1"] == pytest.approx(0.0, abs=1e-12)
    assert out["weights/pqi_layer2"] == pytest.approx(1 - 24**-0.5)


def test_comp_kappa_of_a_unit_norm_vector():
    # |w| = 1 exactly; equal magnitudes give 1 - sqrt(1 - kappa)
    assert comp_kappa(torch.tensor([0.5, -0.5, 0.5, 0.5]), 0.25) == pytest.approx(1 - math.sqrt(0.75))


def test_curve_summaries_on_a_curve_that_starts_above_zero_and_falls_below_chance():
    """Levels 0.2..0.8 (span 0.6, not 0.8 + 0.2), chance 0.1, the last accuracy under chance (r clipped to 0)."""
    out = curve_summaries([0.8, 0.2, 0.5], [0.05, 0.91, 0.87], "p", chance=0.1)
    r1 = (0.87 - 0.1) / (0.91 - 0.1)  # 0.9506: passes 95%, not 99%
    assert out["p_rel_auc"] == pytest.approx((0.3 * (1 + r1) / 2 + 0.3 * (r1 + 0) / 2) / 0.6)
    assert out["p_auc"] == pytest.approx((0.3 * (0.91 + 0.87) / 2 + 0.3 * (0.87 + 0.05) / 2) / 0.6)
    assert (out["p_max_sparsity_99"], out["p_max_sparsity_95"]) == (0.2, 0.5)


def test_curve_summaries_at_exactly_the_threshold_and_with_one_level():
    at = curve_summaries([0.0, 0.5], [1.0, 0.95], "p", chance=0.0)  # r(0.5) = 0.95 exactly: it passes
    assert at["p_max_sparsity_95"] == 0.5 and at["p_max_sparsity_99"] == 0.0
    one = curve_summaries([0.3], [0.6], "p", chance=0.1)  # no range: the one level's values
    assert one == {"p_rel_auc": 1.0, "p_auc": 0.6, "p_max_sparsity_99": 0.3, "p_max_sparsity_95": 0.3}


def test_summarise_rows_uses_one_over_the_number_of_classes_as_chance():
    from types import SimpleNamespace

    from largelr.metrics.compressibility import summarise_rows

    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=4))
    rows = [{"sparsity": 0.0, "acc": 0.85}, {"sparsity": 0.5, "acc": 0.55}]
    r1 = (0.55 - 0.25) / (0.85 - 0.25)
    assert summarise_rows(ctx, rows, "p")["p_rel_auc"] == pytest.approx((1 + r1) / 2)


def test_attention_projections_are_compressible_packed_or_apart():
    packed, apart = nn.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2, kdim=4, vdim=4)
    assert [n for n, _, _ in compressible(packed)] == ["in_proj_weight", "out_proj.weight"]
    assert [n for n, _, _ in compressible(apart)] == [
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"
    ]  # fmt: skip
    wrapped = nn.Sequential(nn.Linear(8, 8), apart)
    assert [(n, p) for n, _, p in compressible(wrapped)] == [
        ("0.weight", "weight"),
        ("1.q_proj_weight", "q_proj_weight"),
        ("1.k_proj_weight", "k_proj_weight"),
        ("1.v_proj_weight", "v_proj_weight"),
        ("1.out_proj.weight", "weight"),
    ]


@pytest.mark.parametrize(("prefix", "what"), [("prune", "global"), ("prune_layer", "per-layer")])
def test_declared_pruning_keys(prefix, what):
    """Every pruning summary is 'higher is better'; only the global curve's relative AUC is a headline."""
    expected = {
        f"test/{prefix}_rel_auc": (f"{what} pruning AUC relative to unpruned acc", "higher", prefix == "prune"),
        f"test/{prefix}_max_sparsity_99": (f"{what} pruning: max sparsity keeping 99% acc", "higher", False),
        f"test/{prefix}_max_sparsity_95": (f"{what} pruning: max sparsity keeping 95% acc", "higher", False),
    }
    keys = METRICS.spec(f"{prefix}_curve").keys
    got = {k: (v.label, v.desirable, v.headline, v.property) for k, v in keys.items()}
    assert got == {k: (*v, "compressibility") for k, v in expected.items()} | {
        f"test/{prefix}_auc": (f"{what} pruning AUC of raw acc (re-counts dense acc)", "higher", False, None)
    }

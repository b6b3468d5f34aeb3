"""Attribution shares and counterfactual swaps on hand-wired models that read only one image half."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_toys import C, make_ctx, toy_dataset, wired_mlp

from largelr.metrics.attribution import normalise_attributions, region_share
from largelr.metrics.base import METRICS
from largelr.metrics.counterfactual import pick_partners, swap_region


def test_normalisation_matches_captum_visualisation():
    from captum.attr._utils.visualization import _normalize_attr

    g = torch.Generator().manual_seed(0)
    attr = torch.randn(3, 2, 5, 7, generator=g) ** 3  # heavy-tailed, two channels
    ours = normalise_attributions(attr)
    for i in range(3):
        ref = _normalize_attr(attr[i].sum(0).numpy(), "absolute_value", outlier_perc=2)
        np.testing.assert_allclose(ours[i].numpy(), ref, rtol=1e-6, atol=1e-6)
    assert ours.min() >= 0 and ours.max() == 1.0
    assert (normalise_attributions(torch.zeros(1, 1, 2, 2)) == 0).all()


def test_normalisation_threshold_by_hand():
    # sorted |a| = 1, 1, 2, 96: cumulative sums 1, 2, 4, 100 -> 98% of 100 first reached at 96
    a = torch.tensor([[[2.0, -1.0], [96.0, 1.0]]])
    assert normalise_attributions(a).tolist() == [[[2 / 96, 1 / 96], [1.0, 1 / 96]]]
    assert region_share(torch.tensor([[[1.0, 3.0]]]), torch.tensor([[[True, False]]])).tolist() == [0.25]
    assert torch.isnan(region_share(torch.zeros(1, 1, 2), torch.ones(1, 1, 2, dtype=torch.bool))).all()


@pytest.mark.parametrize(
    "name,suffix", [("attribution", ""), ("attribution_ig", "_ig"), ("attribution_saliency", "_saliency")]
)
def test_attribution_share_is_0_or_1_for_a_one_region_model(name, suffix):
    data = toy_dataset()
    for reads, share in (("core", 0.0), ("spurious", 1.0)):
        out = METRICS.get(name)(make_ctx(wired_mlp(reads), data))
        assert out[f"test/spurious_share{suffix}"] == pytest.approx(share, abs=1e-12)
        assert out[f"test/core_util{suffix}"] == pytest.approx(1 - share, abs=1e-12)
        heat = np.asarray(out[f"test/attr_map{suffix}"])
        assert heat.shape == (C, 2 * C) and heat.min() >= 0 and heat.max() <= 1
        half = heat[:, :C] if reads == "core" else heat[:, C:]
        assert heat.sum() == pytest.approx(half.sum())
        assert np.asarray(out[f"test/attr_mask{suffix}"])[:, :C].all()
        assert len(out[f"test/attr_map_index{suffix}"]) == min(16, len(data.splits["test"]))


def test_attribution_does_not_touch_the_model():
    model = wired_mlp("core")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    METRICS.get("attribution")(make_ctx(model, toy_dataset()))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model._backward_hooks
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_pick_partners_respects_validity():
    gen = torch.Generator().manual_seed(0)
    p = pick_partners(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 1, 2, 0]), gen)
    assert p[0] == 3 and p[1] == 3 and p[2] in (0, 1) and p[3] == 2  # only value 2 / 2 / 0 / 1 allowed
    assert pick_partners(torch.tensor([0, 1]), torch.tensor([1, 0]), gen).tolist() == [-1, -1]


def test_pick_partners_is_uniform_over_valid_partners():
    values = torch.tensor([0] * 1000 + [1, 1, 2, 2, 2, 3])  # rows 0..999: value 0, excluded 3
    p = pick_partners(values, torch.full_like(values, 3), torch.Generator().manual_seed(0))[:1000]
    counts = torch.bincount(p, minlength=len(values))[1000:].double()  # candidates: the 1s and 2s
    assert counts[-1] == 0 and counts.sum() == 1000
    assert (counts[:5] - 200).abs().max() < 60  # 5 valid partners, ~200 draws each


def test_swap_region():
    x = torch.arange(2 * 4.0).view(2, 1, 1, 4)
    mask = torch.tensor([[[False, False, True, True]]]).expand(2, 1, 4)
    out = swap_region(x, torch.tensor([0]), torch.tensor([1]), mask)
    assert out.tolist() == [[[[0.0, 1.0, 6.0, 7.0]]]]


def test_counterfactual_on_wired_models():
    data = toy_dataset()
    core = METRICS.get("counterfactual")(make_ctx(wired_mlp("core"), data))
    assert core == {
        "test/cf_spurious_flip": 0.0,
        "test/cf_spurious_follow": 0.0,
        "test/cf_core_flip": 1.0,
        "test/cf_core_follow": 1.0,
    }
    spur = METRICS.get("counterfactual")(make_ctx(wired_mlp("spurious"), data))
    assert spur == {
        "test/cf_spurious_flip": 1.0,
        "test/cf_spurious_follow": 1.0,
        "test/cf_core_flip": 0.0,
        "test/cf_core_follow": 0.0,
    }

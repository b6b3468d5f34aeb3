"""Metrics that read the dataset's spurious-class map: bias_following, counterfactual follow and swap
partners, and the vulnerability metric; hand-checked, plus the rare_patch acceptance case (a model
that sends every patched image to the target class)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch
from metric_toys import make_ctx, toy_dataset, wired_mlp

from largelr.data import DATASETS, Split, SpuriousDataset
from largelr.errors import UserError
from largelr.metrics import METRICS, plan_metrics
from largelr.metrics.counterfactual import attribute_of_class, pick_partners
from largelr.metrics.robustness import robustness_metrics
from largelr.metrics.vulnerability import patch_vulnerability

TARGET = 0


def test_bias_following_with_a_marker_attribute_by_hand():
    # rare_patch-like: s=1 (patch) pulls to class 0, s=0 pulls nowhere
    y = torch.tensor([1, 2, 2, 1, 0, 1])
    s = torch.tensor([1, 1, 1, 0, 1, 1])
    pred = torch.tensor([0, 0, 1, 2, 2, 1])
    # errors whose attribute pulls to a class other than the label: samples 0, 1, 2 (sample 3: s
    # pulls nowhere; 4: pulls to its own label; 5: correct); 0 and 1 predict class 0, 2 does not
    r = robustness_metrics(pred, y, s, torch.ones(6, dtype=torch.bool), 3, 2, pulled=torch.tensor([-1, 0]))
    assert r["bias_following"] == pytest.approx(2 / 3)
    # the old reading of s as a class index would have asked whether pred == s: 0 of 3
    assert "bias_following" not in robustness_metrics(pred, y, s, torch.ones(6, dtype=torch.bool), 3, 2)


def test_partner_helpers_by_hand():
    assert attribute_of_class(torch.tensor([-1, 0]), torch.tensor([0, 1, 2])).tolist() == [1, -1, -1]
    assert attribute_of_class(torch.tensor([2, 0, 1]), torch.tensor([0, 1, 2])).tolist() == [1, 2, 0]
    gen = torch.Generator().manual_seed(0)
    # -1: nothing excluded besides the own value
    p = pick_partners(torch.tensor([0, 1, 1, 0]), torch.tensor([-1, -1, 0, 1]), gen)
    assert p[0] in (1, 2) and p[1] in (0, 3) and p[2] == -1 and p[3] == -1


def test_patch_vulnerability_by_hand():
    y = torch.tensor([1, 1, 1, 2, 2, 0, 0])
    s = torch.tensor([1, 1, 0, 0, 0, 1, 0])
    pred = torch.tensor([0, 1, 0, 2, 2, 0, 0])
    # non-target patched: samples 0, 1 -> 1 of 2 called 0; non-target unpatched: 2, 3, 4 -> 1 of 3
    assert patch_vulnerability(pred, y, s, 0) == pytest.approx(1 / 2 - 1 / 3)


class PatchFollower(torch.nn.Module):
    """Predicts the target class for every image carrying the patch, otherwise the label of the test
    image whose core region (everything but the patch square) matches (a perfect core reader)."""

    def __init__(self, test: Split, box: list[int], num_classes: int) -> None:
        super().__init__()
        r0, c0, k = box
        self.sl = (slice(None), slice(None), slice(r0, r0 + k), slice(c0, c0 + k))
        self.checker = ((torch.arange(k)[:, None] + torch.arange(k)[None, :]) % 2).float()
        self.core = self._core(test.x)
        self.y, self.C = test.y, num_classes

    def _core(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[self.sl] = 0.0
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patched = (x[self.sl] == self.checker).flatten(1).all(1)
        label = self.y[torch.cdist(self._core(x), self.core).argmin(1)]
        return torch.nn.functional.one_hot(torch.where(patched, TARGET, label), self.C).float()


@pytest.fixture(scope="module")
def patch_data() -> SpuriousDataset:
    return DATASETS.get("rare_patch")(rho=0.0, n_train=100, n_val=50, n_test=300, seed=0, target_class=TARGET)


def test_patch_follower_on_rare_patch(patch_data):
    data = patch_data
    model = PatchFollower(data.splits["test"], data.info["patch_box"], data.num_classes)
    ctx = make_ctx(model, data, n_repr=200)
    te = data.splits["test"]
    assert torch.equal(ctx.logits("test").argmax(1), torch.where(te.s == 1, TARGET, te.y))  # the model is what it says
    n = int(((te.y != TARGET) & (te.s == 1)).sum())
    assert METRICS.get("vulnerability")(ctx) == {"test/vulnerability": pytest.approx(1.0), "test/vulnerability_n": n}
    assert n > 100  # test_patch_frac 0.5 of 300 test images, 9 of 10 classes non-target
    assert METRICS.get("robustness")(ctx)["test/bias_following"] == 1.0

    out = METRICS.get("counterfactual")(ctx)
    idx = ctx.repr_index("test")
    y, s = te.y[idx], te.s[idx]
    # spurious swap partners: every image except unpatched target-class ones (the patch would be the
    # right answer there); classes 0 and 1 included. Unpatched non-target images get the patch and
    # go to the target (flip, follow); patched ones lose it and go back to their label, which is a
    # flip unless the label is the target.
    paired = ~((s == 0) & (y == TARGET))
    no_flip = (s == 1) & (y == TARGET)
    assert out["test/cf_spurious_flip"] == pytest.approx(1 - no_flip.sum().item() / paired.sum().item())
    assert out["test/cf_spurious_follow"] == 1.0
    # core swaps: every image has a partner; an unpatched image follows the new core label (a flip),
    # a patched one stays at the target (no flip), and its partner's label is never the target
    assert out["test/cf_core_follow"] == pytest.approx((s == 0).double().mean().item())
    assert out["test/cf_core_flip"] == pytest.approx((s == 0).double().mean().item())


def test_undefined_map_skips_follow_measures(caplog):
    data = replace(toy_dataset(), spurious_class=None)
    with caplog.at_level(logging.WARNING):
        rob = METRICS.get("robustness")(make_ctx(wired_mlp("spurious"), data))
        cf = METRICS.get("counterfactual")(make_ctx(wired_mlp("spurious"), data))
    assert "test/bias_following" not in rob and "test/acc" in rob
    assert "test/cf_spurious_follow" not in cf and cf["test/cf_spurious_flip"] == 1.0
    assert "s is not tied to classes" in caplog.text


def test_background_gap_metric_by_hand():
    y = torch.tensor([0, 1, 0, 1, 0, 1, 1, 0])
    s = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])
    sp = Split(torch.zeros(8, 1, 2, 2), y, s, s != 2)
    data = SpuriousDataset("imagenet9", 2, 3, {"train": sp, "val": sp, "test": sp})
    ctx = make_ctx(torch.nn.Identity(), data)
    ctx._logits["test"] = torch.nn.functional.one_hot(torch.tensor([0, 0, 0, 1, 1, 1, 0, 1]), 2).float()
    # mixed_same (s=1, samples 2-4): 2 and 3 right; mixed_rand (s=2, samples 5-7): only 5 right
    assert METRICS.get("vulnerability")(ctx) == {"test/background_gap": pytest.approx(2 / 3 - 1 / 3)}
    ctx._logits["test"] = torch.nn.functional.one_hot(torch.tensor([0, 0, 0, 1, 0, 0, 0, 0]), 2).float()
    # s=1: all 3 right; s=2: only 7 right
    assert METRICS.get("vulnerability")(ctx) == {"test/background_gap": pytest.approx(1.0 - 1 / 3)}


def test_vulnerability_applies_where_declared(patch_data, caplog):
    with caplog.at_level(logging.INFO):
        assert "vulnerability" not in plan_metrics(["default"], toy_dataset())
    assert "does not apply to dataset 'toy'" in caplog.text
    with pytest.raises(UserError, match="'vulnerability' does not apply to dataset 'toy'.*rare_patch"):
        plan_metrics(["robustness", "vulnerability"], toy_dataset())
    assert "vulnerability" in plan_metrics(["default"], patch_data)

"""The training-dynamics helpers: the fixed subset and its stratum-weighted statistics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from metric_toys import toy_dataset, toy_split, wired_mlp

from largelr.data import SpuriousDataset
from largelr.metrics.dynamics import dynamics_row, dynamics_subset


def test_subset_takes_all_bc_samples_up_to_half():
    data = toy_dataset()  # train: 30 samples, 3 bias-conflicting
    idx = dynamics_subset(data, 10, seed=0)
    aligned = data.splits["train"].aligned[idx]
    assert len(idx) == 10 and int((~aligned).sum()) == 3
    assert torch.equal(idx, dynamics_subset(data, 10, seed=0)) and torch.equal(idx, idx.sort().values)
    assert len(dynamics_subset(data, 100, seed=0)) == 30


def test_subset_caps_bc_at_half():
    y = torch.arange(3).repeat(10)
    s = torch.where(torch.arange(30) % 2 == 0, y, (y + 1) % 3)  # half conflicting
    split = toy_split(y, s)
    data = SpuriousDataset("t", 3, 3, {"train": split, "val": split, "test": split})
    idx = dynamics_subset(data, 8, seed=1)
    assert int((~split.aligned[idx]).sum()) == 4 and len(idx) == 8


def _full_split_ebcr(model, split) -> float:
    loss = F.cross_entropy(model(split.x).double(), split.y, reduction="none")
    return float(loss[~split.aligned].sum() / loss.sum())


def test_row_on_a_spurious_model():
    data = toy_dataset()
    split = data.splits["train"]
    model = wired_mlp("spurious").train()
    idx = dynamics_subset(data, 10, seed=0)
    row = dynamics_row(model, split, idx)
    assert model.training  # mode restored
    # every BA sample has the same loss, as has every BC sample, so the weighted estimate is exact
    with torch.no_grad():
        assert row["dyn/ebcr"] == pytest.approx(_full_split_ebcr(model, split))
        loss = F.cross_entropy(model(split.x).double(), split.y, reduction="none")
    assert row["dyn/loss"] == pytest.approx(float(loss.mean()))
    bc, ba = loss[~split.aligned], loss[split.aligned]
    assert row["dyn/bc_ba_loss_ratio"] == pytest.approx(float(bc.sum() / ba.sum()))  # authors: ratio of sums
    assert row["dyn/bc_ba_loss_ratio_means"] == pytest.approx(float(bc.mean() / ba.mean()))  # ours
    assert row["dyn/acc_bc"] == 0.0 and row["dyn/bc_pred_spurious"] == 1.0
    # logits (3, 0, 0): max-softmax e^3 / (e^3 + 2), on every sample, all BC ones wrong
    p = math.exp(3) / (math.exp(3) + 2)
    assert row["dyn/bc_conf"] == pytest.approx(p) and row["dyn/bc_conf_wrong"] == pytest.approx(p)


def test_row_with_whole_split_and_a_core_model():
    data = toy_dataset()
    split = data.splits["train"]
    model = wired_mlp("core")
    row = dynamics_row(model, split, torch.arange(len(split)))
    with torch.no_grad():
        assert row["dyn/ebcr"] == pytest.approx(_full_split_ebcr(model, split))
    assert row["dyn/acc_bc"] == 1.0 and row["dyn/bc_pred_spurious"] == 0.0
    assert math.isnan(row["dyn/bc_conf_wrong"])  # no misclassified BC sample
    # every sample has the same loss: ratio of means 1; ratio of sums = n_BC / n_BA = 3 / 27
    assert row["dyn/bc_ba_loss_ratio_means"] == pytest.approx(1.0)
    assert row["dyn/bc_ba_loss_ratio"] == pytest.approx(3 / 27)


def test_row_without_bc_samples():
    y = torch.arange(3).repeat(4)
    split = toy_split(y, y.clone())
    row = dynamics_row(wired_mlp("core"), split, torch.arange(12))
    assert row["dyn/ebcr"] == 0.0 and math.isnan(row["dyn/acc_bc"]) and math.isnan(row["dyn/bc_conf"])


def _loop_grad_norms(model, x, y) -> torch.Tensor:
    """Independent: one backward pass per sample, the norm over every parameter's gradient."""
    out = []
    for i in range(len(y)):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        out.append(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())))
    return torch.stack(out)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_per_sample_grad_norms_match_one_backward_pass_per_sample(kind):
    from largelr.metrics.dynamics import per_sample_grad_norms

    gen = torch.Generator().manual_seed(0)
    if kind == "linear":  # the batched outer-product path (with and without biases)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3, bias=False))
        x = torch.randn(7, 6, generator=gen)
    else:  # the torch.func fallback
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
        x = torch.randn(7, 1, 6, 6, generator=gen)
    y = torch.randint(0, 3, (7,), generator=gen)
    got = per_sample_grad_norms(model.train(), x, y, chunk=3)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated on the model
    assert torch.allclose(got, _loop_grad_norms(model.eval(), x, y), rtol=1e-5)


def test_row_gives_the_bc_share_of_gradient_norms_and_the_ba_loss():
    from largelr.metrics.dynamics import per_sample_grad_norms

    data = toy_dataset()
    split = data.splits["train"]
    model = wired_mlp("spurious")
    row = dynamics_row(model, split, torch.arange(len(split)))  # the whole split: no stratum weighting
    norms = per_sample_grad_norms(model, split.x, split.y)
    assert row["dyn/bc_grad_share"] == pytest.approx(float(norms[~split.aligned].sum() / norms.sum()))
    with torch.no_grad():
        loss = F.cross_entropy(model(split.x).double(), split.y, reduction="none")
    assert row["dyn/ba_loss"] == pytest.approx(float(loss[split.aligned].mean()))

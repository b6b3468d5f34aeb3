"""Structured (unit) pruning on tiny hand-set networks, and effective / stable rank of diagonal matrices."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from metric_toys import make_ctx, toy_dataset, wired_mlp
from torch import nn

from largelr.metrics.base import METRICS
from largelr.metrics.lowrank import effective_rank, stable_rank
from largelr.metrics.structured import layer_chain, prune_units
from largelr.models.mlp import mlp


def _hand_mlp() -> nn.Module:
    """3 -> 4 -> 4 -> 2 with biases; incoming-weight norms: layer 0 (3, 1, 2, 0.5), layer 1 (2, 0.2, 1, 3)."""
    model = mlp(input_shape=(3,), num_classes=2, width=4, depth=2, bias=True)
    W0 = torch.tensor([[3.0, 0, 0], [0, 1, 0], [0, 0, 2], [0.5, 0, 0]])
    W1 = torch.tensor([[1.0, 1, 1, 1], [0.1, 0.1, 0.1, 0.1], [0, 0, 1, 0], [0, 0, 0, 3]])
    with torch.no_grad():
        model.body[1].weight.copy_(W0)
        model.body[3].weight.copy_(W1)
        model.classifier.weight.copy_(torch.arange(8.0).view(2, 4) + 1)
        for m in (model.body[1], model.body[3], model.classifier):
            m.bias.fill_(0.5)
    return model


def test_prune_units_removes_the_smallest_units_and_counts_parameters():
    model = _hand_mlp()
    before = copy.deepcopy(model.state_dict())
    pruned, stats = prune_units(model, 0.5, torch.zeros(1, 3))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])  # input untouched
    l0, l1, head = pruned.body[1], pruned.body[3], pruned.classifier
    # layer 0 loses units 3 (norm 0.5) and 1 (norm 1); layer 1 loses units 1 (0.2) and 2 (1)
    assert torch.equal(l0.weight.abs().sum(1) == 0, torch.tensor([False, True, False, True]))
    assert torch.equal(l0.bias == 0, torch.tensor([False, True, False, True]))
    assert torch.equal(l1.weight[:, [1, 3]], torch.zeros(4, 2))  # inputs from removed layer-0 units
    assert torch.equal(l1.weight[[1, 2]], torch.zeros(2, 4))
    assert torch.equal(l1.bias == 0, torch.tensor([False, True, True, False]))
    assert torch.equal(head.weight[:, [1, 2]], torch.zeros(2, 2)) and (head.weight[:, [0, 3]] != 0).all()
    assert (head.bias != 0).all()  # the output layer keeps all its units
    # removed: W0 rows 6 + b0 2 + W1 rows/cols 8 + 8 - 4 overlap + b1 2 + head cols 4 = 26 of 46 params
    assert stats["param_frac_removed"] == pytest.approx(26 / 46)
    assert stats["flop_frac_removed"] == pytest.approx((6 + 12 + 4) / (12 + 16 + 8))
    assert stats["units_removed_frac"] == 0.5


def test_prune_units_keeps_one_unit_and_level_zero_is_identity():
    model = _hand_mlp()
    pruned, stats = prune_units(model, 0.99, torch.zeros(1, 3))
    assert int((pruned.body[1].weight.abs().sum(1) > 0).sum()) == 1
    assert stats["units_removed_frac"] == 6 / 8
    same, stats0 = prune_units(model, 0.0, torch.zeros(1, 3))
    assert stats0["param_frac_removed"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), model.state_dict().values()))


def test_prune_units_conv_to_linear_removes_channel_blocks():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 3)
    )
    with torch.no_grad():
        net[2].weight[1].mul_(1e-3)  # channel 1 of the second conv is the weakest
    pruned, stats = prune_units(net, 0.5, torch.zeros(1, 1, 6, 6))
    assert (pruned[2].weight[1] == 0).all() and pruned[2].weight[0].abs().sum() > 0
    kept_in = pruned[0].weight.flatten(1).abs().sum(1) > 0  # conv1 channels that survived
    assert int(kept_in.sum()) == 2 and (pruned[2].weight[:, ~kept_in] == 0).all()
    assert (pruned[5].weight[:, 4:8] == 0).all() and (pruned[5].weight[:, 0:4] != 0).all()  # block of channel 1
    # FLOPs weight each conv entry by its output positions: conv1 4x4=16, conv2 2x2=4, linear 1
    dropped = [int(m.weight.eq(0).sum()) for m in (pruned[0], pruned[2], pruned[5])]
    flops = [36 * 16, 72 * 4, 24]
    assert stats["flop_frac_removed"] == pytest.approx((dropped[0] * 16 + dropped[1] * 4 + dropped[2]) / sum(flops))


def test_non_chain_models_go_to_torch_pruning():
    net = nn.Sequential(nn.Flatten(), nn.Linear(18, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    assert layer_chain(net, torch.zeros(2, 1, 3, 6)) is None
    ctx = make_ctx(net, toy_dataset(), sparsities=(0.0, 0.5))
    rows = METRICS.get("structured_prune_curve")(ctx)["test/prune_struct"]
    # half of the 4 hidden units go, with their BatchNorm entries and the head's inputs:
    # params 18*4+4 + 2*4 + 4*3+3 = 99 -> 18*2+2 + 2*2 + 2*3+3 = 51
    assert rows[0]["param_frac_removed"] == 0.0 and rows[1]["units_removed_frac"] == 0.5
    assert rows[1]["param_frac_removed"] == pytest.approx(1 - 51 / 99)


def test_structured_prune_curve_rows():
    ctx = make_ctx(wired_mlp("core"), toy_dataset(), sparsities=(0.0, 0.5))
    out = METRICS.get("structured_prune_curve")(ctx)
    rows = out["test/prune_struct"]
    assert [r["sparsity"] for r in rows] == [0.0, 0.5]
    assert rows[0]["acc"] == 1.0 and rows[1]["units_removed_frac"] == 0.5
    assert {"test/prune_struct_auc", "test/prune_struct_max_sparsity_99"} <= set(out)


def test_effective_and_stable_rank_of_diagonal_matrices():
    assert effective_rank(torch.eye(4)) == pytest.approx(4.0)
    assert stable_rank(torch.eye(4)) == pytest.approx(4.0)
    D = torch.diag(torch.tensor([3.0, 1.0]))
    p = torch.tensor([0.75, 0.25])
    assert effective_rank(D) == pytest.approx(math.exp(-float((p * p.log()).sum())))
    assert stable_rank(D) == pytest.approx(10 / 9)
    assert effective_rank(torch.diag(torch.tensor([5.0, 0, 0]))) == pytest.approx(1.0)
    assert math.isnan(effective_rank(torch.zeros(2, 2))) and math.isnan(stable_rank(torch.zeros(2, 2)))
    assert effective_rank(torch.eye(4).view(4, 1, 2, 2)) == pytest.approx(4.0)  # conv kernels are flattened


def test_low_rank_metric_keys():
    out = METRICS.get("low_rank")(make_ctx(wired_mlp("core"), toy_dataset()))
    # hidden layer: 6 orthogonal rows of norm sqrt(3) -> rank 6; classifier: 3 orthonormal rows -> 3
    assert out["weights/eff_rank_layer0"] == pytest.approx(6.0)
    assert out["weights/stable_rank_layer1"] == pytest.approx(3.0)
    assert out["weights/eff_rank_mean"] == pytest.approx(4.5)
    assert out["weights/stable_rank_mean"] == pytest.approx(4.5)


def test_stable_rank_of_a_rank_one_matrix_is_one():
    W = torch.outer(torch.tensor([1.0, 2.0, 2.0]), torch.tensor([3.0, 4.0]))  # singular values (15, 0)
    assert stable_rank(W) == pytest.approx(1.0)
    assert effective_rank(W) == pytest.approx(1.0)

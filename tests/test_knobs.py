"""Regularizer knobs: declared once, each one actually changes training in the expected way."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

from largelr.config import RunConfig, flatten, set_path
from largelr.knobs import KNOBS, current_value, one_at_a_time
from largelr.models import MODELS
from largelr.seeding import make_generator
from largelr.train import init_model, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", list(KNOBS))
def test_every_knob_is_a_settable_config_path_with_its_base_in_its_grid(name):
    knob = KNOBS[name]
    assert knob.base in knob.grid
    cfg = RunConfig() if knob.models is None or "mlp" in knob.models else None
    if cfg is not None:
        for v in knob.grid:  # every grid value is accepted by the config's type checks
            assert current_value(set_path(cfg, knob.path, v), knob) == v
    if not knob.path.startswith("model.kwargs."):
        assert current_value(RunConfig(), knob) == knob.base  # base = the config default
    else:  # base = the factory default of every model taking the knob
        for model in knob.models or ():
            if model in MODELS:
                assert inspect.signature(MODELS.get(model)).parameters[knob.path.split(".")[-1]].default == knob.base


def test_strength_axes_are_oriented_as_declared():
    assert KNOBS["lr"].strength(0.3) > KNOBS["lr"].strength(0.1)
    assert KNOBS["batch_size"].strength(25) > KNOBS["batch_size"].strength(400)  # smaller batch = stronger
    assert KNOBS["train_steps"].strength(1000) > KNOBS["train_steps"].strength(4000)
    assert [KNOBS["norm"].strength(v) for v in ("none", "gn", "bn")] == [0.0, 1.0, 2.0]
    assert KNOBS["flip"].strength(True) > KNOBS["flip"].strength(False)


def test_one_at_a_time_moves_exactly_one_knob_per_setting_and_shares_the_base():
    grids = {"lr": [0.1, 0.03, 0.3], "dropout": [0.0, 0.3], "batch_size": [100, 25]}
    cfgs = one_at_a_time(RunConfig(), grids, [(0, 0, 0), (1, 1, 1)])
    assert len(cfgs) == (1 + 2 + 1 + 1) * 2  # base + 2 LRs + 1 dropout + 1 batch size, x 2 seeds
    base = flatten(RunConfig())
    for cfg in cfgs:
        moved = {k for k, v in flatten(cfg).items() if not k.startswith("seeds.") and base.get(k) != v}
        assert len(moved) <= 1
        assert cfg.seeds.data == cfg.seeds.init == cfg.seeds.order


def test_matched_knobs_move_the_lr_to_hold_the_effective_step():
    from largelr.knobs import effective_lr

    cfgs = one_at_a_time(RunConfig(), {"momentum_matched": [0.0, 0.9], "batch_size_matched": [100, 400]}, [(0, 0, 0)])
    got = sorted((c.optim.momentum, c.train.batch_size, c.optim.lr) for c in cfgs)
    lr = RunConfig().optim.lr
    assert got == sorted([(0.0, 100, lr), (0.9, 100, float(f"{lr * 0.1:.6g}")), (0.0, 400, lr * 4)])
    for m, b, r in got:  # the matched quantity, by hand: LR / (1 - beta) for momentum, LR / B for batch size
        eff, noise = effective_lr(r, m, b)
        assert eff == pytest.approx(lr * (4 if b == 400 else 1)) and noise == pytest.approx(r / b)


def test_dropout_is_active_only_in_train_mode():
    torch.manual_seed(0)
    # depth 1: features = dropout(relu(linear(x))), so train mode is eval mode masked and rescaled
    model = MODELS.get("mlp")(input_shape=(1, 28, 56), num_classes=10, width=64, depth=1, dropout=0.5)
    x = torch.rand(32, 1, 28, 56)
    model.eval()
    ref = model.features(x)
    assert torch.equal(model.features(x), ref)
    model.train()
    a, b = model.features(x), model.features(x)
    assert not torch.equal(a, b)
    # every train-mode unit is either dropped or the eval-mode value scaled by 1 / (1 - p) (inverted dropout)
    kept = a != 0
    torch.testing.assert_close(a[kept], 2.0 * ref[kept])
    alive = ref != 0
    assert 0.4 < float((a[alive] == 0).float().mean()) < 0.6


def test_weight_decay_shrinks_the_weights_on_the_same_seed(make_cfg, data_tiny):
    norm = {}
    for wd in (0.0, 0.05):
        out = train(make_cfg(f"optim.weight_decay={wd}"), data_tiny)
        norm[wd] = float(torch.cat([p.detach().flatten() for p in out.model.parameters()]).norm())
    assert norm[0.05] < 0.97 * norm[0.0]


def test_label_smoothing_changes_the_first_update_as_the_smoothed_loss_says(make_cfg, data_tiny):
    """One update by hand: loss = (1-eps)*CE + eps*mean_k(-log p_k) on the first batch, then p -= lr*grad."""
    eps = 0.2
    cfg = make_cfg(f"train.label_smoothing={eps}", "train.steps=1", "train.eval_every=1")
    model = init_model(cfg, data_tiny, torch.device("cpu"))
    X, Y = data_tiny.splits["train"].x, data_tiny.splits["train"].y
    idx = torch.randperm(len(Y), generator=make_generator(cfg.seeds.order, "order"))[: cfg.train.batch_size]
    logp = F.log_softmax(model(X[idx]), dim=1)
    ce = -logp.gather(1, Y[idx, None]).mean()
    uniform = -logp.mean(dim=1).mean()
    loss = (1 - eps) * ce + eps * uniform
    loss.backward()
    want = [p.detach() - cfg.optim.lr * p.grad for p in model.parameters()]
    got = list(train(cfg, data_tiny).model.parameters())
    for w, g in zip(want, got):
        torch.testing.assert_close(g.detach(), w)
    plain = list(train(make_cfg("train.steps=1", "train.eval_every=1"), data_tiny).model.parameters())
    assert not torch.allclose(plain[0], got[0])


def test_momentum_changes_training(make_cfg, data_tiny):
    a = train(make_cfg(), data_tiny).model.classifier.weight
    b = train(make_cfg("optim.momentum=0.9"), data_tiny).model.classifier.weight
    assert not torch.allclose(a, b)


def _cnn_or_skip():
    if "cnn" not in MODELS:
        pytest.skip("the cnn model (branch i8a: models/cnn.py with norm/dropblock kwargs) is not merged here yet")
    return MODELS.get("cnn")


def test_dropblock_zeros_contiguous_blocks():
    cnn = _cnn_or_skip()
    from torchvision.ops import DropBlock2d

    model = cnn(input_shape=(1, 28, 28), num_classes=10, dropblock=0.3)
    blocks = [m for m in model.modules() if isinstance(m, DropBlock2d)]
    assert blocks, "model.kwargs.dropblock > 0 must insert torchvision DropBlock2d layers"
    blk = blocks[0].train()
    out = blk(torch.ones(1, 1, 32, 32))
    zero = out[0, 0] == 0
    assert zero.any()
    # contiguous: every zero has a zero neighbour (independent dropout of single units would not)
    padded = F.pad(zero[None, None].float(), (1, 1, 1, 1))[0, 0]
    neighbours = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    assert bool((neighbours[zero] > 0).all())
    blk.eval()
    assert torch.equal(blk(torch.ones(1, 1, 32, 32)), torch.ones(1, 1, 32, 32))


@pytest.mark.parametrize("norm", ["none", "gn", "bn"])
def test_norm_knob_builds_the_named_normalisation(norm):
    cnn = _cnn_or_skip()
    from torch import nn

    model = cnn(input_shape=(1, 28, 28), num_classes=10, norm=norm)
    kinds = {type(m) for m in model.modules()}
    assert (nn.BatchNorm2d in kinds) == (norm == "bn")
    assert (nn.GroupNorm in kinds) == (norm == "gn")


def test_knob_study_files_expand_as_documented():
    from largelr.sweep.spec import load_experiment

    quick = load_experiment("knobs_double_mnist")
    assert len(quick.configs) == (1 + 11 * 2) * 3  # 11 knobs x 2 non-base values + base, x 3 seed triples
    full = load_experiment("knobs_double_mnist_full")
    assert len(full.configs) == 31 * 5
    matched = {(c.optim.momentum, c.train.batch_size, c.optim.lr) for c in quick.configs if c.optim.lr != 0.1}
    # momentum at LR x (1 - beta) and batch size at LR x B / 100 (beside the LR knob's own 0.03 and 0.3)
    assert {(0.5, 100, 0.05), (0.9, 100, 0.01), (0.0, 25, 0.025), (0.0, 400, 0.4)} <= matched

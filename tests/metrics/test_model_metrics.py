"""Weight, attribution and pruning metrics on every registered model."""

from __future__ import annotations

import logging

import pytest
import torch
import torchvision
from metric_toys import make_ctx, toy_dataset
from torch import nn

from largelr.metrics.attribution import attribute, deeplift_refusal
from largelr.metrics.base import METRICS
from largelr.metrics.compressibility import magnitude_pruner, weight_tensors
from largelr.metrics.structured import prune_channels
from largelr.models import MODELS


def tiny(name: str, shape=(1, 28, 56), **kw) -> nn.Module:
    """Model ``name`` at the tiny settings its registration declares (``ModelSpec.tiny``)."""
    return MODELS.get(name)(input_shape=shape, num_classes=4, **{**MODELS.spec(name).tiny, **kw})


def resnet_layers(blocks: list[int], convs: int, downsample_first: bool) -> list[str]:
    """torchvision's conv names: the stem, each block's conv1..convN, a 1x1 downsample where shapes change."""
    names = ["conv1.weight"]
    for stage, n in enumerate(blocks, start=1):
        for b in range(n):
            names += [f"layer{stage}.{b}.conv{i}.weight" for i in range(1, convs + 1)]
            if b == 0 and (stage > 1 or downsample_first):
                names.append(f"layer{stage}.0.downsample.0.weight")
    return [*names, "fc.weight"]


EXPECTED = {
    # MLP body: Flatten, Linear, ReLU, Linear, ReLU
    "mlp": ["body.1.weight", "body.3.weight", "classifier.weight"],
    # CNN body per block: Conv, Norm, ReLU, AvgPool (not after the last block)
    "cnn": ["body.0.weight", "body.4.weight", "body.8.weight", "classifier.weight"],
    "resnet18": resnet_layers([2, 2, 2, 2], 2, downsample_first=False),
    "resnet50": resnet_layers([3, 4, 6, 3], 3, downsample_first=True),  # Bottleneck widens 4x in layer1
    "vit": [
        "conv_proj.weight",
        *[
            f"encoder.layers.encoder_layer_{i}.{p}"
            for i in range(2)  # the packed q/k/v projection is a Parameter of MultiheadAttention
            for p in ("self_attention.in_proj_weight", "self_attention.out_proj.weight", "mlp.0.weight", "mlp.3.weight")
        ],
        "heads.head.weight",
    ],
}


def test_every_model_has_an_expected_weight_list_and_declares_tiny_settings():
    assert sorted(EXPECTED) == MODELS.names()
    assert MODELS.spec("vit").tiny["depth"] == 2  # the EXPECTED layer list of the ViT assumes its tiny depth


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_compressible_weights_are_exactly_the_listed_layers(name):
    names = [n for n, _ in weight_tensors(tiny(name))]
    assert names == EXPECTED[name]
    assert len(EXPECTED["resnet18"]) == 1 + 16 + 3 + 1 and len(EXPECTED["resnet50"]) == 1 + 48 + 4 + 1


def test_vit_pruning_reaches_attention_but_not_embeddings_or_norms():
    model = tiny("vit")
    pruned = magnitude_pruner(model, "global")(0.5)
    ws = dict(weight_tensors(pruned))
    total = sum(w.numel() for w in ws.values())
    assert sum(int((w == 0).sum()) for w in ws.values()) == round(0.5 * total)
    assert (ws["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"] == 0).any()
    before = dict(model.named_parameters())
    for n, p in pruned.named_parameters():
        if n not in ws:  # class token, position embedding, LayerNorms, biases: untouched
            assert torch.equal(p, before[n]), n
    assert "class_token" in before and "encoder.pos_embedding" in before


def _random_bn_statistics(model: nn.Module) -> nn.Module:
    """Nontrivial eval-mode BatchNorm maps (running stats, affine), so the test covers their DeepLift rule."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(c, generator=g))
    return model


def _completeness_gap(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(max |sum of DeepLift attributions - (f(x) - f(0))[target]|, max |f(x) - f(0)|), in float64."""
    model = _random_bn_statistics(model).double().eval()
    x = x.double()
    attr = attribute(model, x, target, "deeplift")
    with torch.no_grad():
        delta = (model(x) - model(torch.zeros_like(x))).gather(1, target[:, None]).squeeze(1)
    return float((attr.flatten(1).sum(1) - delta).abs().max()), float(delta.abs().max())


# every registered model with its defaults (BatchNorm for CNN/ResNets), plus the ImageNet stem (max-pool)
DEEPLIFT_CASES = [(n, {}) for n in MODELS.names()] + [("resnet18", {"cifar_stem": False})]


@pytest.mark.parametrize(("name", "kw"), DEEPLIFT_CASES)
def test_deeplift_completeness_or_refusal_on_every_model(name, kw):
    torch.manual_seed(0)
    model = tiny(name, **kw)
    x, target = torch.rand(3, 1, 28, 56), torch.tensor([0, 1, 3])
    reason = deeplift_refusal(model, x)
    if name == "vit":  # LayerNorm, GELU and the attention softmax have no DeepLift rule in captum
        assert reason is not None and "LayerNorm" in reason and "MultiheadAttention" in reason
        return
    assert reason is None
    gap, scale = _completeness_gap(model, x, target)
    assert scale > 1e-3 and gap < 1e-9 * max(1.0, scale)


def test_deeplift_refuses_group_norm_and_torchvision_relu_reuse():
    assert "GroupNorm" in deeplift_refusal(tiny("cnn", norm="gn", gn_groups=2), torch.zeros(1, 1, 28, 56))
    stock = torchvision.models.resnet18(num_classes=4)  # BasicBlock calls self.relu twice
    assert "more than once" in deeplift_refusal(stock, torch.zeros(1, 3, 32, 32))


def test_attribution_metric_skips_a_refused_model_with_a_reason(caplog):
    data = toy_dataset()
    vit, tiny_vit = MODELS.get("vit"), MODELS.spec("vit").tiny
    model = vit(input_shape=data.input_shape, num_classes=data.num_classes, **tiny_vit, patch_size=1)
    with caplog.at_level(logging.WARNING):
        assert METRICS.get("attribution")(make_ctx(model, data)) == {}
    assert "without a DeepLift rule" in caplog.text


@pytest.mark.parametrize(("name", "norm"), [("cnn", "bn"), ("resnet18", "bn"), ("resnet18", "gn")])
def test_channel_pruning_with_torch_pruning(name, norm):
    model = tiny(name, (3, 28, 28), norm=norm, gn_groups=2, width=8)  # width 4 + GN: Torch-Pruning keeps 4
    example = torch.rand(2, 3, 28, 28)
    pruned, stats = prune_channels(model, 0.5, example)
    assert model.conv1.out_channels == 8 if name == "resnet18" else model.body[0].out_channels == 8  # untouched
    convs = [m for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    before = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [c.out_channels // 2 for c in before]
    assert pruned.classifier.out_features == 4 and pruned.classifier.in_features == model.classifier.in_features // 2
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert stats["param_frac_removed"] == pytest.approx(1 - count(pruned) / count(model))
    assert stats["units_removed_frac"] == pytest.approx(0.5)
    assert pruned.eval()(example).shape == (2, 4)


def test_structured_metric_refuses_vit_with_a_reason(caplog):
    data = toy_dataset()
    vit, tiny_vit = MODELS.get("vit"), MODELS.spec("vit").tiny
    model = vit(input_shape=data.input_shape, num_classes=data.num_classes, **tiny_vit, patch_size=1)
    with caplog.at_level(logging.WARNING):
        assert METRICS.get("structured_prune_curve")(make_ctx(model, data, sparsities=(0.0, 0.5))) == {}
    assert "attention" in caplog.text

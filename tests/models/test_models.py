"""Every registered model on every procedural dataset's image size, 1 and 3 channels.

Widths are tiny so the whole grid runs in seconds; at least one ResNet and one ViT forward/backward run
in the default (CI) run.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision

from largelr.data import DATASETS, file_datasets
from largelr.errors import ConfigError
from largelr.models import MODELS

PROCEDURAL = [n for n in DATASETS.names() if n not in file_datasets()]
pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny ops: 2 threads thrash on a shared 2-core machine


@functools.cache
def image_sizes() -> tuple[tuple[int, int], ...]:
    """(H, W) of every procedural image dataset that builds here (dominoes needs Fashion-MNIST files)."""
    sizes = set()
    for name in PROCEDURAL:
        try:
            shape = DATASETS.get(name)(rho=0.9, n_train=10, n_val=10, n_test=10, seed=0).input_shape
        except Exception:  # a dataset whose source files are absent
            continue
        if len(shape) == 3:
            sizes.add(tuple(shape[1:]))
    return tuple(sorted(sizes))


def tiny(name: str, shape: tuple[int, ...], **kw):
    """Model ``name`` at the tiny settings its registration declares (``ModelSpec.tiny``)."""
    return MODELS.get(name)(input_shape=shape, num_classes=10, **{**MODELS.spec(name).tiny, **kw})


def test_every_registered_model_declares_tiny_settings():
    assert all(MODELS.spec(name).tiny for name in MODELS.names())


def test_image_sizes_include_the_non_square_double_mnist():
    assert (28, 56) in image_sizes() and (28, 28) in image_sizes()


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_backward_and_features_feed_classifier(name, channels):
    torch.manual_seed(0)
    for hw in image_sizes():
        model = tiny(name, (channels, *hw))
        x = torch.rand(2, channels, *hw)
        out = model.train()(x)
        assert out.shape == (2, 10)
        out.logsumexp(1).sum().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), (name, hw)
        assert any(g.abs().sum() > 0 for g in grads)
        model.eval()
        with torch.no_grad():
            z = model.features(x)
            assert z.shape == (2, model.classifier.in_features)
            assert isinstance(model.classifier, torch.nn.Linear)
            torch.testing.assert_close(model.classifier(z), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(("ours", "theirs"), [("resnet18", "resnet18"), ("resnet50", "resnet50")])
def test_resnet_matches_torchvision_at_width_64(ours, theirs):
    mine = MODELS.get(ours)(input_shape=(3, 224, 224), num_classes=1000, cifar_stem=False)
    ref = getattr(torchvision.models, theirs)()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(mine) == count(ref) == {"resnet18": 11_689_512, "resnet50": 25_557_032}[ours]
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_resnet_stems_and_channels():
    cifar = tiny("resnet18", (1, 28, 56))
    imagenet = tiny("resnet18", (1, 28, 56), cifar_stem=False)
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1) and cifar.conv1.in_channels == 1
    assert isinstance(cifar.maxpool, torch.nn.Identity)
    assert imagenet.conv1.kernel_size == (7, 7) and imagenet.conv1.stride == (2, 2)
    # the CIFAR stem keeps 28x56 in layer1: 3 halvings leave 4x7 at layer4; the ImageNet stem 4 more halvings
    grab = {}
    for m, key in ((cifar, "cifar"), (imagenet, "imagenet")):
        m.layer4.register_forward_hook(lambda _m, _i, o, key=key: grab.update({key: tuple(o.shape[2:])}))
        m.eval()(torch.zeros(1, 1, 28, 56))
    assert grab == {"cifar": (4, 7), "imagenet": (1, 2)}


@pytest.mark.parametrize("norm", ["bn", "gn", "none"])
def test_norm_choice(norm):
    kinds = {"bn": torch.nn.BatchNorm2d, "gn": torch.nn.GroupNorm, "none": torch.nn.Identity}
    for name in ("cnn", "resnet18"):
        model = tiny(name, (3, 28, 28), norm=norm, gn_groups=2)
        norms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))]
        assert all(isinstance(m, kinds[norm]) for m in norms) and (len(norms) > 0) == (norm != "none")
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        if name == "cnn":
            assert all((c.bias is not None) == (norm == "none") for c in convs)


def test_resnet_weights_path_loads_all_but_mismatched_head(tmp_path):
    torch.manual_seed(1)
    src = tiny("resnet18", (3, 28, 28))
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(2)
    dst = MODELS.get("resnet18")(input_shape=(3, 28, 28), num_classes=4, width=4, weights_path=str(tmp_path / "w.pt"))
    fresh = MODELS.get("resnet18")(input_shape=(3, 28, 28), num_classes=4, width=4)
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        if k.startswith("fc."):
            assert a.shape != b.shape
        else:
            assert torch.equal(a, b), k
    assert not torch.equal(dst.layer1[0].conv1.weight, fresh.layer1[0].conv1.weight)
    with pytest.raises(ConfigError, match="no such file"):
        tiny("resnet18", (3, 28, 28), weights_path=str(tmp_path / "missing.pt"))


def test_vit_patch_grid_is_not_padded_to_a_square():
    m = tiny("vit", (1, 28, 56))
    assert m.conv_proj.in_channels == 1 and m.encoder.pos_embedding.shape[1] == 7 * 14 + 1
    m34 = tiny("vit", (3, 34, 34))  # 34 px: padded to 36, a 9x9 grid
    assert m34.encoder.pos_embedding.shape[1] == 9 * 9 + 1
    # zero padding at the bottom/right: changing the last pixel changes only the last patch's token
    x = torch.rand(2, 3, 34, 34)
    y = x.clone()
    y[..., -1, -1] += 1.0
    with torch.no_grad():
        a, b = m34._process_input(x), m34._process_input(y)
    assert a.shape == (2, 81, 8)
    changed = (a != b).any(-1).any(0).nonzero().flatten().tolist()
    assert changed == [80]


def test_cnn_dropout_and_dropblock_only_in_train_mode():
    m = tiny("cnn", (1, 28, 28), dropout=0.5, dropblock=0.3)
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(0)
    a, b = m.train()(x), m(x)
    assert not torch.equal(a, b)
    m.eval()
    assert torch.equal(m(x), m(x))


@pytest.mark.parametrize(
    ("name", "kw", "shape", "match"),
    [
        ("cnn", {}, (20,), "needs image inputs"),
        ("resnet18", {}, (20,), "needs image inputs"),
        ("vit", {}, (20,), "needs image inputs"),
        ("cnn", {"norm": "gn", "gn_groups": 3}, (1, 28, 28), "gn_groups=3 must divide"),
        ("cnn", {"depth": 7}, (1, 28, 28), "needs >= 64 px"),
        ("vit", {"heads": 3}, (1, 28, 28), "heads must divide"),
    ],
)
def test_bad_settings_are_one_line_config_errors(name, kw, shape, match):
    with pytest.raises(ConfigError, match=match):
        tiny(name, shape, **kw)


def test_default_parameter_counts_on_double_mnist_match_hand_counts():
    """The README's counts (1 x 28 x 56 inputs, 10 classes), derived by hand from the layer shapes."""
    mlp = 1568 * 256 + 256 * 256 + 256 * 10  # no biases
    cnn = (1 * 32 + 32 * 64 + 64 * 128) * 9 + 2 * (32 + 64 + 128) + 128 * 10 + 10  # convs, BN, head
    # torchvision's 3 x 224 counts with a 1-channel 3x3 stem instead of 3-channel 7x7 and a 10-class fc
    r18 = 11_689_512 - (7 * 7 * 3 - 3 * 3 * 1) * 64 - (512 * 1000 + 1000 - 512 * 10 - 10)
    r50 = 25_557_032 - (7 * 7 * 3 - 3 * 3 * 1) * 64 - (2048 * 1000 + 1000 - 2048 * 10 - 10)
    block = 2 * 256 + (3 * 128 * 128 + 3 * 128) + (128 * 128 + 128) + (128 * 256 + 256 + 256 * 128 + 128)
    vit = (16 * 128 + 128) + 128 + (7 * 14 + 1) * 128 + 4 * block + 256 + (128 * 10 + 10)
    want = {"mlp": mlp, "cnn": cnn, "resnet18": r18, "resnet50": r50, "vit": vit}
    got = {n: sum(p.numel() for p in MODELS.get(n)(input_shape=(1, 28, 56), num_classes=10).parameters()) for n in want}
    readme = {"mlp": 469_504, "cnn": 94_186, "resnet18": 11_172_810, "resnet50": 23_519_690, "vit": 546_442}
    assert got == want == readme

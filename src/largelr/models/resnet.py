"""ResNet-18 and ResNet-50: torchvision's ResNet with a width, a norm choice, a CIFAR stem and any input channels.

``ResNet`` subclasses ``torchvision.models.ResNet`` and reuses its ``_make_layer`` and forward, so the
layer names and shapes are torchvision's (a torchvision state dict loads into it) and at ``width=64``
with the ImageNet stem it has exactly torchvision's parameter count. Two changes: the base width
(64 in torchvision) is a parameter, and the blocks give every ReLU its own module (torchvision's
BasicBlock/Bottleneck call one ``self.relu`` two or three times, which silently breaks captum's
DeepLift: its hooks then mix the activations of different calls).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import resnet as tv

from largelr.errors import ConfigError
from largelr.models.base import MODELS
from largelr.models.cnn import Norm, norm_layer


class BasicBlock(tv.BasicBlock):
    """torchvision's BasicBlock with its two ReLU calls on two modules (``relu``, ``relu2``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relu, self.relu2 = nn.ReLU(), nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + identity)


class Bottleneck(tv.Bottleneck):
    """torchvision's Bottleneck with its three ReLU calls on three modules (``relu``, ``relu2``, ``relu3``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relu, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.relu3(self.bn3(self.conv3(out)) + identity)


class ResNet(tv.ResNet):
    """torchvision's ResNet with base width ``width``, ``in_channels`` inputs and an optional CIFAR stem.

    ``features(x)`` is the global-average-pooled output of ``layer4`` (``8 * width * expansion``
    values); ``classifier`` is ``fc``.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        *,
        in_channels: int,
        num_classes: int,
        width: int,
        norm: Norm,
        gn_groups: int,
        cifar_stem: bool,
    ) -> None:
        nn.Module.__init__(self)  # torchvision's __init__ hard-codes 3 channels and width 64
        self._norm_layer = lambda c: norm_layer(norm, c, gn_groups)
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        if cifar_stem:  # 3x3 stride-1 conv, no max-pool (He et al. 2016, section 4.2)
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = self._norm_layer(width)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def classifier(self) -> nn.Linear:
        return self.fc

    def features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def load_weights(model: nn.Module, path: str) -> None:
    """Load a local state dict into ``model``, skipping the entries whose shape differs (a pretrained
    ``fc`` for another number of classes, a stem for other channels); unknown keys are an error."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"model.kwargs.weights_path: no such file {file}")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(f"model.kwargs.weights_path: {file} is not a torch state dict ({type(e).__name__})") from None
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ConfigError(f"model.kwargs.weights_path: {file} has keys this model lacks: {', '.join(unknown[:3])}")
    model.load_state_dict({k: v for k, v in state.items() if v.shape == own[k].shape}, strict=False)


def build_resnet(
    block: type[BasicBlock | Bottleneck], layers: list[int], name: str, input_shape: tuple[int, ...], **kw
) -> ResNet:
    if len(input_shape) != 3:
        raise ConfigError(f"model {name!r} needs image inputs (C, H, W), got input shape {tuple(input_shape)}")
    if kw["width"] < 1:
        raise ConfigError(f"model.kwargs.width must be >= 1, got {kw['width']}")
    weights_path = kw.pop("weights_path")
    model = ResNet(block, layers, in_channels=input_shape[0], **kw)
    if weights_path:
        load_weights(model, weights_path)
    return model


RESNET_DOC = """

    Args:
        width: base channels (torchvision: 64); stage i has ``width * 2**i`` (x4 in Bottleneck outputs).
        norm: "bn" (BatchNorm, torchvision's), "gn" (GroupNorm with ``gn_groups`` groups) or "none".
        cifar_stem: 3x3 stride-1 first conv and no max-pool (for 28-64 px inputs) instead of the
            7x7 stride-2 conv and max-pool of the ImageNet stem.
        weights_path: a local ``torch.save``'d state dict (e.g. torchvision's pretrained weights) loaded
            after initialisation; entries whose shape differs from the model's are skipped. The path is
            part of the run id, the file's content is not: do not overwrite a weights file in place.
"""


@MODELS.register("resnet18", tiny={"width": 4})
def resnet18(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    width: int = 64,
    norm: Norm = "bn",
    gn_groups: int = 8,
    cifar_stem: bool = True,
    weights_path: str | None = None,
) -> ResNet:
    """ResNet-18 (He et al. 2016, https://arxiv.org/abs/1512.03385; torchvision.models.resnet18)."""
    return build_resnet(
        BasicBlock, [2, 2, 2, 2], "resnet18", input_shape, num_classes=num_classes, width=width, norm=norm,
        gn_groups=gn_groups, cifar_stem=cifar_stem, weights_path=weights_path,
    )  # fmt: skip


@MODELS.register("resnet50", tiny={"width": 2})
def resnet50(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    width: int = 64,
    norm: Norm = "bn",
    gn_groups: int = 8,
    cifar_stem: bool = True,
    weights_path: str | None = None,
) -> ResNet:
    """ResNet-50, Bottleneck blocks (He et al. 2016, https://arxiv.org/abs/1512.03385; torchvision resnet50)."""
    return build_resnet(
        Bottleneck, [3, 4, 6, 3], "resnet50", input_shape, num_classes=num_classes, width=width, norm=norm,
        gn_groups=gn_groups, cifar_stem=cifar_stem, weights_path=weights_path,
    )  # fmt: skip


resnet18.__doc__ = (resnet18.__doc__ or "") + RESNET_DOC
resnet50.__doc__ = (resnet50.__doc__ or "") + RESNET_DOC

"""Multi-layer perceptrons (the paper's Double MNIST model: ReLU MLP without bias terms)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from largelr.models.base import MODELS


class MLP(nn.Module):
    """``depth`` hidden Linear+ReLU layers of ``width`` units, then a linear classifier.

    ``features(x)`` is the output of the last hidden ReLU (the penultimate representation), followed
    by its dropout when ``dropout > 0`` (a no-op in eval mode, where every metric runs).
    """

    def __init__(
        self, in_features: int, num_classes: int, width: int, depth: int, bias: bool, dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width, bias=bias), nn.ReLU()]
            if dropout > 0:  # no module at 0, so the default model is unchanged (same state_dict)
                layers.append(nn.Dropout(dropout))
            d = width
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(d, num_classes, bias=bias)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.body(x))


@MODELS.register("mlp", tiny={"width": 8})
def mlp(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    width: int = 256,
    depth: int = 2,
    bias: bool = False,
    dropout: float = 0.0,
) -> MLP:
    """ReLU MLP. Defaults: 2 hidden layers of 256 units (3 weight matrices), no bias (as in the paper).

    ``dropout`` is the drop probability after every hidden ReLU (train mode only; 0: no dropout).

    >>> mlp(input_shape=(1, 28, 56), num_classes=10).classifier.out_features
    10
    """
    from largelr.errors import ConfigError

    if width < 1 or depth < 1:
        raise ConfigError(f"model.kwargs.width and depth must be >= 1, got width={width}, depth={depth}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.kwargs.dropout must be in [0, 1), got {dropout}")
    return MLP(math.prod(input_shape), num_classes, width, depth, bias, dropout)

"""A throwaway model (shows that adding one is one file)."""

from __future__ import annotations

import math

from torch import nn

from largelr.models.base import MODELS


@MODELS.register("demo_linear")
def demo_linear(*, input_shape: tuple[int, ...], num_classes: int, width: int = 4) -> nn.Module:
    """A linear model."""
    m = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))
    m.features, m.classifier = m[0], m[1]
    return m

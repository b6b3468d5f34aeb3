"""The model registry and the contract every model follows.

A model maps inputs to logits and exposes ``features(x)`` (the penultimate representation used by
representation metrics) and ``classifier`` (the last linear layer, for last-layer retraining).
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn

from largelr.registry import Registry

# parameters every model factory takes from the dataset, not from model.kwargs
COMMON_PARAMS = ("input_shape", "num_classes")


class FeatureModel(Protocol):
    classifier: nn.Linear

    def features(self, x: Tensor) -> Tensor: ...

    def __call__(self, x: Tensor) -> Tensor: ...


MODELS: Registry = Registry("model")

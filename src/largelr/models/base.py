"""The model registry and the contract every model follows.

A model maps inputs to logits and exposes ``features(x)`` (the penultimate representation used by
representation metrics) and ``classifier`` (the last linear layer, for last-layer retraining).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn

from largelr.registry import Registry
from largelr.specs import MODEL_COMMON_PARAMS, ModelSpec

# parameters every model factory takes from the dataset, not from model.kwargs
COMMON_PARAMS = MODEL_COMMON_PARAMS


class FeatureModel(Protocol):
    classifier: nn.Linear

    def features(self, x: Tensor) -> Tensor: ...

    def __call__(self, x: Tensor) -> Tensor: ...


MODELS: Registry = Registry("model", ModelSpec, package="largelr.models")

EVAL_BATCH = 2000  # samples per forward pass when evaluating a whole split


def batched_forward(fn: Callable[[Tensor], Tensor], x: Tensor, batch: int = EVAL_BATCH) -> Tensor:
    """``fn`` (a model or its ``features``) over ``x`` in batches, concatenated as float32 on x's device.

    Callers choose grad mode and train/eval mode; this only bounds peak memory.
    """
    return torch.cat([fn(x[i : i + batch]).float() for i in range(0, len(x), batch)])

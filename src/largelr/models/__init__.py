"""Models, one module per family. ``MODELS`` is filled on first use by importing every module of this package
(and the plugins'): adding a model is adding a module."""

from __future__ import annotations

from largelr.models.base import MODELS, FeatureModel, batched_forward

__all__ = ["MODELS", "FeatureModel", "batched_forward", "build_model"]


def build_model(cfg, input_shape: tuple[int, ...], num_classes: int):  # cfg: largelr.config.ModelConfig
    """Build the model a ModelConfig names for the given input shape and number of classes."""
    return MODELS.get(cfg.name)(input_shape=tuple(input_shape), num_classes=num_classes, **cfg.kwargs)

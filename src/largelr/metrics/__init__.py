"""Metrics, one module per family. ``METRICS`` is filled on first use by importing every module of this package
(and the plugins'): adding a metric is adding a module. History metrics (``when="eval"``: ``accuracy``,
``dynamics``) are run by the training loop at every evaluation."""

from __future__ import annotations

from largelr.metrics.base import (
    METRIC_SETS,
    METRICS,
    Key,
    SmallGroups,
    has_regions,
    history_metric_names,
    key_for,
    key_info,
    plan_metrics,
    resolve_metric_names,
    scalar_items,
)

__all__ = [
    "METRICS",
    "METRIC_SETS",
    "Key",
    "SmallGroups",
    "has_regions",
    "history_metric_names",
    "key_for",
    "key_info",
    "plan_metrics",
    "resolve_metric_names",
    "scalar_items",
]

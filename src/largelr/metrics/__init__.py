"""Metrics. Importing this package fills the METRICS registry (``dynamics`` is a helper, not a metric)."""

from __future__ import annotations

from largelr.metrics import (  # noqa: F401  (register metrics)
    attribution,
    compressibility,
    counterfactual,
    lowrank,
    probes,
    representation,
    robustness,
    selectivity,
    sharpness,
    structured,
    vulnerability,
)
from largelr.metrics.base import (
    METRIC_SETS,
    METRICS,
    Key,
    SmallGroups,
    has_regions,
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
    "key_for",
    "key_info",
    "plan_metrics",
    "resolve_metric_names",
    "scalar_items",
]

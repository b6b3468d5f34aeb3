"""Metrics. Importing this package fills the METRICS registry."""

from __future__ import annotations

from largelr.metrics import compressibility, representation, robustness  # noqa: F401  (register metrics)
from largelr.metrics.base import METRIC_SETS, METRICS, resolve_metric_names, scalar_items

__all__ = ["METRICS", "METRIC_SETS", "resolve_metric_names", "scalar_items"]

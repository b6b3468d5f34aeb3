"""The metric registry and named metric sets.

A metric is registered under a name and called as ``fn(ctx) -> dict[str, value]`` where ``ctx`` is
an ``largelr.evaluate.EvalContext``. Keys follow ``split/metric`` (``test/acc_bc``) or
``weights/metric`` for properties of the weights alone. Scalar values become table columns;
lists/dicts (curves, matrices) are kept in ``result.json``.
"""

from __future__ import annotations

from typing import Any

from largelr.registry import Registry

METRICS: Registry = Registry("metric")

# Named sets usable in eval.metrics. "full" is every registered metric.
METRIC_SETS: dict[str, tuple[str, ...]] = {
    "default": ("robustness", "compressibility", "prune_curve", "activation_sparsity", "class_separation"),
}


def resolve_metric_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """Expand set names ("default", "full") into metric names, keeping order and dropping repeats."""
    out: list[str] = []
    for name in names:
        if name == "full":
            expanded: tuple[str, ...] | list[str] = METRICS.names()
        elif name in METRIC_SETS:
            expanded = METRIC_SETS[name]
        else:
            METRICS.get(name)  # raises ConfigError with suggestions
            expanded = (name,)
        out += [n for n in expanded if n not in out]
    return out


def scalar_items(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar (table-able) entries of a metrics dict."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

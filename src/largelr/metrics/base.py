"""The metric registry, named metric sets, and the check of what a metric needs from the dataset.

A metric is registered under a name and called as ``fn(ctx) -> dict[str, value]`` where ``ctx`` is
an ``largelr.evaluate.EvalContext``. Keys follow ``split/metric`` (``test/acc_bc``) or
``weights/metric`` for properties of the weights alone. Scalar values become table columns;
lists/dicts (curves, matrices, maps) are kept in ``result.json``. A metric registered with
``when="eval"`` is a history metric instead: the training loop runs every one of them at each
evaluation (``history_metric_names``) and its keys go to ``history.jsonl``, never to ``eval.metrics``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from largelr.errors import ConfigError, UserError
from largelr.registry import Registry
from largelr.specs import MetricSpec

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

METRICS: Registry = Registry("metric", MetricSpec, package="largelr.metrics")


@dataclass(frozen=True)
class SmallGroups:
    """How to judge a key whose value rests on too few test samples per group.

    Attributes:
        size_key: the per-run key holding the size of the smallest group the value rests on.
        min_size: fewer samples than this in that group: verdicts judge ``use`` instead (and still show the key).
        use: the key verdicts use in its place.
    """

    size_key: str
    min_size: int
    use: str


@dataclass(frozen=True)
class Key:
    """What one metric key means, declared where the metric is registered:
    ``@METRICS.register("robustness", keys={"test/acc": Key("test accuracy", "higher", headline=True), ...})``.

    Attributes:
        label: the human name shown in reports.
        desirable: "higher" or "lower" when the paper says which direction is desirable; None when no
            direction is desirable (such a key gets no verdict, never a default "higher").
        headline: one of the paper's headline properties (the normalised overlay, claim verdicts).
        property: the paper's property family it measures: "robustness", "compressibility",
            "core_util", "class_sep", "act_sparsity"; None for a diagnostic (e.g. a biased-split
            number or an intermediate). Reports analyse the keys with a property family; every key
            keeps its label and direction in ``runs.csv`` and for ``key_for``.

        sesoi: the smallest effect of interest, in the key's units: a change across a swept range smaller
            than this is "no effect worth the name" (``largelr.report.stats``, the equivalence test); None:
            no equivalence test, so a verdict on this key is never "no effect".
        small_groups: for a key computed on groups of test samples (worst-group accuracy), what verdicts
            use when the smallest group is too small (``SmallGroups``); None otherwise.

    A key may be declared by pattern: ``{i}`` stands for a layer index, as in
    ``"weights/comp_layer{i}"``.
    """

    label: str
    desirable: Literal["higher", "lower"] | None = None
    headline: bool = False
    property: str | None = None
    sesoi: float | None = None
    small_groups: SmallGroups | None = None


def key_info() -> dict[str, Key]:
    """Every result key (``result.json``, a run's row in ``runs.csv``) an end-of-run metric declares, in name
    order of the metrics. History metrics' keys (``when="eval"``) are not result keys and are left out."""
    out: dict[str, Key] = {}
    for name in METRICS.names():
        if METRICS.spec(name).when == "end":
            out.update(METRICS.spec(name).keys)
    return out


def history_metric_names() -> list[str]:
    """The metrics the training loop runs at every evaluation (registered with ``when="eval"``), in name order:
    the order of their keys in a history row."""
    return [n for n in METRICS.names() if METRICS.spec(n).when == "eval"]


def key_for(key: str) -> Key | None:
    """The declaration of ``key`` (exact, else the first ``{i}`` pattern that matches); None if undeclared.

    >>> key_for("weights/comp").desirable
    'higher'
    >>> key_for("weights/comp_layer3").label
    'comp_κ of layer i (mean over rows)'
    >>> key_for("no/such_key") is None
    True
    """
    info = key_info()
    if key in info:
        return info[key]
    for name, k in info.items():
        if "{i}" in name and re.fullmatch(re.escape(name).replace(re.escape("{i}"), r"\d+"), key):
            return k
    return None


# Named sets usable in eval.metrics. "full" is every registered metric (it adds DFR, the per-layer
# and structured pruning curves and the IG/Saliency attributions). Budgets, measured by
# benchmarks/eval_cost.py on the quickstart run (MLP, Double MNIST, 10k samples, 3000 steps):
# "default" <= 20% and "full" <= 50% of the training time.
METRIC_SETS: dict[str, tuple[str, ...]] = {
    "default": (
        "robustness",
        "compressibility",
        "prune_curve",
        "activation_sparsity",
        "class_separation",
        "attribution",
        "counterfactual",
        "probes",
        "selectivity",
        "low_rank",
        "vulnerability",
    ),
}

REGION_MASKS = ("core", "spurious")


def resolve_metric_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """Expand set names ("default", "full": every end-of-run metric) into metric names, keeping order and
    dropping repeats. A history metric (``when="eval"``) is refused: it runs at every evaluation anyway."""
    from largelr import catalog  # the names as declared in the source: no torch

    out: list[str] = []
    for name in names:
        if name == "full":
            expanded: tuple[str, ...] | list[str] = [
                n for n in catalog.names("METRICS") if catalog.lookup("METRICS", n).field("when") == "end"
            ]
        elif name in METRIC_SETS:
            expanded = METRIC_SETS[name]
        else:
            if catalog.lookup("METRICS", name).field("when") != "end":  # lookup raises ConfigError with suggestions
                raise ConfigError(
                    f"metric {name!r} is a history metric: the training loop records it at every evaluation "
                    "(history.jsonl); remove it from eval.metrics"
                )
            expanded = (name,)
        out += [n for n in expanded if n not in out]
    return out


def has_regions(data: Any) -> bool:
    """Whether the dataset's test split defines the core and spurious region masks."""
    masks = data.splits["test"].masks
    return all(k in masks and masks[k].numel() > 0 for k in REGION_MASKS)


def plan_metrics(names: tuple[str, ...] | list[str], data: Any) -> list[str]:
    """The metrics to run for ``eval.metrics`` on ``data``: sets expanded, requirements checked.

    A metric that needs region masks on a dataset without them, or whose registration declares an
    ``applies_to(data)`` predicate that is false for this dataset (with ``applies_doc`` saying where
    it applies), is skipped with a warning when it came from a set ("default", "full"), so sets work
    on every dataset, but raises ``UserError`` when the user named it explicitly, since then the user
    asked for a number that cannot exist. Call this
    right after building the dataset to fail before training rather than after.

    Args:
        names: the ``eval.metrics`` entries (metric names and set names).
        data: the ``SpuriousDataset`` the metrics will run on.
    """
    explicit = {n for n in names if n != "full" and n not in METRIC_SETS}
    regions = has_regions(data)
    out = []
    for name in resolve_metric_names(names):
        if METRICS.spec(name).needs_regions and not regions:
            msg = (
                f"dataset {data.name!r} defines no core/spurious regions (test split masks "
                f"{list(REGION_MASKS)}), which metric {name!r} needs"
            )
            if name in explicit:
                needing = [n for n in METRICS.names() if METRICS.spec(n).needs_regions]
                raise UserError(f"{msg}; remove it from eval.metrics (metrics needing regions: {', '.join(needing)})")
            log.warning("%s; skipping it", msg)
            continue
        spec = METRICS.spec(name)
        if spec.applies_to is not None and not spec.applies_to(data):
            msg = f"metric {name!r} does not apply to dataset {data.name!r} (it applies to {spec.applies_doc})"
            if name in explicit:
                raise UserError(f"{msg}; remove it from eval.metrics")
            log.info("%s; skipping it", msg)
            continue
        out.append(name)
    return out


def scalar_items(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar (table-able) entries of a metrics dict."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

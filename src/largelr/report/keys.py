"""Which metric keys a report analyses, read from the metrics' own declarations (``largelr.metrics.Key``).

A key is analysed (Spearman table, per-LR table, one figure) when its metric declares it with a
property family; the headline keys also go into the normalised overlay and the groups table. Keys
no metric declares stay in ``runs.csv`` and get no verdict.
"""

from __future__ import annotations

from collections.abc import Iterable

from largelr.metrics import key_for, key_info

LR = "cfg.optim.lr"  # the swept axis: the learning rate's column in runs.csv

# the paper's order of the property families (paper-spec section 5); reports list keys in this order
FAMILIES = ("robustness", "compressibility", "core_util", "class_sep", "act_sparsity")


def reported(columns: Iterable[str], headline: bool = False) -> dict[str, str]:
    """key -> label of the declared property keys (only headline ones if ``headline``) present in
    ``columns``: by property family in the paper's order (``FAMILIES``; others after), then in the
    metrics' declaration order. Patterns such as ``..._layer{i}`` are never listed."""
    cols = set(columns)
    keys = [
        (k, info)
        for k, info in key_info().items()
        if k in cols and info.property is not None and (info.headline or not headline)
    ]
    rank = {f: i for i, f in enumerate(FAMILIES)}
    keys.sort(key=lambda item: rank.get(item[1].property, len(FAMILIES)))  # stable: declaration order within
    return {k: info.label for k, info in keys}


def desirable(key: str) -> str | None:
    """ "higher" or "lower" as the key's metric declares; None when undeclared or no direction is desirable."""
    info = key_for(key)
    return info.desirable if info else None


def declared_directions() -> dict[str, str | None]:
    """Metric key -> desirable direction ("higher", "lower", or None: no verdict is given for such a key)."""
    return {k: v.desirable for k, v in key_info().items()}


def declared_labels() -> dict[str, str]:
    """Metric key -> human label, as the metrics declare them."""
    return {k: v.label for k, v in key_info().items()}

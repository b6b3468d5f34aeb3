"""Split a study into groups of runs that share every config value except the swept axis and the seeds.

Every statistic of a report is computed within one group (paper-spec section 6): pooling runs that
differ in another setting (dataset, rho, model, optimizer, a knob) can reverse the sign of a
correlation (Simpson's paradox). Pure: DataFrame in, groups out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from largelr.report.keys import LR

SEED_PREFIX = "cfg.seeds."


@dataclass(frozen=True)
class Group:
    """Runs sharing every setting but ``axis`` and the seeds.

    Attributes:
        key: the config columns that differ between the study's groups, with this group's values
            (empty when the study has one group).
        label: ``key`` as text, e.g. ``"data.rho=0.95, model.name=mlp"`` (``"all runs"`` if empty),
            leaving out settings this group's runs do not have (NaN: a keyword only another model
            takes), and whole floats written as integers (``depth=3``, not ``3.0``).
        df: the group's rows.
    """

    key: dict[str, Any]
    label: str
    df: pd.DataFrame


def varying_settings(df: pd.DataFrame, axis: str) -> list[str]:
    """The ``cfg.*`` columns other than ``axis`` and the seeds that take more than one value in ``df``."""
    cols = [c for c in df.columns if c.startswith("cfg.") and c != axis and not c.startswith(SEED_PREFIX)]
    return [c for c in cols if df[c].map(repr).nunique() > 1]


def split_groups(df: pd.DataFrame, axis: str = LR) -> list[Group]:
    """One ``Group`` per combination of the varying settings (values compared by ``repr``, so lists,
    dicts and None group correctly), in order of first appearance.

    >>> d = pd.DataFrame({"cfg.optim.lr": [0.1, 0.2, 0.1], "cfg.data.rho": [0.9, 0.9, 0.99],
    ...                   "cfg.seeds.init": [0, 0, 1]})
    >>> [(g.label, len(g.df)) for g in split_groups(d)]
    [('data.rho=0.9', 2), ('data.rho=0.99', 1)]
    >>> m = pd.DataFrame({"cfg.optim.lr": [0.1, 0.1], "cfg.model.name": ["mlp", "cnn"],
    ...                   "cfg.model.kwargs.depth": [float("nan"), 3.0]})
    >>> [g.label for g in split_groups(m)]
    ['model.name=mlp', 'model.name=cnn, model.kwargs.depth=3']
    """
    cols = varying_settings(df, axis)
    if not cols:
        return [Group({}, "all runs", df)]
    keys = df[cols].map(repr).apply(tuple, axis=1)
    groups = []
    for k in dict.fromkeys(keys):
        sub = df[keys == k]
        key = {c: sub[c].iloc[0] for c in cols}
        label = ", ".join(f"{c.removeprefix('cfg.')}={_text(v)}" for c, v in key.items() if not _missing(v))
        label = label or ", ".join(f"{c.removeprefix('cfg.')} unset" for c in key)
        groups.append(Group(key, label, sub))
    return groups


def _missing(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _text(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

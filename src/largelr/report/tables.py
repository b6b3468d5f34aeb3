"""DataFrame -> tables: per-LR summaries and rank correlations. Pure: no file I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from largelr.report.groups import Group
from largelr.report.keys import desirable
from largelr.report.verdicts import ALPHA

LR = "cfg.optim.lr"


def spearman_table(df: pd.DataFrame, properties: dict[str, str], x: str = LR) -> pd.DataFrame:
    """Spearman rank correlation of ``x`` with each property over runs with status ok.

    Call it on ONE group of runs (``largelr.report.groups.split_groups``): pooled over settings a
    correlation can change sign.

    Returns one row per property: property, label, spearman_rho, p_value, n (runs with a finite
    value), desirable (the direction the key's metric declares desirable, "higher" or "lower", None
    when undeclared or none is) and as_paper (True when rho has the desirable sign with p < 0.05,
    False otherwise, None when there is no desirable direction: no verdict); the level is the verdicts'
    ``ALPHA``.
    """
    ok = df[df["status"] == "ok"]
    rows = []
    for key, label in properties.items():
        sub = ok[[x, key]].dropna() if key in ok else ok.iloc[0:0]
        if len(sub) >= 3 and sub[x].nunique() > 1 and sub[key].nunique() > 1:
            res = stats.spearmanr(sub[x], sub[key])
            rho, p = float(res.statistic), float(res.pvalue)
        else:
            rho, p = float("nan"), float("nan")
        want = desirable(key)
        verdict = None
        if want is not None:
            sign = 1 if want == "higher" else -1
            verdict = bool(math.isfinite(rho) and rho * sign > 0 and p < ALPHA)
        rows.append(
            {
                "property": key,
                "label": label,
                "spearman_rho": rho,
                "p_value": p,
                "n": len(sub),
                "desirable": want,
                "as_paper": verdict,
            }
        )
    return pd.DataFrame(rows)


def rho_cell(rho: float, p: float, n: int, verdict: bool | None) -> str:
    """``+0.88 (p=0.001, n=12) ✓``: rho with its sign, p, n; ✓ when as the paper, ✗ when significant
    the other way, nothing without a direction; a dash when rho is undefined."""
    if not math.isfinite(rho):
        return f"– (n={n})"
    mark = ""
    if verdict:
        mark = " ✓"
    elif verdict is False and p < ALPHA:
        mark = " ✗"
    return f"{rho:+.2f} (p={p:.2g}, n={n}){mark}"


def groups_table(
    groups: list[Group], properties: dict[str, str], shown: Iterable[str] | None = None, x: str = LR
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups x properties: the Spearman rho of ``x`` with each property within each group.

    Returns (display table: one row per group, one ``rho_cell`` column per property label of the
    keys in ``shown``, default all; long table: group, property, label, spearman_rho, p_value, n,
    desirable, as_paper for every property).
    """
    show = set(properties if shown is None else shown)
    display, long = [], []
    for g in groups:
        sp = spearman_table(g.df, properties, x)
        row: dict[str, object] = {"group": g.label, "runs": len(g.df)}
        for r in sp.itertuples(index=False):
            if r.property in show:
                row[r.label] = rho_cell(r.spearman_rho, r.p_value, r.n, r.as_paper)
            long.append({"group": g.label, **r._asdict()})
        display.append(row)
    return pd.DataFrame(display), pd.DataFrame(long)


def convergence_table(df: pd.DataFrame, x: str = LR) -> pd.DataFrame:
    """Per value of ``x``: runs, how many converged, and the median/min/max step at which they did.

    A converged run stops at its convergence check, so its ``steps`` is the step it converged at.
    """
    rows = []
    for value, g in df.groupby(x):
        steps = g.loc[g["converged"].astype(bool), "steps"].dropna()
        rows.append(
            {
                x: value,
                "runs": len(g),
                "converged": len(steps),
                "step median": float(steps.median()) if len(steps) else float("nan"),
                "step min": float(steps.min()) if len(steps) else float("nan"),
                "step max": float(steps.max()) if len(steps) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def per_lr_summary(df: pd.DataFrame, properties: dict[str, str], x: str = LR) -> pd.DataFrame:
    """Mean, std and n of each property per value of ``x`` over ok runs, plus run counts by status."""
    rows = []
    for value, g in df.groupby(x):
        ok = g[g["status"] == "ok"]
        row: dict[str, object] = {x: value, "runs": len(g)}
        for status in ("ok", "failed", "diverged"):
            row[status] = int((g["status"] == status).sum())
        for key in properties:
            vals = ok[key].dropna() if key in ok else pd.Series(dtype=float)
            row[f"{key} mean"] = float(vals.mean()) if len(vals) else float("nan")
            row[f"{key} std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
            row[f"{key} n"] = len(vals)
        rows.append(row)
    return pd.DataFrame(rows)


def format_mean(mean: float, std: float, n: int) -> str:
    """``0.912 ± 0.004 (n=3)``; a dash when there is no value."""
    if n == 0 or not math.isfinite(mean):
        return "–"
    spread = f" ± {std:.3f}" if math.isfinite(std) else ""
    return f"{mean:.3f}{spread} (n={n})"


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency)."""

    def cell(v: object) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return "–" if not np.isfinite(v) else f"{v:.4g}"
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])

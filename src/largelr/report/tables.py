"""DataFrame -> tables: per-LR summaries and rank correlations. Pure: no file I/O."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from largelr.report.properties import direction

LR = "cfg.optim.lr"


def spearman_table(df: pd.DataFrame, properties: dict[str, str], x: str = LR) -> pd.DataFrame:
    """Spearman rank correlation of ``x`` with each property over runs with status ok.

    Returns one row per property: property, label, spearman_rho, p_value, n (runs with a finite
    value), desirable (the paper's desirable direction, "higher" or "lower") and as_paper (True
    when rho has the desirable sign with p < 0.05).
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
        sign = direction(key)
        rows.append(
            {
                "property": key,
                "label": label,
                "spearman_rho": rho,
                "p_value": p,
                "n": len(sub),
                "desirable": "higher" if sign > 0 else "lower",
                "as_paper": bool(math.isfinite(rho) and rho * sign > 0 and p < 0.05),
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
        if isinstance(v, float):
            return "–" if not np.isfinite(v) else f"{v:.4g}"
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])

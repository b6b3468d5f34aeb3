"""DataFrame -> tables: per-LR summaries and trend tests. Pure: no file I/O.

Every statistic comes from ``largelr.report.stats`` through ``largelr.report.verdicts.evaluate_claims``: one
table is one Holm family.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from largelr.report.groups import Group
from largelr.report.keys import LR, desirable
from largelr.report.stats import FAILS, HOLDS, fmt_p
from largelr.report.verdicts import Check, Claim, evaluate_claims


def trend_tests(groups: list[Group], properties: dict[str, str], x: str = LR) -> pd.DataFrame:
    """The trend test of ``x`` with each property within each group, all one Holm family.

    Returns one row per (group, property): group, property, label, rho (ρ̄, the mean within-seed Spearman),
    change, ci_low, ci_high (the change across the range of x and its 95% interval, in the property's units),
    p_value, p_adj, n, desirable (the direction the key's metric declares, None when it declares none),
    verdict (holds / does not hold / inconclusive for a key with a direction, None otherwise), why, as_paper
    (True when the test holds, False otherwise, None without a direction). Keys without a direction are
    described, not tested: they are not in the family.
    """
    triples = [(g.label, g.df, Check(x, k, desirable(k))) for g in groups for k in properties]  # type: ignore[arg-type]
    claim = Claim("table", "", (), checks=lambda _: triples)
    tests = evaluate_claims(pd.DataFrame({"status": []}), [claim]) if triples else pd.DataFrame()
    rows = []
    for (label_g, _, check), t in zip(triples, tests.to_dict("records")):
        want = desirable(check.y)
        rows.append(
            {
                "group": label_g,
                "property": check.y,
                "label": properties[check.y],
                "rho": t["rho"],
                "change": t["change"],
                "ci_low": t["ci_low"],
                "ci_high": t["ci_high"],
                "p_value": t["p"],
                "p_adj": t["p_adj"],
                "n": t["n"],
                "desirable": want,
                "verdict": t["verdict"] if want else None,
                "why": t["why"] if want else "",
                "as_paper": (t["verdict"] == HOLDS) if want else None,
            }
        )
    return pd.DataFrame(rows)


def spearman_table(df: pd.DataFrame, properties: dict[str, str], x: str = LR) -> pd.DataFrame:
    """``trend_tests`` of one group of runs (``largelr.report.groups.split_groups``: pooled over settings a
    correlation can change sign), without the group column."""
    out = trend_tests([Group({}, "all runs", df)], properties, x)
    return out.drop(columns="group") if len(out) else out


def rho_cell(rho: float, p_adj: float, n: int, verdict: str | None) -> str:
    """``+0.88 (p_adj=0.001, n=12) ✓``: ρ̄ with its sign, the adjusted p, n; ✓ when the test holds, ✗ when it
    does not hold, nothing when inconclusive or without a direction; a dash when ρ̄ is undefined."""
    if not math.isfinite(rho):
        return f"– (n={n})"
    mark = " ✓" if verdict == HOLDS else " ✗" if verdict == FAILS else ""
    return f"{rho:+.2f} (p_adj={fmt_p(p_adj)}, n={n}){mark}"


def groups_table(
    groups: list[Group], properties: dict[str, str], shown: Iterable[str] | None = None, x: str = LR
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups x properties: the trend test of ``x`` with each property within each group (one Holm family).

    Returns (display table: one row per group, one ``rho_cell`` column per property label of the keys in
    ``shown``, default all; long table: ``trend_tests``).
    """
    show = set(properties if shown is None else shown)
    long = trend_tests(groups, properties, x)
    display = []
    for g in groups:
        row: dict[str, object] = {"group": g.label, "runs": len(g.df)}
        for r in long[long["group"] == g.label].itertuples(index=False) if len(long) else []:
            if r.property in show:
                row[r.label] = rho_cell(r.rho, r.p_adj, r.n, r.verdict)
        display.append(row)
    return pd.DataFrame(display), long


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
    stats_cols = [f"{key} {what}" for key in properties for what in ("mean", "std", "n")]
    return pd.DataFrame(rows, columns=[x, "runs", "ok", "failed", "diverged", *stats_cols])  # columns even if empty


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

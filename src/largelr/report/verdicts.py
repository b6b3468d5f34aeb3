"""Claim -> rule -> verdict, with the statistic behind it. Pure: DataFrame in, DataFrame out.

A claim of the paper (paper-spec section 1) is checked by one or more *tests*. A test is a
Spearman rank correlation between a column ``x`` (the learning rate, a knob, or a metric) and a
metric ``y`` over the ok runs of one group (``largelr.report.groups.split_groups``: runs sharing every
setting but the claim's axis and the seeds), optionally a partial Spearman controlling for a third
column. ``RULE`` states how a verdict follows from the statistics; it is printed once above every
verdict table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from largelr.report.groups import split_groups

ALPHA = 0.05  # significance level of every test
MIN_N = 5  # fewer ok runs with a value than this: inconclusive
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"

RULE = (
    f"Each test is a Spearman rank correlation ρ over the ok runs of one group (runs sharing every setting "
    f"but the swept axis and the seeds; a partial Spearman, controlling for the named column, where marked "
    f"'|'). A test holds when ρ has the claim's sign with p < {ALPHA}, does not hold when ρ has the opposite "
    f"sign with p < {ALPHA}, and is inconclusive otherwise, or when the group has fewer than {MIN_N} runs "
    f"with values or a single value of x. A claim holds in a group when every one of its tests holds, does "
    f"not hold when any test does not hold, and is inconclusive otherwise."
)

AXIS_LABELS = {"cfg.optim.lr": "LR", "cfg.train.bc_weight": "λ"}


@dataclass(frozen=True)
class Check:
    """One statistical test of a claim.

    Attributes:
        x: the column y should move with (e.g. ``"cfg.optim.lr"``).
        y: the metric column.
        expect: "higher": y rises with x (ρ > 0 wanted); "lower": y falls with x (ρ < 0 wanted).
        control: a column to partial out (partial Spearman), or None.
    """

    x: str
    y: str
    expect: Literal["higher", "lower"]
    control: str | None = None


@dataclass(frozen=True)
class Claim:
    """A claim and the tests that check it.

    Attributes:
        id: short id shown in tables (e.g. "1", "6b").
        text: the claim in one sentence.
        tests: every test must hold for the claim to hold.
        axis: the swept column; groups are every other setting (seeds aside).
        query: optional ``DataFrame.query`` expression selecting the runs this claim is about.
        evaluate: for a claim that is not one Spearman test per group (claim 3 compares knobs): the claim's
            runs -> its test rows (the columns of ``evaluate_claims`` less claim and claim_text, each row
            with its own verdict); ``tests`` is then empty and ``combine`` still gives the claim's verdict.
        rule: that claim's own rule in words (printed once, beside ``RULE``).
    """

    id: str
    text: str
    tests: tuple[Check, ...]
    axis: str = "cfg.optim.lr"
    query: str | None = None
    evaluate: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    rule: str = ""


def rises_with(axis: str, keys: Iterable[str], desirable: Mapping[str, str | None]) -> tuple[Check, ...]:
    """Tests "each key moves in its desirable direction as ``axis`` rises"; keys without a direction are
    skipped (no verdict is ever given for a key the paper gives no direction for)."""
    return tuple(Check(axis, k, desirable[k]) for k in keys if desirable.get(k) in ("higher", "lower"))  # type: ignore[arg-type]


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """Spearman correlation of x and y controlling for z: the Pearson correlation of the residuals of
    rank(x) and rank(y) regressed on rank(z), with a t-test on n - 3 degrees of freedom."""
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    if np.allclose(res_x, 0) or np.allclose(res_y, 0):
        return float("nan"), float("nan")
    r = float(np.corrcoef(res_x, res_y)[0, 1])
    dof = len(x) - 3
    if dof < 1:
        return r, float("nan")
    if abs(r) >= 1.0:
        return r, 0.0
    t = r * math.sqrt(dof / (1.0 - r * r))
    return r, float(2 * stats.t.sf(abs(t), dof))


def run_test(df: pd.DataFrame, test: Check) -> dict[str, object]:
    """ρ, p, n and the verdict of one test on one group's rows (ok runs only)."""
    cols = [test.x, test.y] + ([test.control] if test.control else [])
    ok = df[df["status"] == "ok"] if "status" in df else df
    missing = [c for c in cols if c not in ok]
    sub = ok.iloc[0:0] if missing else ok[cols].apply(pd.to_numeric, errors="coerce").dropna()
    sub = sub[np.isfinite(sub).all(axis=1)] if len(sub) else sub
    n = len(sub)
    rho = p = float("nan")
    if n >= 3 and sub[test.x].nunique() > 1 and sub[test.y].nunique() > 1:
        if test.control:
            rho, p = partial_spearman(sub[test.x].to_numpy(), sub[test.y].to_numpy(), sub[test.control].to_numpy())
        else:
            res = stats.spearmanr(sub[test.x], sub[test.y])
            rho, p = float(res.statistic), float(res.pvalue)
    sign = 1 if test.expect == "higher" else -1
    if missing:
        verdict, why = INCONCLUSIVE, f"not measured: {', '.join(missing)}"
    elif n < MIN_N or sub[test.x].nunique() < 2:
        verdict, why = INCONCLUSIVE, "too few runs"
    elif sub[test.y].nunique() < 2:
        verdict, why = INCONCLUSIVE, "y is constant"
    elif not math.isfinite(rho) or not math.isfinite(p) or p >= ALPHA:
        verdict, why = INCONCLUSIVE, "not significant"
    else:
        verdict, why = (HOLDS, "") if rho * sign > 0 else (FAILS, "opposite sign")
    return {"rho": rho, "p": p, "n": n, "verdict": verdict, "why": why}


def statistic_text(test: Check, r: Mapping[str, object], labels: Mapping[str, str]) -> str:
    """``ρ(LR, acc_BC) = 0.83, p = 0.001, n = 15`` (``|`` marks a controlled column)."""

    def name(c: str) -> str:
        return labels.get(c) or AXIS_LABELS.get(c) or c.removeprefix("cfg.")

    inner = f"{name(test.x)}, {name(test.y)}" + (f" | {name(test.control)}" if test.control else "")
    rho, p = float(r["rho"]), float(r["p"])  # type: ignore[arg-type]
    if not math.isfinite(rho):
        return f"ρ({inner}) undefined, n = {r['n']}"
    if not math.isfinite(p):  # rho without a p-value (too few runs for one)
        return f"ρ({inner}) = {rho:.2f}, p = n/a, n = {r['n']}"
    p_text = f"= {p:.2g}" if p >= 0.001 else f"= {p:.1e}" if p >= 1e-15 else "< 1e-15"
    return f"ρ({inner}) = {rho:.2f}, p {p_text}, n = {r['n']}"


def evaluate_claims(df: pd.DataFrame, claims: Iterable[Claim], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (claim, group, test): claim, claim_text, group, x, y, expect, rho, p, n, verdict, why,
    statistic. Groups come from ``split_groups`` on the claim's runs with the claim's axis."""
    labels = labels or {}
    rows = []
    for claim in claims:
        sub = df.query(claim.query) if claim.query else df
        if claim.evaluate is not None:
            rows += [{"claim": claim.id, "claim_text": claim.text, **r} for r in claim.evaluate(sub).to_dict("records")]
            continue
        groups = split_groups(sub, axis=claim.axis) if len(sub) else []
        for g in groups:
            for test in claim.tests:
                r = run_test(g.df, test)
                rows.append(
                    {
                        "claim": claim.id,
                        "claim_text": claim.text,
                        "group": g.label,
                        "x": test.x,
                        "y": test.y,
                        "expect": test.expect,
                        **r,
                        "statistic": statistic_text(test, r, labels),
                    }
                )
    cols = ["claim", "claim_text", "group", "x", "y", "expect", "rho", "p", "n", "verdict", "why", "statistic"]
    return pd.DataFrame(rows, columns=cols)


def combine(verdicts: Iterable[str]) -> str:
    """A claim's verdict from its tests' verdicts (see ``RULE``)."""
    vs = list(verdicts)
    if vs and all(v == HOLDS for v in vs):
        return HOLDS
    if FAILS in vs:
        return FAILS
    return INCONCLUSIVE


def claim_table(tests: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, group): claim, setting, verdict and the statistics behind it, in claim order."""
    rows = []
    for (claim, group), g in tests.groupby(["claim", "group"], sort=False):
        rows.append(
            {
                "claim": claim,
                "statement": g["claim_text"].iloc[0],
                "setting": group,
                "verdict": combine(g["verdict"]),
                "evidence": "; ".join(
                    s + ("" if v == HOLDS else f" ({v}{': ' + w if w and v != FAILS else ''})")
                    for s, v, w in zip(g["statistic"], g["verdict"], g["why"])
                ),
            }
        )
    return pd.DataFrame(rows, columns=["claim", "statement", "setting", "verdict", "evidence"])

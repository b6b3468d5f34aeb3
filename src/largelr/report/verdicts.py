"""Claim -> tests -> verdict, with the statistics behind each. Pure: DataFrame in, DataFrame out.

A claim of the paper (paper-spec section 1) is checked by one or more *tests*. A test is a trend test
(``largelr.report.stats.trend_test``) of a metric ``y`` against a column ``x`` (the learning rate, a knob, or
another metric) over the ok runs of one group (``largelr.report.groups.split_groups``: runs sharing every
setting but the claim's axis and the seeds), within seed blocks, or within strata of a controlled column.
Every test of one ``evaluate_claims`` call is one family for the Holm correction. ``RULE`` says how a
verdict follows; reports print it below the verdict table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from largelr.report import stats
from largelr.report.groups import SEED_PREFIX, split_groups
from largelr.report.keys import LR
from largelr.report.stats import ALPHA, FAILS, HOLDS, INCONCLUSIVE, fmt_p

__all__ = ["ALPHA", "FAILS", "HOLDS", "INCONCLUSIVE", "RULE", "Check", "Claim", "claim_table", "evaluate_claims"]

BUDGET_SHARE = 0.5  # fewer converged runs than this share: the verdict is marked "at a fixed budget"

RULE = (
    "Rule: each test is a trend test of a property against the claim's axis within one setting (runs sharing "
    "everything but the axis and the seeds): ρ̄ is the mean Spearman correlation within seed blocks (within "
    "strata of a controlled column where marked '|'), p is a two-sided exact permutation p within blocks, "
    "Holm-adjusted (adj.) over every test of the report, and Δ the change across the axis's range with a 95% "
    f"bootstrap interval over seed blocks. A test holds when Δ has the claim's sign, adj. p < {ALPHA} and the "
    "interval excludes 0; it does not hold when that is true the other way, or when an equivalence test shows "
    "|Δ| below the property's smallest effect of interest (no effect); otherwise it is inconclusive, "
    f"underpowered when the design cannot reach {ALPHA} at all. A claim holds in a setting when all its tests "
    "hold and does not hold when one does not. 'At a fixed budget': fewer than half of its runs converged. "
    "Details: docs/statistics.md."
)

AXIS_LABELS = {LR: "LR", "cfg.train.bc_weight": "λ"}
TEST_COLUMNS = [
    "claim", "claim_text", "group", "x", "y", "expect", "judged", "rho", "change", "ci_low", "ci_high", "p",
    "p_adj", "p_min_adj", "p_se", "method", "design", "blocks", "n", "runs", "converged", "verdict", "why",
    "statistic", "judged_label", "run_ids",
]  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One test of a claim.

    Attributes:
        x: the column y should move with (e.g. ``"cfg.optim.lr"``).
        y: the metric column.
        expect: "higher": y rises with x; "lower": y falls with x; None: a descriptive test (no direction is
            desirable): its statistics are shown, it gets no verdict and is not in the Holm family.
        control: a column to control for: the test runs within strata of its values (a factor), or None.
    """

    x: str
    y: str
    expect: Literal["higher", "lower"] | None
    control: str | None = None


@dataclass(frozen=True)
class Claim:
    """A claim and the tests that check it.

    Attributes:
        id: short id shown in tables (e.g. "1", "6b").
        text: the claim in one sentence.
        tests: every test must hold for the claim to hold (per group).
        axis: the swept column; groups are every other setting (seeds aside).
        query: optional ``DataFrame.query`` expression selecting the runs this claim is about.
        checks: for a claim that is not "these tests in every group" (claim 3 compares knobs): the claim's runs
            -> (group label, the group's runs, a test) triples; ``tests`` is then empty.
        combine: (the claim's decided test rows of one group) -> (verdict, evidence); None: ``combine``.
        rule: that claim's own rule in words (printed once, beside ``RULE``).
    """

    id: str
    text: str
    tests: tuple[Check, ...]
    axis: str = LR
    query: str | None = None
    checks: Callable[[pd.DataFrame], list[tuple[str, pd.DataFrame, Check]]] | None = None
    combine: Callable[[pd.DataFrame], tuple[str, str]] | None = None
    rule: str = ""


def rises_with(axis: str, keys: Iterable[str], desirable: Mapping[str, str | None]) -> tuple[Check, ...]:
    """Tests "each key moves in its desirable direction as ``axis`` rises"; keys without a direction are
    skipped (no verdict is ever given for a key the paper gives no direction for)."""
    return tuple(Check(axis, k, desirable[k]) for k in keys if desirable.get(k) in ("higher", "lower"))  # type: ignore[arg-type]


def _key(y: str):
    from largelr.metrics import key_for  # the metric registry (imports torch): only when a test runs

    return key_for(y)


def is_log_axis(x: str) -> bool:
    """Effect sizes are per log10 of the learning rate; every other axis is linear."""
    return x in (LR, "knob.lr")


def measure(df: pd.DataFrame, test: Check, sesoi: Mapping[str, float] | None = None) -> dict[str, object]:
    """The unadjusted statistics of one test on one group's runs (ok runs only).

    Worst-group accuracy whose smallest test group is smaller than its declared minimum (``Key.small_groups``)
    is judged by the declared substitute, the raw key's statistic kept in ``note``.
    """
    ok = df[df["status"] == "ok"] if "status" in df else df
    y, note = test.y, ""
    info = _key(test.y)
    small = info.small_groups if info is not None else None
    if small is not None and small.size_key in ok and small.use in ok:
        size = pd.to_numeric(ok[small.size_key], errors="coerce").min()
        note = f"smallest test group: {size:.0f} samples"
        if math.isfinite(size) and size < small.min_size:
            y = small.use
            raw = _trend(ok, Check(test.x, test.y, test.expect, test.control))
            vals = pd.to_numeric(ok[test.y], errors="coerce").dropna()
            raw_text = (
                f"ρ̄ = {raw['rho']:.2f}, p = {fmt_p(float(raw['p']))} (unadjusted)"
                if math.isfinite(float(raw["rho"]))  # type: ignore[arg-type]
                else f"{vals.iloc[0]:.3g} in every run"
                if vals.nunique() == 1
                else "undefined"
            )
            note += f" < {small.min_size}, so judged by {_label(small.use)}; raw {_label(test.y)}: {raw_text}"
    out = _trend(ok, Check(test.x, y, test.expect, test.control))
    delta = (sesoi or {}).get(y)
    if delta is None:
        k = _key(y)
        delta = k.sesoi if k is not None else None
    return {**out, "judged": y, "note": note, "delta": delta}


def _trend(ok: pd.DataFrame, test: Check) -> dict[str, object]:
    cols = [test.x, test.y] + ([test.control] if test.control else [])
    missing = [c for c in cols if c not in ok]
    seeds = [c for c in ok.columns if c.startswith(SEED_PREFIX)]
    sub = ok.iloc[0:0] if missing else ok[cols].apply(pd.to_numeric, errors="coerce")
    keep = np.isfinite(sub.to_numpy(dtype=float)).all(axis=1) if len(sub) else np.zeros(0, bool)
    sub = sub[keep]
    conv = ok["converged"].astype(bool) if "converged" in ok else pd.Series(False, index=ok.index)
    ids = ok["run_id"].astype(str) if "run_id" in ok else pd.Series(ok.index.astype(str), index=ok.index)
    run_ids = " ".join(i + ("*" if c else "") for i, c in zip(ids, conv))  # * = converged; claim_table unites them
    base: dict[str, object] = {"n": len(sub), "runs": len(ok), "converged": int(conv.sum()), "missing": missing,
                               "trend": None, "run_ids": run_ids}  # fmt: skip
    if missing or len(sub) < stats.MIN_RUNS or sub[test.x].nunique() < 2:
        return {**base, "rho": math.nan, "p": math.nan, "design": ""}
    if sub[test.y].nunique() < 2:
        return {**base, "rho": math.nan, "p": math.nan, "design": "", "constant": True}
    x, y = sub[test.x].to_numpy(float), sub[test.y].to_numpy(float)
    if test.control:
        blocks = pd.factorize(sub[test.control])[0]
        design = f"stratified by {_label(test.control)}"
    else:
        keys = list(ok.loc[sub.index, seeds].itertuples(index=False, name=None)) if seeds else [()] * len(sub)
        blocks = stats.seed_blocks(keys, x)
        design = "seed blocks" if len(set(blocks.tolist())) > 1 else "unblocked"
    tr = stats.trend_test(x, y, blocks, log_x=is_log_axis(test.x), design=design)
    return {
        **base,
        "rho": tr.rho,
        "p": tr.p,
        "design": design,
        "trend": tr,
        "blocks_ids": blocks,
        "x_values": x,
        "y_values": y,
    }


def evaluate_claims(
    df: pd.DataFrame,
    claims: Iterable[Claim],
    labels: Mapping[str, str] | None = None,
    sesoi: Mapping[str, float] | None = None,
    alpha: float = ALPHA,
    power: bool = True,
) -> pd.DataFrame:
    """One row per (claim, group, test), every test of every claim one Holm family (``TEST_COLUMNS``).

    Args:
        df: results table (``collect.load_results``, plus any derived columns).
        claims: the claims to test.
        labels: column -> label for the statistic text (metric keys default to their declared labels).
        sesoi: smallest effects of interest for columns no metric declares (e.g. a target's derived columns).
        alpha: the significance level after correction.
        power: say, for a test that is not significant, its power to detect a change of its smallest effect of
            interest (simulated; off for design-only questions such as ``largelr reproduce list``).
    """
    labels = labels or {}
    rows = []
    for claim in claims:
        sub = df.query(claim.query) if claim.query else df
        if claim.checks is not None:
            triples = claim.checks(sub)
        else:
            groups = split_groups(sub, axis=claim.axis) if len(sub) else []
            triples = [(g.label, g.df, t) for g in groups for t in claim.tests]
            triples = triples or [("all runs", sub, t) for t in claim.tests]  # no runs: said, not left out
        for label, gdf, test in triples:
            m = measure(gdf, test, sesoi)
            rows.append({"claim": claim.id, "claim_text": claim.text, "group": label, "test": test, **m})
    in_family = [float(r["p"]) if r["test"].expect else math.nan for r in rows]  # type: ignore[arg-type, union-attr]
    family = int(np.isfinite(in_family).sum())
    p_adj = stats.holm(in_family)
    tost = stats.holm(
        [r["trend"].tost_p(r["delta"]) if r["trend"] is not None and r["test"].expect else math.nan for r in rows]  # type: ignore[union-attr]
    )
    out = []
    for r, pa, ta in zip(rows, p_adj, tost):
        test: Check = r["test"]  # type: ignore[assignment]
        tr: stats.Trend | None = r["trend"]  # type: ignore[assignment]
        p_min_adj = min(1.0, tr.p_min * family) if tr is not None and test.expect else math.nan
        verdict, why = _outcome(r, test, tr, float(pa), p_min_adj, float(ta), family if power else 0, alpha)
        if r["note"]:
            why = f"{why}; {r['note']}" if why else str(r["note"])
        row = {
            "claim": r["claim"], "claim_text": r["claim_text"], "group": r["group"], "x": test.x, "y": test.y,
            "expect": test.expect, "judged": r["judged"], "rho": r["rho"],
            "change": tr.change if tr else math.nan, "ci_low": tr.ci[0] if tr else math.nan,
            "ci_high": tr.ci[1] if tr else math.nan, "p": r["p"], "p_adj": pa, "p_min_adj": p_min_adj,
            "p_se": tr.p_se if tr else math.nan, "method": tr.method if tr else "", "design": r["design"],
            "blocks": tr.blocks if tr else 0, "n": r["n"], "runs": r["runs"], "converged": r["converged"],
            "verdict": verdict, "why": why, "judged_label": _label(str(r["judged"]), labels), "run_ids": r["run_ids"],
        }  # fmt: skip
        row["statistic"] = statistic_text(test, row, {**labels, test.y: row["judged_label"]})
        out.append(row)
    return pd.DataFrame(out, columns=TEST_COLUMNS)


def _outcome(r, test: Check, tr, p_adj: float, p_min_adj: float, tost_adj: float, family: int, alpha: float):
    if test.expect is None:
        return "", "no desirable direction: no verdict"
    if r["missing"]:
        return INCONCLUSIVE, f"not measured: {', '.join(r['missing'])}"
    if r.get("constant"):
        return INCONCLUSIVE, "y is constant"
    if tr is None:
        return INCONCLUSIVE, "too few runs" if r["runs"] else "no ok runs"
    o = stats.decide(tr, test.expect, p_adj, p_min_adj, tost_adj, r["delta"], alpha)
    why = o.reason
    if o.verdict == HOLDS and r["delta"] is not None and abs(tr.change) < r["delta"]:
        why = f"but |Δ| < {r['delta']:g}, below the smallest effect of interest"
    if o.reason == "not significant" and r["delta"] is not None and tr.blocks and family:
        sd = stats.residual_sd(r["x_values"], r["y_values"], r["blocks_ids"], is_log_axis(test.x))
        if math.isfinite(sd):
            pw = stats.power(r["x_values"], r["blocks_ids"], r["delta"] if test.expect == "higher" else -r["delta"],
                             sd, test.expect, family=family, log_x=is_log_axis(test.x))  # fmt: skip
            why = f"not significant (power {pw:.0%} for a change of {r['delta']:g})"
    return o.verdict, why


def _label(col: str, labels: Mapping[str, str] | None = None) -> str:
    if labels and col in labels:
        return labels[col]
    if col in AXIS_LABELS:
        return AXIS_LABELS[col]
    info = _key(col) if "/" in col else None
    return info.label if info is not None else col.removeprefix("cfg.")


def statistic_text(test: Check, r: Mapping[str, object], labels: Mapping[str, str]) -> str:
    """``ρ̄(LR, acc_BC) = 0.92, Δ = +0.121 [+0.080, +0.150], p = 4.6e-06, adj. 2.8e-05 (exact; 3 seed blocks,
    n = 15)`` (``|`` marks a controlled column)."""

    def name(c: str) -> str:
        return _label(c, labels)

    inner = f"{name(test.x)}, {name(test.y)}" + (f" | {name(test.control)}" if test.control else "")
    rho = float(r["rho"])  # type: ignore[arg-type]
    if not math.isfinite(rho):
        return f"ρ̄({inner}) undefined, n = {r['n']}"
    change, lo, hi = (float(r[k]) for k in ("change", "ci_low", "ci_high"))  # type: ignore[arg-type]
    ci = f" [{lo:+.3g}, {hi:+.3g}]" if math.isfinite(lo) else " (no interval)"
    p, pa = float(r["p"]), float(r["p_adj"])  # type: ignore[arg-type]
    method = str(r["method"])
    if method.startswith("Monte"):
        method = f"Monte Carlo, SE {float(r['p_se']):.1g}"  # type: ignore[arg-type]
    blocks = f"{r['blocks']} seed blocks" if r["design"] == "seed blocks" else f"{r['design']}"
    return (
        f"ρ̄({inner}) = {rho:.2f}, Δ = {change:+.3g}{ci}, p = {fmt_p(p)}, adj. {fmt_p(pa)} "
        f"({method}; {blocks}, n = {r['n']})"
    )


def combine(verdicts: Iterable[str]) -> str:
    """A claim's verdict from its tests' verdicts (see ``RULE``)."""
    vs = list(verdicts)
    if vs and all(v == HOLDS for v in vs):
        return HOLDS
    if FAILS in vs:
        return FAILS
    return INCONCLUSIVE


def default_combine(g: pd.DataFrame) -> tuple[str, str]:
    """Verdict and evidence of one claim in one group: the test that decided it first, then every statistic."""
    verdict = combine(g["verdict"])
    if verdict == HOLDS:
        head = f"all {len(g)} tests hold"
    else:
        first = g[g["verdict"] == verdict].iloc[0]
        head = f"decided by {first['judged_label']}: {verdict}" + (f" ({first['why']})" if first["why"] else "")
    rest = "; ".join(
        s + (f" ({w})" if v == HOLDS and w else "" if v == HOLDS else f" ({v}{': ' + w if w else ''})")
        for s, v, w in zip(g["statistic"], g["verdict"], g["why"])
    )
    return verdict, f"{head}. {rest}"


def converged_text(runs: int, converged: int) -> str:
    """``15/15 converged`` or ``at a fixed budget: 0/15 converged`` (fewer than half converged)."""
    text = f"{converged}/{runs} converged"
    return f"at a fixed budget: {text}" if runs and converged < BUDGET_SHARE * runs else text


def claim_table(tests: pd.DataFrame, claims: Iterable[Claim] = ()) -> pd.DataFrame:
    """One row per (claim, group): claim, statement, setting, verdict (with its convergence in the cell),
    outcome (the bare verdict), evidence; in claim order."""
    custom = {c.id: c.combine for c in claims if c.combine is not None}
    rows = []
    for (claim, group), g in tests.groupby(["claim", "group"], sort=False):
        verdict, evidence = custom.get(claim, default_combine)(g)
        ids = set().union(*(str(s).split() for s in g["run_ids"].fillna("")))  # every run the claim's tests read
        runs, conv = len(ids), sum(i.endswith("*") for i in ids)
        rows.append(
            {
                "claim": claim,
                "statement": g["claim_text"].iloc[0],
                "setting": group,
                "verdict": f"{verdict} ({converged_text(runs, conv)})",
                "outcome": verdict,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(rows, columns=["claim", "statement", "setting", "verdict", "outcome", "evidence"])


def terminal_table(table: pd.DataFrame, width: int = 110) -> str:
    """The verdict table for a terminal: claim, setting, verdict, and what decided it, one line per row (cut to
    ``width``), then where the rule is. ``table`` is ``claim_table``'s (or its CSV)."""
    if table.empty:
        return "no verdicts"
    rows = [("claim", "setting", "verdict", "decided by")]
    for r in table.itertuples(index=False):
        head = str(r.evidence).split(". ", 1)[0]
        rows.append((str(r.claim), str(r.setting), str(r.verdict), head))
    w = [min(max(len(row[i]) for row in rows), cap) for i, cap in enumerate((10, 40, 48, 200))]

    def line(row: tuple[str, ...]) -> str:
        cells = [c if len(c) <= w[i] else c[: w[i] - 1] + "…" for i, c in enumerate(row)]
        return "  ".join(c.ljust(w[i]) for i, c in enumerate(cells)).rstrip()[:width]

    out = [line(rows[0]), "  ".join("-" * n for n in w)[:width], *(line(r) for r in rows[1:])]
    return "\n".join([*out, "rule and evidence: the report's verdict table; docs/statistics.md"])

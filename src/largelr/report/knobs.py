"""The knob comparison (paper-spec claim 3): which knobs improve which properties, and how consistently.

For every knob a study varies (``largelr.knobs.KNOBS``), within each group of runs that share every
other setting (``report.groups.split_groups`` with the knob's column as the axis), the trend test of each
property against the knob's regularisation strength (``largelr.report.stats``: within seed blocks, exact p,
the change across the knob's range with its interval), oriented so that a positive value is desirable (the
property's declared direction). The knob comparison's tests are one Holm family. A knob's consistency count
is how many properties it improves (the test holds) and how many it makes worse (the opposite sign holds).
Pure: DataFrame in, tables out; no file I/O (the heat-map is ``plots.knob_heatmap``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from largelr.knobs import KNOBS, Knob, effective_lr
from largelr.metrics.base import Key
from largelr.report.groups import split_groups
from largelr.report.keys import LR
from largelr.report.stats import ALPHA, FAILS, HOLDS, INCONCLUSIVE
from largelr.report.verdicts import Check, Claim, evaluate_claims

SIGNIFICANT = ("improves", "worsens")  # effects whose test holds (one sign or the other), marked * in tables
STRENGTH = "knob."  # prefix of the derived strength column of each knob, e.g. "knob.momentum"


def with_knob_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every knob column present and unset values (NaN, e.g. a kwargs key not given)
    filled with the knob's base value."""
    df = df.copy()
    for knob in KNOBS.values():
        if knob.column not in df:
            df[knob.column] = knob.base
        else:
            df[knob.column] = df[knob.column].where(df[knob.column].notna(), knob.base)
    return df


def varied_knobs(df: pd.DataFrame) -> list[str]:
    """Names of the knobs that take more than one value among the runs with status ok (for a matched knob:
    among the runs on its matched path, ``knob_runs``)."""
    ok = with_knob_defaults(df[df["status"] == "ok"])
    return [name for name, k in KNOBS.items() if knob_runs(ok, k)[k.column].map(repr).nunique() > 1]


def knob_runs(ok: pd.DataFrame, knob: Knob) -> pd.DataFrame:
    """The runs that can belong to ``knob``'s sweep: all of them, or for a knob with ``match`` the runs whose
    matched column sits where the knob puts it (its base value being the study's most common one), that
    column then dropped so it does not split the sweep into groups."""
    if knob.match is None:  # every run but those a matched knob moved off its base (they are not this sweep's)
        off = [_on_path(ok, k) & (ok[k.column] != k.base) for k in KNOBS.values() if k.match is not None]
        return ok[~np.logical_or.reduce(off)] if off and len(ok) else ok
    col = "cfg." + knob.match[0]
    return ok[_on_path(ok, knob)].drop(columns=col) if col in ok else ok.iloc[0:0]


def _on_path(ok: pd.DataFrame, knob: Knob) -> np.ndarray:
    """Which runs have the matched column where the matched ``knob`` puts it (its base: the study's most
    common value of that column)."""
    col, f = "cfg." + knob.match[0], knob.match[1]  # type: ignore[index]
    if col not in ok or not len(ok):
        return np.zeros(len(ok), bool)
    base = float(ok[col].mode().iloc[0])
    want = np.array([f(v, knob.base, base) for v in ok[knob.column]], dtype=float)
    return np.isclose(ok[col].to_numpy(float), want, rtol=1e-5, atol=0)


def effective_text(g: pd.DataFrame) -> str:
    """The range of SGD's effective LR, LR / (1 - momentum), and of LR / batch size over a knob's runs."""
    cols = (LR, "cfg.optim.momentum", "cfg.train.batch_size")
    if not all(c in g for c in cols) or not len(g):
        return ""
    eff, noise = effective_lr(g[cols[0]], g[cols[1]], g[cols[2]])

    def span(v: pd.Series) -> str:
        return f"{v.min():.3g}" if np.isclose(v.min(), v.max()) else f"{v.min():.3g}–{v.max():.3g}"

    return f"LR/(1−β) {span(eff)}, LR/B {span(noise)}"


def strength_axes(effects: pd.DataFrame) -> list[str]:
    """How each knob in ``effects`` orders strength, e.g. ``"batch_size: smaller = stronger"``."""
    out = []
    for name in dict.fromkeys(effects["knob"]):
        s = KNOBS[name].stronger
        how = " < ".join(map(str, s)) if isinstance(s, tuple) else ("larger" if s == "higher" else "smaller")
        out.append(f"{name}: {how}" + (" = stronger" if not isinstance(s, tuple) else ""))
    return out


def knob_checks(df: pd.DataFrame, keys: Mapping[str, Key]) -> list[tuple[str, pd.DataFrame, Check]]:
    """Claim 3's tests: (group of other settings, its runs with the knob's strength column, test) for every
    varied knob x group x property with a direction."""
    ok = with_knob_defaults(df[df["status"] == "ok"])
    props = {k: v for k, v in keys.items() if v.desirable is not None and k in ok}
    out = []
    for name in varied_knobs(df):
        knob: Knob = KNOBS[name]
        for group in split_groups(knob_runs(ok, knob), axis=knob.column):
            g = group.df
            if g[knob.column].map(repr).nunique() < 2:
                continue  # another knob's sweep: this knob sits at one value there
            if knob.match is not None:  # the matched column was dropped to group; put it back for effective_text
                g = ok.loc[g.index]
            g = g.assign(**{STRENGTH + name: g[knob.column].map(knob.strength)})
            label = _other_settings(group.key, knob)
            out += [(label, g, Check(STRENGTH + name, key, info.desirable)) for key, info in props.items()]  # type: ignore[arg-type]
    return out


def knob_tests(df: pd.DataFrame, keys: Mapping[str, Key], alpha: float = ALPHA) -> pd.DataFrame:
    """The knob comparison's tests as one Holm family (``largelr.report.verdicts.evaluate_claims`` rows)."""
    claim = Claim("3", "knob comparison", (), checks=lambda d: knob_checks(d, keys))
    labels = {STRENGTH + n: n for n in KNOBS}
    return evaluate_claims(df, [claim], labels, alpha=alpha)


def knob_effects(df: pd.DataFrame, keys: Mapping[str, Key], alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (knob, group, property): the oriented statistics and the effect.

    Args:
        df: results table (``collect.load_results``); only runs with status ok are used.
        keys: metric key -> ``Key`` (label, desirable direction); keys without a direction or absent
            from ``df`` are skipped.
        alpha: significance level after the Holm correction over these tests.

    Returns:
        Columns knob, group, property, label, rho (mean within-seed Spearman, positive = the property moves in
        its desirable direction as the knob's regularisation strength grows), change and its 95% interval
        (ci_low, ci_high; oriented the same way, in the property's units, across the knob's range), p_value,
        p_adj, n, effect ("improves" or "worsens": the test holds either way; "no effect": the equivalence
        test; "n.s." otherwise), verdict and why (the claim-3 view of the same test). Empty when no knob varies.
    """
    tests = knob_tests(df, keys, alpha)
    cols = ["knob", "group", "property", "label", "rho", "change", "ci_low", "ci_high", "p_value", "p_adj", "n",
            "effect", "verdict", "why"]  # fmt: skip
    if tests.empty:
        return pd.DataFrame(columns=cols)
    sign = tests["expect"].map({"higher": 1.0, "lower": -1.0})
    hi = (tests["ci_high"] * sign).where(sign > 0, tests["ci_low"] * sign)
    lo = (tests["ci_low"] * sign).where(sign > 0, tests["ci_high"] * sign)
    effect = [
        "improves" if v == HOLDS else "worsens" if w == "opposite sign" else "no effect" if v == FAILS else "n.s."
        for v, w in zip(tests["verdict"], tests["why"])
    ]
    out = pd.DataFrame(
        {
            "knob": tests["x"].str.removeprefix(STRENGTH),
            "group": tests["group"],
            "property": tests["y"],
            "label": [keys[k].label for k in tests["y"]],
            "rho": tests["rho"] * sign,
            "change": tests["change"] * sign,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": tests["p"],
            "p_adj": tests["p_adj"],
            "n": tests["n"],
            "effect": effect,
            "verdict": tests["verdict"],
            "why": tests["why"],
        }
    )
    return out[cols]


def _other_settings(key: dict, knob: Knob) -> str:
    """The group's non-knob settings as text (the other knobs sit at base in a one-at-a-time study)."""
    knob_cols = {k.column for k in KNOBS.values()}
    parts = [f"{c.removeprefix('cfg.')}={v}" for c, v in key.items() if c not in knob_cols]
    return ", ".join(parts) or "all runs"


def consistency(effects: pd.DataFrame) -> pd.DataFrame:
    """Per knob and group: properties tested, improved and worsened (the test holds, one sign or the other), and
    shown to have no effect (the equivalence test).

    Sorted by improved minus worsened, best first (the knob the paper expects on top is the LR).
    """
    cols = ["tested", "improved", "worsened", "no effect"]
    if effects.empty:
        return pd.DataFrame(columns=["knob", "group", *cols])
    out = (
        effects.assign(
            tested=effects["p_value"].notna(),
            improved=effects["effect"] == "improves",
            worsened=effects["effect"] == "worsens",
            **{"no effect": effects["effect"] == "no effect"},
        )
        .groupby(["knob", "group"], sort=False)[cols]
        .sum()
        .astype(int)
        .reset_index()
    )
    order = (out["improved"] - out["worsened"]).sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def knob_property_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Knob (x group) rows by property columns of oriented ρ̄, a ``*`` marking a test that holds (either sign)."""
    if effects.empty:
        return pd.DataFrame()
    cell = effects.apply(
        lambda r: "–" if not math.isfinite(r["rho"]) else f"{r['rho']:+.2f}{'*' if r['effect'] in SIGNIFICANT else ''}",
        axis=1,
    )
    return wide(effects.assign(cell=cell), ["knob", "group"], "cell").reset_index()


def wide(long: pd.DataFrame, index: str | list[str], values: str) -> pd.DataFrame:
    """Rows ``index`` x columns ``label`` in order of first appearance, keeping all-NaN rows/columns."""
    table = long.pivot(index=index, columns="label", values=values)
    rows = list(dict.fromkeys(map(tuple, long[index].to_numpy()))) if isinstance(index, list) else None
    rows = rows if rows is not None else list(dict.fromkeys(long[index]))
    return table.reindex(index=pd.MultiIndex.from_tuples(rows, names=index) if isinstance(index, list) else rows)[
        list(dict.fromkeys(long["label"]))
    ]


# ---------------------------------------------------------------------------------------------
# claim 3's verdict: is the LR the uniquely consistent knob?

CLAIM3_RULE = (
    "Claim 3 compares, within each knob's own one-at-a-time sweep, the trend test of each headline property "
    "against the knob's regularisation strength (the rule above, the knob comparison's tests one Holm family), "
    "and the change Δ of each property across the knob's tested range with its interval. The LR's row holds when "
    "it improves every headline property, and does not hold when it worsens one or has no effect on one. Another "
    "knob's row holds when it worsens a property, or when the LR dominates it by intervals (the LR's Δ is not "
    "below the knob's on any property and above it on one: interval entirely above); it does not hold when the "
    "knob dominates the LR the same way; otherwise it is inconclusive. Momentum and batch size are also compared "
    "at the base effective step (momentum_matched: LR x (1 - β); batch_size_matched: LR / B fixed); each row "
    "states its range of LR / (1 - β) and LR / B. The claim holds when every row holds, does not hold when any "
    "row does not hold, and is inconclusive otherwise."
)


def claim3(keys: Mapping[str, Key], text: str) -> Claim:
    """Claim 3 on the headline properties ``keys``: the knob comparison's tests, judged by ``CLAIM3_RULE``."""
    effective: dict[tuple[str, str], str] = {}  # (group, knob) -> effective-LR ranges, filled by the checks

    def checks(d: pd.DataFrame) -> list[tuple[str, pd.DataFrame, Check]]:
        out = knob_checks(d, keys)
        effective.clear()
        effective.update({(label, c.x.removeprefix(STRENGTH)): effective_text(g) for label, g, c in out})
        return out

    return Claim("3", text, (), checks=checks, combine=lambda g: combine_claim3(g, effective), rule=CLAIM3_RULE)


def _oriented(t: pd.DataFrame) -> pd.DataFrame:
    """Per property: the change's interval signed so + is desirable (lo, hi)."""
    sign = t["expect"].map({"higher": 1.0, "lower": -1.0}).to_numpy()
    lo, hi = t["ci_low"].to_numpy() * sign, t["ci_high"].to_numpy() * sign
    return pd.DataFrame({"lo": np.minimum(lo, hi), "hi": np.maximum(lo, hi)}, index=t["y"].to_numpy())


def dominance(lr: pd.DataFrame, knob: pd.DataFrame) -> str:
    """ "lr" when the LR's change is not below the knob's on any property and above it on one (intervals that do
    not overlap), "knob" for the converse, "" otherwise (or when an interval is missing)."""
    a, b = _oriented(lr), _oriented(knob)
    common = a.index.intersection(b.index)
    if not len(common) or a.loc[common].isna().any().any() or b.loc[common].isna().any().any():
        return ""
    a, b = a.loc[common], b.loc[common]
    lr_better, knob_better = (a["lo"] > b["hi"]), (b["lo"] > a["hi"])
    if lr_better.any() and not knob_better.any():
        return "lr"
    if knob_better.any() and not lr_better.any():
        return "knob"
    return ""


def claim3_rows(g: pd.DataFrame) -> pd.DataFrame:
    """Claim 3's row per knob in one group of other settings, from its decided knob x property tests: knob,
    verdict, why (``CLAIM3_RULE``), improved, worsened, no_effect, undecided, total."""
    by_knob = {k: t for k, t in g.groupby(g["x"].str.removeprefix(STRENGTH), sort=False)}
    lr = by_knob.get("lr")
    rows = []
    for knob, t in by_knob.items():
        improved = int((t["verdict"] == HOLDS).sum())
        worsened = int(((t["verdict"] == FAILS) & (t["why"] == "opposite sign")).sum())
        flat = int(((t["verdict"] == FAILS) & (t["why"] != "opposite sign")).sum())
        c = (improved, worsened, flat, len(t) - improved - worsened - flat, len(t))
        rows.append((knob, *_claim3_verdict(knob, c, t, lr), *c))
    if lr is None:
        rows.append(("lr", INCONCLUSIVE, "LR not varied", 0, 0, 0, 0, 0))
    cols = ["knob", "verdict", "why", "improved", "worsened", "no_effect", "undecided", "total"]
    return pd.DataFrame(rows, columns=cols)


def combine_claim3(g: pd.DataFrame, effective: Mapping[tuple[str, str], str] | None = None) -> tuple[str, str]:
    """Verdict and evidence of claim 3 in one group: every knob's row holds -> holds; one does not -> does not
    hold; else inconclusive. The evidence names the row that decided, then every knob's counts and effective
    step sizes."""
    rows = claim3_rows(g)
    group = str(g["group"].iloc[0]) if len(g) else ""
    verdict = HOLDS if (rows["verdict"] == HOLDS).all() else FAILS if (rows["verdict"] == FAILS).any() else INCONCLUSIVE
    texts = []
    for r in rows.itertuples():
        eff = (effective or {}).get((group, r.knob), "")
        texts.append(
            f"{r.knob}: {r.verdict}" + (f" ({r.why})" if r.why else "")
            + (f", improves {r.improved}/{r.total}, worsens {r.worsened}/{r.total}, no effect {r.no_effect}/{r.total}"
               if r.total else "") + (f" [{eff}]" if eff else "")
        )  # fmt: skip
    decided = next((t for v, t in zip(rows["verdict"], texts) if v == verdict), "") if verdict != HOLDS else ""
    head = f"decided by {decided}" if decided else f"every knob's row holds ({len(rows)})"
    return verdict, f"{head}. " + "; ".join(texts)


def _claim3_verdict(
    knob: str, c: tuple[int, int, int, int, int], t: pd.DataFrame, lr: pd.DataFrame | None
) -> tuple[str, str]:
    """(verdict, why) of one knob's row by ``CLAIM3_RULE``; counts are (improved, worsened, no effect,
    undecided, total); ``t`` and ``lr`` are the knob's and the LR's tests."""
    improved, worsened, flat, undecided, total = c
    if knob == "lr":
        if worsened:
            return FAILS, "the LR worsens a property"
        if flat:
            return FAILS, "the LR has no effect on a property"
        return (HOLDS, "") if improved == total else (INCONCLUSIVE, f"{undecided} properties undecided")
    if worsened:
        return HOLDS, "worsens a property"
    if lr is None:
        return INCONCLUSIVE, "LR not varied"
    who = dominance(lr, t)
    if who == "lr":
        return HOLDS, "the LR dominates it by intervals"
    if who == "knob":
        return FAILS, "it dominates the LR by intervals"
    return INCONCLUSIVE, "neither dominates by intervals"

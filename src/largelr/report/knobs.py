"""The knob comparison (paper-spec claim 3): which knobs improve which properties, and how consistently.

For every knob a study varies (``largelr.knobs.KNOBS``), within each group of runs that share every
other setting (``report.groups.split_groups`` with the knob's column as the axis), the trend test of each
property against the knob's regularisation strength (``largelr.report.stats``: within seed blocks, exact p,
the change across the knob's range with its interval), oriented so that a positive value is desirable (the
property's declared direction). The knob comparison's tests are one Holm family. A knob's consistency count
is how many properties it improves (the test holds) and how many it makes worse (the opposite sign holds).
Pure: DataFrame in, tables and figures out; no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from largelr.knobs import KNOBS, Knob  # noqa: E402
from largelr.metrics.base import Key  # noqa: E402
from largelr.report.groups import split_groups  # noqa: E402
from largelr.report.stats import ALPHA, FAILS, HOLDS, INCONCLUSIVE  # noqa: E402
from largelr.report.verdicts import Check, Claim, evaluate_claims  # noqa: E402

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
    """Names of the knobs that take more than one value among the runs with status ok."""
    ok = with_knob_defaults(df[df["status"] == "ok"])
    return [name for name, k in KNOBS.items() if ok[k.column].map(repr).nunique() > 1]


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
        for group in split_groups(ok, axis=knob.column):
            g = group.df
            if g[knob.column].map(repr).nunique() < 2:
                continue  # another knob's sweep: this knob sits at one value there
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
    wide = _wide(effects.assign(cell=cell), ["knob", "group"], "cell")
    return wide.reset_index()


def _wide(long: pd.DataFrame, index: str | list[str], values: str) -> pd.DataFrame:
    """Rows ``index`` x columns ``label`` in order of first appearance, keeping all-NaN rows/columns."""
    wide = long.pivot(index=index, columns="label", values=values)
    rows = list(dict.fromkeys(map(tuple, long[index].to_numpy()))) if isinstance(index, list) else None
    rows = rows if rows is not None else list(dict.fromkeys(long[index]))
    return wide.reindex(index=pd.MultiIndex.from_tuples(rows, names=index) if isinstance(index, list) else rows)[
        list(dict.fromkeys(long["label"]))
    ]


def heatmap(effects: pd.DataFrame):
    """Knob x property heat-map of the oriented ρ̄ (blue = desirable), ``*`` where the test holds (either sign).

    Returns:
        (figure, the long table it plots).
    """
    data = effects.assign(row=effects["knob"] + [f" ({g})" if g != "all runs" else "" for g in effects["group"]])
    mat = _wide(data, "row", "rho").astype(float)
    sig = _wide(data.assign(sig=data["effect"].isin(SIGNIFICANT)), "row", "sig")
    fig, ax = plt.subplots(figsize=(3.0 + 0.55 * mat.shape[1], 3.5 + 0.45 * mat.shape[0]), layout="constrained")
    im = ax.imshow(mat.to_numpy(dtype=float), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(mat.shape[0]), mat.index, fontsize=8)
    for i, r in enumerate(mat.index):
        for j, c in enumerate(mat.columns):
            v = mat.loc[r, c]
            if math.isfinite(v):
                star = "*" if bool(sig.loc[r, c]) else ""
                ax.text(j, i, f"{v:+.1f}{star}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="ρ̄ (within seed blocks)", shrink=0.9)
    ax.set_title("Knob comparison: ρ̄ between regularisation strength and each property (+ = desirable)", fontsize=9)
    return fig, data.drop(columns="row")


# ---------------------------------------------------------------------------------------------
# claim 3's verdict: is the LR the uniquely consistent knob?

CLAIM3_RULE = (
    "Claim 3 compares consistency counts per knob within its own one-at-a-time sweep: the headline properties "
    "it improves (the trend test of the property against the knob's regularisation strength holds, by the "
    "rule above, in the knob comparison's Holm family) and worsens (the opposite sign holds). LR: holds when it "
    "improves every headline property, does not hold when it worsens one or has no effect on one (equivalence "
    "test). Any other knob: does not hold when it is at least as consistent as the LR (improves at least one "
    "property and at least as many as the LR, worsens none); holds when it worsens one, or improves fewer than "
    "the LR even if every undecided property improved. Otherwise a row is inconclusive. The claim holds when "
    "every row holds, does not hold when any row does not hold, and is inconclusive otherwise."
)


def claim3(keys: Mapping[str, Key], text: str) -> Claim:
    """Claim 3 on the headline properties ``keys``: the knob comparison's tests, judged by ``CLAIM3_RULE``."""
    return Claim("3", text, (), checks=lambda d: knob_checks(d, keys), combine=combine_claim3, rule=CLAIM3_RULE)


def claim3_rows(g: pd.DataFrame) -> pd.DataFrame:
    """Claim 3's row per knob in one group of other settings, from its decided knob x property tests: knob,
    verdict, why (``CLAIM3_RULE``), improved, worsened, no_effect, undecided, total."""
    counts = {}
    for knob, t in g.groupby(g["x"].str.removeprefix(STRENGTH), sort=False):
        improved = int((t["verdict"] == HOLDS).sum())
        worsened = int(((t["verdict"] == FAILS) & (t["why"] == "opposite sign")).sum())
        flat = int(((t["verdict"] == FAILS) & (t["why"] != "opposite sign")).sum())
        counts[knob] = (improved, worsened, flat, len(t) - improved - worsened - flat, len(t))
    lr = counts.get("lr")
    rows = [(knob, *_claim3_verdict(knob, c, lr), *c) for knob, c in counts.items()]
    if lr is None:
        rows.append(("lr", INCONCLUSIVE, "LR not varied", 0, 0, 0, 0, 0))
    cols = ["knob", "verdict", "why", "improved", "worsened", "no_effect", "undecided", "total"]
    return pd.DataFrame(rows, columns=cols)


def combine_claim3(g: pd.DataFrame) -> tuple[str, str]:
    """Verdict and evidence of claim 3 in one group: every knob's row holds -> holds; one does not -> does not
    hold; else inconclusive. The evidence names the row that decided, then every knob's counts."""
    rows = claim3_rows(g)
    verdict = HOLDS if (rows["verdict"] == HOLDS).all() else FAILS if (rows["verdict"] == FAILS).any() else INCONCLUSIVE
    texts = [
        f"{r.knob}: {r.verdict}" + (f" ({r.why})" if r.why else "")
        + (f", improves {r.improved}/{r.total}, worsens {r.worsened}/{r.total}, no effect {r.no_effect}/{r.total}"
           if r.total else "")
        for r in rows.itertuples()
    ]  # fmt: skip
    decided = next((t for v, t in zip(rows["verdict"], texts) if v == verdict), "") if verdict != HOLDS else ""
    head = f"decided by {decided}" if decided else f"every knob's row holds ({len(rows)})"
    return verdict, f"{head}. " + "; ".join(texts)


def _claim3_verdict(knob: str, c: tuple[int, int, int, int, int], lr: tuple[int, int, int, int, int] | None):
    """(verdict, why) of one knob's row by ``CLAIM3_RULE``; counts are (improved, worsened, no effect,
    undecided, total)."""
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
    if improved >= max(lr[0], 1):
        return FAILS, "as consistent as the LR"
    if improved + undecided < lr[0]:
        return HOLDS, "improves fewer than the LR"
    return INCONCLUSIVE, f"{undecided} properties undecided"

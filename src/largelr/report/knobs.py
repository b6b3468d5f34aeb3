"""The knob comparison (paper-spec claim 3): which knobs improve which properties, and how consistently.

For every knob a study varies (``largelr.knobs.KNOBS``), within each group of runs that share every
other setting (``report.groups.split_groups`` with the knob's column as the axis), the Spearman rank
correlation between the knob's regularisation strength and each property, with p and n, oriented so
that a positive value is desirable (the property's declared direction). A knob's consistency count is
how many properties it improves significantly (p < alpha) and how many it makes significantly worse.
Pure: DataFrame in, tables and figures out; no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from largelr.knobs import KNOBS, Knob  # noqa: E402
from largelr.metrics.base import Key  # noqa: E402
from largelr.report.groups import split_groups  # noqa: E402

ALPHA = 0.05
# Fewest runs for a p-value: scipy's p for Spearman uses a t approximation that is 0 for a perfect
# rank order at n = 3 (the exact permutation p is 1/3), so smaller groups get rho but no p and no verdict.
MIN_N = 5


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


def _spearman(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return math.nan, math.nan
    res = stats.spearmanr(x, y)
    return float(res.statistic), (float(res.pvalue) if len(x) >= MIN_N else math.nan)


def knob_effects(df: pd.DataFrame, keys: Mapping[str, Key], alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (knob, group, property): oriented Spearman rho, p, n and the verdict.

    Args:
        df: results table (``collect.load_results``); only runs with status ok are used.
        keys: metric key -> ``Key`` (label, desirable direction); keys without a direction or absent
            from ``df`` are skipped.
        alpha: significance level of "improves"/"worsens".

    Returns:
        Columns knob, group, property, label, rho (positive = the property moves in its desirable
        direction as the knob's regularisation strength grows), p_value, n, effect ("improves",
        "worsens" or "n.s."). Empty when no knob varies.
    """
    ok = with_knob_defaults(df[df["status"] == "ok"])
    props = {k: v for k, v in keys.items() if v.desirable is not None and k in ok}
    rows = []
    for name in varied_knobs(df):
        knob: Knob = KNOBS[name]
        for group in split_groups(ok, axis=knob.column):
            g = group.df
            if g[knob.column].map(repr).nunique() < 2:
                continue  # another knob's sweep: this knob sits at one value there
            strength = g[knob.column].map(knob.strength)
            for key, info in props.items():
                sub = pd.DataFrame({"x": strength, "y": g[key]}).dropna()
                rho, p = _spearman(sub["x"], sub["y"])
                rho *= 1.0 if info.desirable == "higher" else -1.0
                significant = math.isfinite(p) and p < alpha
                effect = "n.s." if not significant else ("improves" if rho > 0 else "worsens")
                rows.append(
                    {
                        "knob": name,
                        "group": _other_settings(group.key, knob),
                        "property": key,
                        "label": info.label,
                        "rho": rho,
                        "p_value": p,
                        "n": len(sub),
                        "effect": effect,
                    }
                )
    cols = ["knob", "group", "property", "label", "rho", "p_value", "n", "effect"]
    return pd.DataFrame(rows, columns=cols)


def _other_settings(key: dict, knob: Knob) -> str:
    """The group's non-knob settings as text (the other knobs sit at base in a one-at-a-time study)."""
    knob_cols = {k.column for k in KNOBS.values()}
    parts = [f"{c.removeprefix('cfg.')}={v}" for c, v in key.items() if c not in knob_cols]
    return ", ".join(parts) or "all runs"


def consistency(effects: pd.DataFrame) -> pd.DataFrame:
    """Per knob and group: properties tested, improved and worsened significantly.

    Sorted by improved minus worsened, best first (the knob the paper expects on top is the LR).
    """
    if effects.empty:
        return pd.DataFrame(columns=["knob", "group", "tested", "improved", "worsened"])
    out = (
        effects.assign(
            tested=effects["p_value"].notna(),
            improved=effects["effect"] == "improves",
            worsened=effects["effect"] == "worsens",
        )
        .groupby(["knob", "group"], sort=False)[["tested", "improved", "worsened"]]
        .sum()
        .astype(int)
        .reset_index()
    )
    order = (out["improved"] - out["worsened"]).sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def knob_property_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Knob (x group) rows by property columns of oriented rho, a ``*`` marking p < alpha."""
    if effects.empty:
        return pd.DataFrame()
    cell = effects.apply(
        lambda r: "–" if not math.isfinite(r["rho"]) else f"{r['rho']:+.2f}{'*' if r['effect'] != 'n.s.' else ''}",
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
    """Knob x property heat-map of the oriented rho (blue = desirable), ``*`` where p < alpha.

    Returns:
        (figure, the long table it plots).
    """
    data = effects.assign(row=effects["knob"] + [f" ({g})" if g != "all runs" else "" for g in effects["group"]])
    mat = _wide(data, "row", "rho").astype(float)
    sig = _wide(data.assign(sig=data["effect"] != "n.s."), "row", "sig")
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
    fig.colorbar(im, ax=ax, label="ρ", shrink=0.9)
    ax.set_title("Knob comparison: ρ between regularisation strength and each property (+ = desirable)", fontsize=9)
    return fig, data.drop(columns="row")


# ---------------------------------------------------------------------------------------------
# claim 3's verdict: is the LR the uniquely consistent knob?

CLAIM3_RULE = (
    "Claim 3 compares consistency counts (properties improved / worsened significantly, p < "
    f"{ALPHA}, by the knob's Spearman ρ within its own one-at-a-time sweep). One row per varied knob. "
    "LR: holds when it improves every headline property with none worse, does not hold when it worsens "
    "any. Any other knob: does not hold when it is at least as consistent as the LR (improves at least "
    "one property and at least as many as the LR, worsens none), holds when it worsens one or improves "
    f"fewer than the LR. Otherwise a row with a property untested (fewer than {MIN_N} runs, or no variation) "
    "is inconclusive, as is every other knob's row in a group where the LR is not varied or not tested on "
    "every property. The claim holds when every row holds, does not hold when any row does not hold, and "
    "is inconclusive otherwise."
)


def claim3_tests(df: pd.DataFrame, keys: Mapping[str, Key], alpha: float = ALPHA) -> pd.DataFrame:
    """Claim 3's test rows (``CLAIM3_RULE``), one per (group, varied knob), in the schema of
    ``largelr.report.verdicts.evaluate_claims`` less the claim columns.

    Args:
        df: results table; only runs with status ok are used.
        keys: the headline properties to judge (key -> ``Key``; keys without a direction are skipped).
        alpha: significance level.

    Returns:
        Columns group, x (the knob's column), y (the property whose statistic is shown: the most
        significant worsening if any, else the least significant one), expect ("higher": ρ is oriented,
        + = desirable), rho, p, n, verdict, why, statistic (the counts and the shown property's ρ).
    """
    from largelr.report.verdicts import INCONCLUSIVE, Check, statistic_text

    effects = knob_effects(df, keys, alpha)
    rows = []
    for group, eff in effects.groupby("group", sort=False):
        counts = {k: _counts(e) for k, e in eff.groupby("knob", sort=False)}
        lr = counts.get("lr")
        for knob, (_, improved, worsened, total) in counts.items():
            verdict, why = _claim3_verdict(knob, counts[knob], lr, eff[eff["knob"] == knob])
            shown = _shown(eff[eff["knob"] == knob])
            rows.append(
                {
                    "group": group,
                    "x": KNOBS[knob].column,
                    "y": shown["property"],
                    "expect": "higher",
                    "rho": shown["rho"],
                    "p": shown["p_value"],
                    "n": int(shown["n"]),
                    "verdict": verdict,
                    "why": why,
                    "statistic": f"{knob}: improves {improved}/{total}, worsens {worsened}/{total}; "
                    + statistic_text(
                        Check(KNOBS[knob].column, shown["property"], "higher"),
                        {"rho": shown["rho"], "p": shown["p_value"], "n": int(shown["n"])},
                        {KNOBS[knob].column: knob, shown["property"]: shown["label"]},
                    ),
                }
            )
    if not any(r["x"] == KNOBS["lr"].column for r in rows):  # no knob varied, or not the LR
        rows.append({"group": "all runs" if not rows else rows[0]["group"], "x": KNOBS["lr"].column, "y": "",
                     "expect": "higher", "rho": math.nan, "p": math.nan, "n": 0, "verdict": INCONCLUSIVE,
                     "why": "LR not varied", "statistic": "ρ(lr, -) undefined, n = 0"})  # fmt: skip
    cols = ["group", "x", "y", "expect", "rho", "p", "n", "verdict", "why", "statistic"]
    return pd.DataFrame(rows, columns=cols)


def _claim3_verdict(
    knob: str, count: tuple[int, int, int, int], lr: tuple[int, int, int, int] | None, eff: pd.DataFrame
) -> tuple[str, str]:
    """(verdict, why) of one knob's row by ``CLAIM3_RULE``; counts are (tested, improved, worsened, total)."""
    from largelr.report.verdicts import FAILS, HOLDS, INCONCLUSIVE

    tested, improved, worsened, total = count
    if knob == "lr":
        if worsened:
            return FAILS, "LR worsens a property"
        if tested < total:
            return INCONCLUSIVE, _untested(eff)
        return (HOLDS, "") if improved == total else (INCONCLUSIVE, "LR does not improve every property")
    if worsened:
        return HOLDS, ""
    if tested < total:
        return INCONCLUSIVE, _untested(eff)
    if lr is None or lr[0] < lr[3]:
        return INCONCLUSIVE, "LR not varied" if lr is None else "LR untested on a property"
    if improved >= max(lr[1], 1):
        return FAILS, "as consistent as the LR"
    if improved < lr[1]:
        return HOLDS, ""
    return INCONCLUSIVE, "neither it nor the LR improves a property"


def _counts(eff: pd.DataFrame) -> tuple[int, int, int, int]:
    """(tested, improved, worsened, total) properties of one knob in one group."""
    return (int(eff["p_value"].notna().sum()), int((eff["effect"] == "improves").sum()),
            int((eff["effect"] == "worsens").sum()), len(eff))  # fmt: skip


def _untested(eff: pd.DataFrame) -> str:
    """Why some of a knob's properties have no p-value: too few runs, or the property does not vary."""
    if (eff["n"] < MIN_N).any():
        return "too few runs"
    return "no variation in " + ", ".join(eff.loc[eff["p_value"].isna(), "label"])


def _shown(eff: pd.DataFrame) -> pd.Series:
    """The property behind a knob's row: its most significant worsening, else its least significant one."""
    worse = eff[eff["effect"] == "worsens"]
    if len(worse):
        return worse.sort_values("p_value").iloc[0]
    return eff.assign(_p=eff["p_value"].fillna(2.0)).sort_values("_p", ascending=False, kind="stable").iloc[0]

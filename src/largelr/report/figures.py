"""Every figure of a report and what it says: drawn by ``plots`` (or ``observatory_figure``), saved beside the CSV
of what it plots (``page.save_figure``) and returned as a ``page.Fig`` with its caption and alt text.

The study report (``report.sections``) and the reproduce pages (``reproduce.page``) take their figures from here
only, so a figure and its caption read the same on both. A function returns None when its runs cannot draw the
figure (a single LR, no attribution maps, no dynamics histories). Captions say what is plotted, over how many
seeds, and the spread shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from largelr.report import knobs, plots
from largelr.report.groups import split_groups
from largelr.report.keys import LR
from largelr.report.page import Fig, save_figure
from largelr.report.plots import capital
from largelr.report.verdicts import AXIS_LABELS, Check, Claim

FIGURE_LABELS = {LR: "learning rate"}  # a figure says "learning rate" where a verdict's statistic says "LR"
CURVE_KINDS = {
    "prune": ("global magnitude pruning", "fraction of weights pruned"),
    "prune_layer": ("per-layer magnitude pruning", "fraction of weights pruned"),
    "prune_struct": ("structured (unit) pruning", "fraction of hidden units removed"),
}  # curve name in result.json -> (title, x label)


def seeds_text(counts: pd.Series) -> str:
    """How many seeds per point: ``3``, or ``2-3`` when it varies, ``no`` when there are none."""
    if not len(counts):
        return "no"
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def axis_label(col: str, labels: dict[str, str]) -> str:
    return labels.get(col) or FIGURE_LABELS.get(col) or AXIS_LABELS.get(col) or col.removeprefix("cfg.")


def _ok_seeds(df: pd.DataFrame, by: str = LR) -> str:
    return seeds_text(df[df["status"] == "ok"].groupby(by).size())


def overlay(df: pd.DataFrame, keys: dict[str, str], out: Path, name: str = "overlay") -> Fig | None:
    """The paper's headline figure: every headline property (``keys``) min-max normalised, against the LR."""
    if not keys or df.loc[df["status"] == "ok", LR].nunique() < 2:
        return None
    fig, data = plots.normalised_overlay(df, keys)
    cap = (f"Per-learning-rate means over {_ok_seeds(df)} seeds of {', '.join(keys.values())}, each min-max "
           "normalised to [0, 1] (the paper's headline figure); no spread shown (the figure of each property "
           "shows it).")  # fmt: skip
    return Fig(save_figure(fig, data, out, name), cap, "normalised properties against the learning rate")


def property_vs_lr(df: pd.DataFrame, key: str, label: str, out: Path, name: str) -> Fig:
    """One property against the LR: mean ± std over seeds, single runs as dots, diverged/failed runs marked."""
    fig, data = plots.property_vs_lr(df, key, label)
    cap = (f"{capital(label)} against the learning rate: mean ± std over {_ok_seeds(df)} seeds per "
           "learning rate (ok runs), dots = single runs; diverged and failed runs marked at the bottom.")  # fmt: skip
    return Fig(save_figure(fig, data, out, name), cap, f"{label} against the learning rate")


def pruning(curves: pd.DataFrame, kind: str, metric: str, out: Path, name: str) -> Fig:
    """Test ``metric`` against sparsity for the pruning curve ``kind``, one line per LR."""
    title, xlabel = CURVE_KINDS[kind]
    what = f"test {metric.replace('_', ' ')}"
    fig, data = plots.pruning_curves(curves, metric, f"{title}: {what}", xlabel)
    n = curves[curves["status"] == "ok"].groupby("lr")["run_id"].nunique() if "run_id" in curves else pd.Series()
    lines = "one line per learning rate" if data["lr"].nunique() > 1 else "one learning rate"
    cap = (f"{capital(title)} without fine-tuning: {what} against the {xlabel}, {lines} (mean over "
           f"{seeds_text(n)} seeds of ok runs, no spread).")  # fmt: skip
    return Fig(save_figure(fig, data, out, name), cap, f"{what} against the {xlabel}, {title}")


def attribution(maps: pd.DataFrame, out: Path, name: str = "attribution_maps") -> Fig | None:
    """Attribution heat-maps of a lowest- and a highest-LR run, side by side (``plots.attribution_maps``)."""
    if not len(maps) or maps["lr"].nunique() < 2:
        return None
    fig, data = plots.attribution_maps(maps)
    return Fig(save_figure(fig, data, out, name), attribution_caption(data),
               "attribution heat-maps, lowest vs highest learning rate")  # fmt: skip


def attribution_caption(data: pd.DataFrame) -> str:
    """The caption of ``plots.attribution_maps``, saying whether both maps average over the same test images."""
    head = "Mean normalised attribution (DeepLift) for one run of the lowest and one of the highest learning rate"
    if bool(data["same_images"].iloc[0]):
        return (
            f"{head}, both trained on the same dataset draw (data seed {int(data['data_seed'].iloc[0])}) and "
            "averaged over the same test images; red line: boundary between the core and spurious regions."
        )
    return (f"{head}; no such pair shares a dataset draw, so the maps average over different test images; red "
            "line: boundary between the core and spurious regions.")  # fmt: skip


def dynamics(hist: pd.DataFrame, out: Path, name: str = "dynamics", x: str = "step") -> Fig | None:
    """The training-dynamics panels of the runs in ``hist`` against the step, or (``x="tau"``) against training
    progress τ = LR x step."""
    if not len(hist) or not any(k in hist for k in plots.DYNAMICS):
        return None
    fig, data = plots.dynamics_curves(hist, x=x)
    n = hist[hist["status"] == "ok"].groupby("lr")["run_id"].nunique()
    against = "the step" if x == "step" else "training progress τ = learning rate × step (matched progress)"
    cap = (f"Training dynamics on a fixed training subset holding the bias-conflicting (BC) samples, one line per "
           f"learning rate (mean over {seeds_text(n)} seeds of ok runs, no spread): the share of the loss they "
           "carry (EBCR), their share of per-sample gradient norms, how confidently and how often as their spurious "
           f"class they are predicted, and their accuracy, against {against}.")  # fmt: skip
    return Fig(save_figure(fig, data, out, name), cap, f"training-dynamics curves for each learning rate against {x}")


def observatory(hist: pd.DataFrame, out: Path, name: str = "observatory") -> Fig | None:
    """The dynamics observatory (runs trained with ``eval.observatory=True``)."""
    from largelr.report.observatory_figure import observatory_figure

    if not len(hist) or "obs/sharpness" not in hist:
        return None
    fig, data = observatory_figure(hist)
    n = hist[hist["status"] == "ok"].groupby("lr")["run_id"].nunique()
    cap = ("Dynamics observatory, per learning rate: sharpness λ_max of the training loss with each learning rate's "
           "2/η dashed (edge of stability); the full-train loss of one seed per learning rate, × at each catapult's "
           "peak (a spike that starts before the loss fell below half its initial value); the BC share of the "
           f"training loss (EBCR); held-out linear-probe accuracy for y (solid) and s (dashed). Mean over "
           f"{seeds_text(n)} seeds of ok runs, no spread.")  # fmt: skip
    return Fig(
        save_figure(fig, data, out, name), cap, "sharpness, loss with catapults, EBCR and probes per learning rate"
    )


def eta_crit(df: pd.DataFrame, labels: dict[str, str], out: Path, name: str = "eta_crit") -> Fig | None:
    """Properties and the share of runs with a catapult against η/η_crit (the regimes target derives it)."""
    from largelr.report.observatory_figure import ETA, regimes_figure

    if ETA not in df or not df[ETA].notna().any():
        return None
    fig, data, onset = regimes_figure(df, labels)
    where = (f"the first learning rate at which most runs catapult is at η/η_crit = {onset:.3g} (dotted line)"
             if np.isfinite(onset) else "no learning rate has a catapult in most of its runs")  # fmt: skip
    cap = (f"Properties against η/η_crit, η_crit = 2/λ₀ (λ₀: the sharpness at initialisation, measured per run at "
           f"step 0), mean ± std over {_ok_seeds(df)} seeds of ok runs; last panel: the share of runs (all "
           f"statuses) whose loss history has a catapult; {where}.")  # fmt: skip
    return Fig(save_figure(fig, data, out, name), cap, "properties and catapult share against eta over eta_crit")


def knob_heatmap(effects: pd.DataFrame, n_ok: int, out: Path, name: str = "knob_heatmap") -> Fig | None:
    """The knob x property heat-map of ``knobs.knob_effects`` (``n_ok``: the ok runs behind it)."""
    if effects.empty:
        return None
    fig, data = plots.knob_heatmap(effects)
    cap = (
        f"Knob × property: ρ̄ (mean within-seed Spearman) between each knob's regularisation strength "
        f"({'; '.join(knobs.strength_axes(effects))}) and each property with a direction, within the knob's "
        "own sweep, signed so + (blue) is the desirable direction; * = the trend test holds (Holm-adjusted "
        f"p < {knobs.ALPHA}, interval excluding 0); a white cell without a number has no ρ̄ (fewer than two "
        f"values of the knob or of the property within a seed block). {n_ok} ok runs."
    )
    return Fig(save_figure(fig, data, out, name), cap, "heat-map of knob effects on every property")


def claim_axis(df: pd.DataFrame, test: Check, claim: Claim, labels: dict[str, str], out: Path, name: str) -> Fig:
    """A claim's test ``y`` against its swept axis ``x``: per setting, mean ± std over seeds (ok runs), single
    runs as dots."""
    ok = df[(df["status"] == "ok")] if "status" in df else df
    if not {test.x, test.y} <= set(ok.columns):
        ok = ok.iloc[0:0]
    groups = split_groups(ok, axis=claim.axis) if len(ok) else []
    fig, axes = plots.new_figure(5.2, 3.5 + 0.2 * len(groups))
    ax = axes[0, 0]
    rows = []
    for i, g in enumerate(groups):
        sub = g.df[[test.x, test.y]].apply(pd.to_numeric, errors="coerce").dropna()
        if not len(sub):
            continue
        agg = sub.groupby(test.x)[test.y].agg(["mean", "std", "count"]).reset_index()
        color = f"C{i % 10}"
        ax.scatter(sub[test.x], sub[test.y], s=10, color=color, alpha=0.35)
        ax.errorbar(agg[test.x], agg["mean"], yerr=agg["std"].fillna(0), fmt="-o", ms=4, color=color,
                    capsize=3, label=g.label)  # fmt: skip
        rows += [{"setting": g.label, **r} for r in agg.rename(columns={test.x: "x"}).to_dict("records")]
    data = pd.DataFrame(rows, columns=["setting", "x", "mean", "std", "count"])
    xs = data["x"] if len(data) else pd.Series(dtype=float)
    if len(xs) and (xs > 0).all() and xs.max() / xs.min() >= 10:
        ax.set_xscale("log")
    elif len(xs) and (xs >= 0).all() and (xs > 0).any() and xs.max() >= 10 * xs[xs > 0].min():
        ax.set_xscale("symlog", linthresh=max(float(xs[xs > 0].min()), 1e-3))
    x, y = axis_label(test.x, labels), axis_label(test.y, labels)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    settings = data["setting"].nunique()
    if len(data) and (settings > 1 or data["setting"].iloc[0] != "all runs"):
        plots.legend_below(fig, ncols=1)
    lines = "one line per setting" if settings > 1 else "one line"
    cap = (f"{capital(y)} against {x}: mean ± std over {seeds_text(data['count'])} seeds per point (ok "
           f"runs, {int(data['count'].sum()) if len(data) else 0} runs), dots = single runs, {lines}.")  # fmt: skip
    return Fig(save_figure(fig, data, out, name), cap, f"{y} against {x}")


def claim_scatter(df: pd.DataFrame, test: Check, labels: dict[str, str], out: Path, name: str) -> Fig:
    """A claim's test ``y`` against a metric ``x`` over single runs, coloured by log LR (an association across
    runs)."""
    cols = [c for c in (test.x, test.y, LR, "run_id") if c in df]
    ok = df[df["status"] == "ok"][cols].dropna() if {test.x, test.y} <= set(df.columns) else df.iloc[0:0]
    fig, axes = plots.new_figure(5.2, 3.5)
    ax = axes[0, 0]
    if len(ok):
        pts = ax.scatter(ok[test.x], ok[test.y], c=np.log10(ok[LR]), cmap="viridis", s=18)
        fig.colorbar(pts, ax=ax, label="log10 learning rate")
    x, y = axis_label(test.x, labels), axis_label(test.y, labels)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    cap = (f"{capital(y)} against {x}, one dot per ok run ({len(ok)} runs), colour = log10 learning "
           "rate.")  # fmt: skip
    return Fig(save_figure(fig, ok.reset_index(drop=True), out, name), cap, f"{y} against {x}")

"""The dynamics observatory's figure: sharpness against 2/eta, the loss with its catapults, EBCR, and probes.

Pure: history rows in (``collect.load_histories``, runs trained with ``eval.observatory=True``), a Figure and the
plotted data out. One line per LR (mean over the ok runs' seeds, except the loss, which is one run per LR so that
its spikes are not averaged away), coloured by log LR.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from largelr.metrics.catapult import catapults
from largelr.report.keys import LR
from largelr.report.plots import TITLE_PT, capital, legend_below, lr_colors, lr_label, new_figure

KEYS = ("obs/sharpness", "dyn/ebcr", "obs/probe_y", "obs/probe_s")
ETA = "regime/eta_over_crit"  # a run's LR over its eta_crit = 2/lambda_0 (the regimes target derives it)
CATAPULT = "regime/catapult"  # 1 when the run's loss history has a catapult (``catapults``), else 0


def observatory_figure(hist: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """Four panels against the step: (a) sharpness lambda_max (log scale) with each LR's 2/eta dashed; (b) the
    full-train loss of each LR's first seed (log scale), its catapults (``catapults``) marked with a cross at
    their peak; (c) the BC share of the training loss (EBCR, when the runs tracked it); (d) held-out linear-probe
    accuracy for y (solid) and s (dashed). Runs that diverged or failed are left out of (a), (c) and (d)."""
    ok = hist[hist["status"] == "ok"]
    have = [k for k in KEYS if k in hist]
    agg = ok.groupby(["lr", "step"])[have].mean().reset_index() if have else pd.DataFrame(columns=["lr", "step"])
    color = lr_colors(hist["lr"].unique())
    lrs = list(color)
    fig, axes = new_figure(9.0, 6.6, 2, 2)
    a, b, c, d = axes.flat
    for lr in lrs:
        g = agg[agg["lr"] == lr].dropna(subset=["obs/sharpness"]) if "obs/sharpness" in agg else agg.iloc[0:0]
        if len(g):
            a.plot(g["step"], g["obs/sharpness"], "-o", ms=3, color=color[lr], label=lr_label(lr))
            a.axhline(2 / lr, color=color[lr], ls="--", lw=0.8)
        first = hist[hist["lr"] == lr]
        first = first[first["seed"] == first["seed"].min()].sort_values("step")
        loss = first["train/loss"].to_numpy(float)
        steps = first["step"].to_numpy(float)
        finite = np.isfinite(loss)
        b.plot(steps[finite], loss[finite], "-", color=color[lr])
        for spike in catapults(loss):
            b.plot(steps[spike.peak], loss[spike.peak], "x", color="tab:red", ms=8, mew=2)
        if "dyn/ebcr" in agg:
            e = agg[agg["lr"] == lr].dropna(subset=["dyn/ebcr"])
            c.plot(e["step"], e["dyn/ebcr"], "-", color=color[lr])
        for key, ls in (("obs/probe_y", "-"), ("obs/probe_s", "--")):
            if key in agg:
                p = agg[agg["lr"] == lr].dropna(subset=[key])
                d.plot(p["step"], p[key], ls, marker="o", ms=3, color=color[lr])
    a.set_yscale("log")
    a.set_ylabel("sharpness λ_max (dashed: 2/η)")
    b.set_yscale("log")
    b.set_ylabel("train loss (×: catapult peak)")
    c.set_ylabel("BC share of the loss (EBCR)")
    d.set_ylabel("probe accuracy: y solid, s dashed")
    titles = ("Sharpness", "Train loss, one seed", "EBCR", "Linear probes")
    for ax, title in zip(axes.flat, titles):
        ax.set_xlabel("step")
        ax.set_title(title, fontsize=TITLE_PT)
    handles = [Line2D([], [], color=color[lr]) for lr in lrs]
    legend_below(fig, handles, [lr_label(lr) for lr in lrs])
    return fig, agg


def spike_table(hist: pd.DataFrame) -> pd.DataFrame:
    """Per run: its catapults (``catapults`` on its full-train loss history): count, first step, largest height."""
    rows = []
    for run_id, g in hist.sort_values("step").groupby("run_id"):
        loss = g["train/loss"].to_numpy(float)
        found = catapults(loss)
        steps = g["step"].to_numpy()
        rows.append({"run_id": run_id, "lr": float(g["lr"].iloc[0]), "seed": g["seed"].iloc[0],
                     "catapults": len(found), "first_step": float(steps[found[0].start]) if found else math.nan,
                     "height": max((s.height for s in found), default=math.nan)})  # fmt: skip
    return pd.DataFrame(rows, columns=["run_id", "lr", "seed", "catapults", "first_step", "height"])


def regimes_figure(df: pd.DataFrame, labels: dict[str, str]) -> tuple[Figure, pd.DataFrame, float]:
    """One panel per property of ``PROPERTIES`` present (mean +- std over the ok runs of each LR) and the share of
    runs with a catapult, each against the LR's mean eta/eta_crit (log x). Returns the figure, its data and the
    catapult onset: the smallest mean eta/eta_crit at which more than half of the LR's runs catapult (NaN if none),
    drawn as a dotted line."""
    keys = [k for k in PROPERTIES if k in df]
    ok = df[df["status"] == "ok"]
    agg = ok.groupby(LR).agg(**{"eta": (ETA, "mean")}, **{f"{k}|{f}": (k, f) for k in keys for f in ("mean", "std")})
    share = df.groupby(LR).agg(eta_all=(ETA, "mean"), catapult=(CATAPULT, "mean"))
    data = share.join(agg, how="left").reset_index()
    over = data[data["catapult"] > 0.5]
    onset = float(over["eta_all"].min()) if len(over) else math.nan
    ncols = 2
    fig, grid = new_figure(3.8 * ncols, 3.0 * math.ceil((len(keys) + 1) / ncols), math.ceil((len(keys) + 1) / ncols),
                           ncols)  # fmt: skip
    axes = list(grid.flat[: len(keys) + 1])
    for ax in grid.flat[len(keys) + 1 :]:
        ax.set_visible(False)
    for ax, key in zip(axes, keys):
        g = data.dropna(subset=["eta"])
        ax.errorbar(g["eta"], g[f"{key}|mean"], yerr=g[f"{key}|std"].fillna(0), fmt="-o", ms=3, capsize=2)
        ax.set_ylabel(labels.get(key, key))
        ax.set_title(capital(labels.get(key, key)), fontsize=TITLE_PT)
    axes[-1].plot(data["eta_all"], data["catapult"], "-o", ms=3, color="tab:red")
    axes[-1].set_ylabel("share of runs with a catapult")
    axes[-1].set_title("Catapults", fontsize=TITLE_PT)
    axes[-1].set_ylim(-0.05, 1.05)
    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # a range under a decade would label every minor tick
        ax.set_xlabel("η/η_crit (η_crit = 2/λ₀)")
        if math.isfinite(onset):
            ax.axvline(onset, color="tab:red", ls=":", lw=1)
    return fig, data, onset


PROPERTIES = ("test/acc_bc", "weights/comp", "test/class_sep")

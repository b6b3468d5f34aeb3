"""The dynamics observatory's figure: sharpness against 2/eta, the loss with its catapults, EBCR, and probes.

Pure: history rows in (``collect.load_histories``, runs trained with ``eval.observatory=True``), a Figure and the
plotted data out. One line per LR (mean over the ok runs' seeds, except the loss, which is one run per LR so that
its spikes are not averaged away), coloured by log LR.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from largelr.metrics.catapult import catapults  # noqa: E402

KEYS = ("obs/sharpness", "dyn/ebcr", "obs/probe_y", "obs/probe_s")


def observatory_figure(hist: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """Four panels against the step: (a) sharpness lambda_max (log scale) with each LR's 2/eta dashed; (b) the
    full-train loss of each LR's first seed (log scale), its catapults (``catapults``) marked with a cross at
    their peak; (c) the BC share of the training loss (EBCR, when the runs tracked it); (d) held-out linear-probe
    accuracy for y (solid) and s (dashed). Runs that diverged or failed are left out of (a), (c) and (d)."""
    ok = hist[hist["status"] == "ok"]
    have = [k for k in KEYS if k in hist]
    agg = ok.groupby(["lr", "step"])[have].mean().reset_index() if have else pd.DataFrame(columns=["lr", "step"])
    lrs = sorted(hist["lr"].unique())
    cmap = plt.get_cmap("viridis")
    color = {lr: cmap(i / max(1, len(lrs) - 1)) for i, lr in enumerate(lrs)}
    fig, axes = plt.subplots(1, 4, figsize=(15.5, 3.5), layout="constrained")
    a, b, c, d = axes
    for lr in lrs:
        g = agg[agg["lr"] == lr].dropna(subset=["obs/sharpness"]) if "obs/sharpness" in agg else agg.iloc[0:0]
        if len(g):
            a.plot(g["step"], g["obs/sharpness"], "-o", ms=3, color=color[lr], label=f"learning rate {lr:g}")
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
    for ax in axes:
        ax.set_xlabel("step")
    if len(lrs):
        handles = [plt.Line2D([], [], color=color[lr], label=f"learning rate {lr:g}") for lr in lrs]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(lrs), 6), fontsize=7, frameon=False)
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

"""The figure of ``largelr suggest-lr``: each rung's probe loss curve, and its final loss against LR by regime.

Pure: a DataFrame in, a Figure out (``largelr.cli.suggest`` saves it beside the data it plots).
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from largelr.report.plots import LEGEND_PT, TITLE_PT, new_figure

REGIME_COLORS = {
    "stable": "tab:blue",
    "spiking": "tab:cyan",
    "catapult": "tab:purple",
    "failed": "tab:orange",
    "divergent": "tab:red",
}


def ladder_frame(suggestion) -> pd.DataFrame:
    """One row per (rung, evaluation): lr, regime, step, loss (non-finite losses kept as inf)."""
    rows = [
        {"lr": r.lr, "regime": r.regime, "step": step, "loss": loss if math.isfinite(loss) else math.inf}
        for r in suggestion.rungs
        for step, loss in r.curve
    ]
    return pd.DataFrame(rows, columns=["lr", "regime", "step", "loss"])


def ladder_figure(curves: pd.DataFrame, *, edge: float, suggested: float | None) -> Figure:
    """Left: full-train loss over each probe (log y), coloured by regime. Right: each rung's last finite loss
    against LR (log x), with the stability edge 2/lambda_0 and the suggested LR as vertical lines."""
    fig, axes = new_figure(9.6, 3.8, 1, 2)
    left, right = axes[0]
    for lr, g in curves.groupby("lr"):
        regime = g["regime"].iloc[0]
        finite = g[g["loss"] < math.inf]
        left.plot(finite["step"], finite["loss"], color=REGIME_COLORS[regime], alpha=0.8, label=f"{lr:.3g} {regime}")
        right.scatter([lr], [finite["loss"].iloc[-1]], color=REGIME_COLORS[regime], s=40, zorder=3)
    left.set_yscale("log")
    left.set_xlabel("probe step")
    left.set_ylabel("train loss")
    left.set_title("Probe loss curves", fontsize=TITLE_PT)
    left.legend(fontsize=LEGEND_PT - 1, title="learning rate, regime", title_fontsize=LEGEND_PT, loc="upper left",
                bbox_to_anchor=(1.0, 1.0))  # fmt: skip
    right.set_xscale("log")
    right.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.3, 2 instead of 3x10^-1 and 2x10^0, which overlap
    right.xaxis.set_major_formatter(plain)
    right.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    right.xaxis.set_minor_formatter(plain)
    right.axvline(edge, color="k", ls="--", lw=1, label=f"2/λ₀ = {edge:.3g}")
    if suggested is not None:
        right.axvline(suggested, color="tab:green", lw=1.5, label=f"suggested {suggested:.3g}")
    for regime, color in REGIME_COLORS.items():
        right.scatter([], [], color=color, label=regime)
    right.set_xlabel("learning rate")
    right.set_ylabel("train loss at the probe's end")
    right.set_title("Final loss per learning rate", fontsize=TITLE_PT)
    right.legend(fontsize=LEGEND_PT, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("suggest-lr: learning-rate ladder probes", fontsize=TITLE_PT + 1)
    return fig

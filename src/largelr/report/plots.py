"""DataFrame -> matplotlib Figure: how each report figure is drawn. Pure: no file I/O, no captions (what a figure
says is ``largelr.report.figures``, which also saves it beside its data).

Figures are made with ``matplotlib.figure.Figure`` directly, never through pyplot, so neither importing this
module nor drawing selects a backend or touches matplotlib's global state; ``Figure.savefig`` renders a PNG with
Agg whatever the backend is. Every panel has both axis labels, titles are at least ``TITLE_PT`` and legends
sit outside the axes, so none covers a line.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from largelr.report.keys import LR
from largelr.report.knobs import SIGNIFICANT, wide

BAD = {"diverged": ("x", "tab:red"), "failed": ("v", "tab:orange")}
TITLE_PT = 10  # titles and panel titles, at the saved size (dpi 120)
LEGEND_PT = 8
CELL_PT = 8  # numbers written in heat-map cells


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure (inches) and its axes as a 2-d array, without pyplot."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def lr_colors(lrs) -> dict[float, tuple]:
    """One viridis colour per learning rate, in increasing order of the LR."""
    lrs = sorted(lrs)
    cmap = matplotlib.colormaps["viridis"]
    return {lr: cmap(i / max(1, len(lrs) - 1)) for i, lr in enumerate(lrs)}


def capital(text: str) -> str:
    """``text`` with its first letter upper case: a caption or a title starts with a capital."""
    return text[:1].upper() + text[1:]


def lr_label(lr: float) -> str:
    return f"learning rate = {lr:g}"


def legend_below(fig: Figure, handles=None, labels=None, ncols: int = 3) -> None:
    """One legend under the axes (constrained layout makes room), never over the data."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=max(1, min(ncols, len(handles))),
                   fontsize=LEGEND_PT, frameon=False)  # fmt: skip


def _mark_bad_runs(ax, df: pd.DataFrame) -> None:
    """Mark diverged/failed runs at the bottom of the axis, one marker per run, so none is hidden."""
    lo = ax.get_ylim()[0]
    for status, (marker, color) in BAD.items():
        bad = df[df["status"] == status]
        if len(bad):
            ax.scatter(
                bad[LR],
                [lo] * len(bad),
                marker=marker,
                color=color,
                s=60,
                zorder=5,
                clip_on=False,
                label=f"{status} ({len(bad)} runs)",
            )


def property_vs_lr(df: pd.DataFrame, key: str, label: str) -> tuple[Figure, pd.DataFrame]:
    """Mean ± std over seeds of one property against LR (log x), seeds as dots, bad runs marked.

    Returns the figure and the per-LR data it plots.
    """
    ok = df[(df["status"] == "ok") & df[key].notna()]
    agg = ok.groupby(LR)[key].agg(["mean", "std", "count"]).reset_index()
    fig, axes = new_figure(4.8, 3.6)
    ax = axes[0, 0]
    ax.scatter(ok[LR], ok[key], s=12, color="tab:blue", alpha=0.35, label="single runs")
    ax.plot(agg[LR], agg["mean"], "-o", color="tab:blue", label="mean ± std")
    ax.fill_between(
        agg[LR], agg["mean"] - agg["std"].fillna(0), agg["mean"] + agg["std"].fillna(0), color="tab:blue", alpha=0.2
    )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(label)
    ax.set_title(capital(label), fontsize=TITLE_PT + 1)
    _mark_bad_runs(ax, df)
    legend_below(fig)
    return fig, agg


def normalised_overlay(df: pd.DataFrame, properties: dict[str, str]) -> tuple[Figure, pd.DataFrame]:
    """The paper's headline figure: each property's per-LR mean, min-max normalised to [0, 1], vs LR."""
    ok = df[df["status"] == "ok"]
    means = ok.groupby(LR)[list(properties)].mean()
    span = (means.max() - means.min()).replace(0, np.nan)
    norm = (means - means.min()) / span
    fig, axes = new_figure(5.6, 3.6 + 0.2 * math.ceil(len(properties) / 2))
    ax = axes[0, 0]
    for key, label in properties.items():
        ax.plot(norm.index, norm[key], "-o", ms=4, label=label)
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("min-max normalised mean over seeds")
    n = ok.groupby(LR).size()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
    ax.set_title(f"Properties vs learning rate ({seeds} seeds per learning rate)", fontsize=TITLE_PT + 1)
    _mark_bad_runs(ax, df)
    legend_below(fig, ncols=2)
    return fig, norm.reset_index()


def pruning_curves(
    curves: pd.DataFrame, metric: str = "acc", title: str = "", xlabel: str = "fraction of weights pruned"
) -> tuple[Figure, pd.DataFrame]:
    """Accuracy vs sparsity, one line per LR (mean over seeds of ok runs), coloured by log LR."""
    ok = curves[curves["status"] == "ok"]
    agg = ok.groupby(["lr", "sparsity"])[metric].mean().reset_index()
    color = lr_colors(agg["lr"].unique())
    fig, axes = new_figure(4.8, 3.8)
    ax = axes[0, 0]
    for lr, c in color.items():
        g = agg[agg["lr"] == lr]
        ax.plot(g["sparsity"], g[metric], "-o", ms=3, color=c, label=lr_label(lr))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {metric.replace('_', ' ')}")
    title = title or f"magnitude pruning: test {metric.replace('_', ' ')}"
    ax.set_title(capital(title), fontsize=TITLE_PT + 1)
    legend_below(fig, ncols=2)  # no ok run in the group: an empty panel, no legend
    return fig, agg


DYNAMICS = {
    "dyn/ebcr": ("EBCR", "effective BC loss ratio"),
    "dyn/bc_grad_share": ("BC gradient share", "share of per-sample gradient norms"),
    "dyn/bc_conf": ("BC confidence", "mean max-softmax confidence"),
    "dyn/bc_pred_spurious": ("BC predicted as spurious", "share of BC samples"),
    "dyn/acc_bc": ("Accuracy on BC training samples", "accuracy"),
}  # key -> (panel title, y label)


def dynamics_curves(hist: pd.DataFrame, x: str = "step") -> tuple[Figure, pd.DataFrame]:
    """Training-dynamics panels (EBCR, BC gradient share, BC confidence, BC predicted-as-spurious, acc_BC), one
    line per LR (mean over seeds of ok runs), coloured by log LR: the mechanism of paper-spec claim 6. Panels
    sit in rows of three, each with its title and both axis labels; one legend of the LRs below them.

    Args:
        hist: ``collect.load_histories`` rows.
        x: "step", or "tau": training progress LR x step (log scale), so LRs are compared at matched progress
            rather than after the same number of steps.
    """
    keys = [k for k in DYNAMICS if k in hist]
    ok = hist[hist["status"] == "ok"]
    agg = ok.groupby(["lr", "step"])[keys].mean().reset_index()
    if x == "tau":
        agg.insert(2, "tau", agg["lr"] * agg["step"])
        agg = agg[agg["tau"] > 0]
    color = lr_colors(agg["lr"].unique())
    ncols = min(3, max(1, len(keys)))
    nrows = math.ceil(len(keys) / ncols) or 1
    fig, axes = new_figure(3.7 * ncols, 2.9 * nrows + 0.5, nrows, ncols)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        for lr, c in color.items():
            g = agg[agg["lr"] == lr]
            ax.plot(g[x], g[key], "-", color=c, label=lr_label(lr))
        ax.set_xlabel("step" if x == "step" else "progress τ = learning rate × step")
        if x == "tau":
            ax.set_xscale("log")
        ax.set_title(DYNAMICS[key][0], fontsize=TITLE_PT)
        ax.set_ylabel(DYNAMICS[key][1])
    legend_below(fig, ncols=3)
    return fig, agg


def attribution_maps(maps: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """Mean attribution heat-maps of one lowest- and one highest-LR run side by side.

    The pair is trained on the same dataset draw (data seed) and mapped on the same test images when the runs
    allow it (``same_images`` in the returned data says whether they were), converged runs preferred; the
    boundary between the core and spurious regions is drawn in red and the regions are labelled when the mask is
    known.
    """
    chosen, same = _attribution_pair(maps)
    fig, axes = new_figure(7.6, 3.0, 1, 2)
    rows = []
    for ax, run in zip(axes[0], chosen):
        heat = np.asarray(run["map"], dtype=float)
        im = ax.imshow(heat, cmap="inferno", vmin=0, vmax=max(1e-12, float(np.nanmax(heat))))
        if run["mask"] is not None:  # mean core mask over the mapped images
            core = np.asarray(run["mask"], dtype=float)
            ax.contour(core, levels=[0.5], colors="red", linewidths=1.5)
            for region, weight in (("core", core), ("spurious", 1.0 - core)):
                if weight.sum() > 0:
                    cx = float((weight.sum(0) * np.arange(weight.shape[1])).sum() / weight.sum())
                    ax.text(cx, 1.5, region, color="white", ha="center", va="top", fontsize=9)
        conv = ", converged" if run["converged"] else ""
        ax.set_title(f"Learning rate {run['lr']:g}\n(data seed {run['data_seed']}, init seed {run['seed']}{conv})",
                     fontsize=TITLE_PT)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        rows.append({"run_id": run["run_id"], "lr": run["lr"], "seed": run["seed"], "data_seed": run["data_seed"],
                     "converged": run["converged"], "same_images": same})  # fmt: skip
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="mean normalised attribution")
    return fig, pd.DataFrame(rows)


def _attribution_pair(maps: pd.DataFrame) -> tuple[list[pd.Series], bool]:
    """A lowest- and a highest-LR run on the same data seed and test images (both converged if possible, else
    one, else none), and whether such a pair exists; otherwise any two such runs."""
    lo, hi = maps[maps["lr"] == maps["lr"].min()], maps[maps["lr"] == maps["lr"].max()]
    images = maps["images"] if "images" in maps else pd.Series(None, index=maps.index)
    best: tuple[int, pd.Series, pd.Series] | None = None
    for _, a in lo.iterrows():
        for _, b in hi.iterrows():
            if a["data_seed"] != b["data_seed"] or images[a.name] != images[b.name]:
                continue
            score = int(a["converged"]) + int(b["converged"])
            if best is None or score > best[0]:
                best = (score, a, b)
    if best is not None:
        return [best[1], best[2]], True
    return [lo.iloc[0], hi.iloc[0]], False


def knob_heatmap(effects: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """Knob x property heat-map of the oriented ρ̄ (``knobs.knob_effects``; blue = desirable), ``*`` where the
    test holds (either sign); a cell with no ρ̄ (too few runs to compute one) is left white, without text.

    Returns:
        (figure, the long table it plots).
    """
    data = effects.assign(row=effects["knob"] + [f" ({g})" if g != "all runs" else "" for g in effects["group"]])
    mat = wide(data, "row", "rho").astype(float)
    sig = wide(data.assign(sig=data["effect"].isin(SIGNIFICANT)), "row", "sig")
    fig, axes = new_figure(3.2 + 0.6 * mat.shape[1], 3.5 + 0.45 * mat.shape[0])
    ax = axes[0, 0]
    im = ax.imshow(mat.to_numpy(dtype=float), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(mat.shape[0]), mat.index, fontsize=8)
    ax.set_xlabel("property")
    ax.set_ylabel("knob")
    for i, r in enumerate(mat.index):
        for j, c in enumerate(mat.columns):
            v = mat.loc[r, c]
            if math.isfinite(v):
                star = "*" if bool(sig.loc[r, c]) else ""
                ax.text(j, i, f"{v:+.1f}{star}", ha="center", va="center", fontsize=CELL_PT,
                        color="white" if abs(v) > 0.6 else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, label="ρ̄")
    ax.set_title("Knob comparison: ρ̄ between regularisation\nstrength and each property (+ = desirable)",
                 fontsize=TITLE_PT)  # fmt: skip
    return fig, data.drop(columns="row")

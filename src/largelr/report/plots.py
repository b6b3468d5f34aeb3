"""DataFrame -> matplotlib Figure. Pure: no file I/O; render.py saves figures and their data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

LR = "cfg.optim.lr"
BAD = {"diverged": ("x", "tab:red"), "failed": ("v", "tab:orange")}


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
    fig, ax = plt.subplots(figsize=(4.8, 3.4), layout="constrained")
    ax.scatter(ok[LR], ok[key], s=12, color="tab:blue", alpha=0.35, label="runs")
    ax.plot(agg[LR], agg["mean"], "-o", color="tab:blue", label="mean ± std")
    ax.fill_between(
        agg[LR], agg["mean"] - agg["std"].fillna(0), agg["mean"] + agg["std"].fillna(0), color="tab:blue", alpha=0.2
    )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(label)
    ax.set_title(label)
    _mark_bad_runs(ax, df)
    ax.legend(fontsize=7)
    return fig, agg


def normalised_overlay(df: pd.DataFrame, properties: dict[str, str]) -> tuple[Figure, pd.DataFrame]:
    """The paper's headline figure: each property's per-LR mean, min-max normalised to [0, 1], vs LR."""
    ok = df[df["status"] == "ok"]
    means = ok.groupby(LR)[list(properties)].mean()
    span = (means.max() - means.min()).replace(0, np.nan)
    norm = (means - means.min()) / span
    fig, ax = plt.subplots(figsize=(5.6, 3.8), layout="constrained")
    for key, label in properties.items():
        ax.plot(norm.index, norm[key], "-o", ms=4, label=label)
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("min-max normalised mean over seeds")
    n = ok.groupby(LR).size()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
    ax.set_title(f"Properties vs LR ({seeds} seeds per LR)")
    _mark_bad_runs(ax, df)
    ax.legend(fontsize=7, loc="best")
    return fig, norm.reset_index()


def pruning_curves(
    curves: pd.DataFrame, metric: str = "acc", title: str = "", xlabel: str = "fraction of weights pruned"
) -> tuple[Figure, pd.DataFrame]:
    """Accuracy vs sparsity, one line per LR (mean over seeds of ok runs), coloured by log LR."""
    ok = curves[curves["status"] == "ok"]
    agg = ok.groupby(["lr", "sparsity"])[metric].mean().reset_index()
    lrs = sorted(agg["lr"].unique())
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(4.8, 3.4), layout="constrained")
    for i, lr in enumerate(lrs):
        g = agg[agg["lr"] == lr]
        ax.plot(g["sparsity"], g[metric], "-o", ms=3, color=cmap(i / max(1, len(lrs) - 1)), label=f"lr={lr:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {metric.replace('_', ' ')}")
    ax.set_title(title or f"Magnitude pruning: test {metric.replace('_', ' ')}")
    if lrs:  # no ok run in the group: an empty panel, no legend
        ax.legend(fontsize=7)
    return fig, agg


DYNAMICS = {
    "dyn/ebcr": "effective BC loss ratio (EBCR)",
    "dyn/bc_grad_share": "BC share of per-sample gradient norms",
    "dyn/bc_conf": "max-softmax confidence on BC samples",
    "dyn/bc_pred_spurious": "BC samples predicted as their spurious class",
    "dyn/acc_bc": "accuracy on BC training samples",
}


def dynamics_curves(hist: pd.DataFrame, x: str = "step") -> tuple[Figure, pd.DataFrame]:
    """Training-dynamics panels (EBCR, BC gradient share, BC confidence, BC predicted-as-spurious, acc_BC), one
    line per LR (mean over seeds of ok runs), coloured by log LR: the mechanism of paper-spec claim 6.

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
    lrs = sorted(agg["lr"].unique())
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), layout="constrained", squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, lr in enumerate(lrs):
            g = agg[agg["lr"] == lr]
            ax.plot(g[x], g[key], "-", color=cmap(i / max(1, len(lrs) - 1)), label=f"learning rate {lr:g}")
        ax.set_xlabel("step" if x == "step" else "progress τ = learning rate × step")
        if x == "tau":
            ax.set_xscale("log")
        ax.set_ylabel(DYNAMICS[key], fontsize=8)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(lrs), 6),
               fontsize=7, frameon=False)  # fmt: skip
    return fig, agg


def attribution_maps(maps: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """Mean attribution heat-maps of one lowest- and one highest-LR run side by side.

    The pair is trained on the same dataset draw (data seed) and mapped on the same test images when the runs
    allow it (``same_images`` in the returned data says whether they were), converged runs preferred; the
    boundary between the core and spurious regions is drawn in red and the regions are labelled when the mask is
    known.
    """
    chosen, same = _attribution_pair(maps)
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 2.6), layout="constrained")
    rows = []
    for ax, run in zip(axes, chosen):
        heat = np.asarray(run["map"], dtype=float)
        im = ax.imshow(heat, cmap="inferno", vmin=0, vmax=max(1e-12, float(np.nanmax(heat))))
        if run["mask"] is not None:  # mean core mask over the mapped images
            core = np.asarray(run["mask"], dtype=float)
            ax.contour(core, levels=[0.5], colors="red", linewidths=1.5)
            for region, weight in (("core", core), ("spurious", 1.0 - core)):
                if weight.sum() > 0:
                    cx = float((weight.sum(0) * np.arange(weight.shape[1])).sum() / weight.sum())
                    ax.text(cx, 1.5, region, color="white", ha="center", va="top", fontsize=8)
        conv = ", converged" if run["converged"] else ""
        ax.set_title(f"learning rate {run['lr']:g} (data seed {run['data_seed']}, init seed {run['seed']}{conv})",
                     fontsize=10)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        rows.append({"run_id": run["run_id"], "lr": run["lr"], "seed": run["seed"], "data_seed": run["data_seed"],
                     "converged": run["converged"], "same_images": same})  # fmt: skip
    fig.colorbar(im, ax=axes, shrink=0.8, label="mean normalised attribution")
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


def attribution_caption(data: pd.DataFrame) -> str:
    """The caption of ``attribution_maps``, saying whether both maps average over the same test images."""
    head = "Mean normalised attribution (DeepLift) for one run of the lowest and one of the highest learning rate"
    if bool(data["same_images"].iloc[0]):
        return (
            f"{head}, both trained on the same dataset draw (data seed {int(data['data_seed'].iloc[0])}) and "
            "averaged over the same test images; red line: boundary between the core and spurious regions."
        )
    return (f"{head}; no such pair shares a dataset draw, so the maps average over different test images; red "
            "line: boundary between the core and spurious regions.")  # fmt: skip

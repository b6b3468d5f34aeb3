"""The report of a reproduce target: the verdict table first, one section per claim, provenance last.

Every figure has a caption (what is plotted, how many seeds, the spread shown), alt text and the CSV of
what it plots beside it. ``study_verdict_section`` gives any LR study the verdicts of claims 1-2.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from largelr import store
from largelr.report import plots
from largelr.report.collect import load_attribution_maps, load_environments, load_histories, load_results
from largelr.report.groups import split_groups
from largelr.report.keys import LR
from largelr.report.page import Fig, Section, save_figure, slug, write_pages
from largelr.report.verdicts import AXIS_LABELS, RULE, Check, Claim, claim_table, evaluate_claims


def _label(col: str, labels: dict[str, str]) -> str:
    return labels.get(col) or AXIS_LABELS.get(col) or col.removeprefix("cfg.")


def _seeds_text(counts: pd.Series) -> str:
    if not len(counts):
        return "no"
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def axis_figure(df: pd.DataFrame, test: Check, claim: Claim, labels: dict[str, str]) -> tuple[Any, pd.DataFrame, str]:
    """``y`` against the swept ``x``: per group, mean ± std over seeds (ok runs), single runs as dots."""
    ok = df[(df["status"] == "ok")] if "status" in df else df
    if not {test.x, test.y} <= set(ok.columns):
        ok = ok.iloc[0:0]
    n_groups = len(split_groups(ok, axis=claim.axis)) if len(ok) else 0
    fig, ax = plt.subplots(figsize=(5.2, 3.5 + 0.15 * n_groups), layout="constrained")
    rows = []
    for i, g in enumerate(split_groups(ok, axis=claim.axis) if len(ok) else []):
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
    ax.set_xlabel(_label(test.x, labels))
    ax.set_ylabel(_label(test.y, labels))
    if len(data) and (data["setting"].nunique() > 1 or data["setting"].iloc[0] != "all runs"):
        fig.legend(loc="outside lower center", fontsize=6, frameon=False)  # below the axes, never over the data
    caption = (
        f"{_label(test.y, labels)} against {_label(test.x, labels)}: mean ± std over "
        f"{_seeds_text(data['count'])} seeds per point (ok runs, {int(data['count'].sum()) if len(data) else 0} "
        f"runs), dots = single runs, one line per setting."
    )
    return fig, data, caption


def scatter_figure(df: pd.DataFrame, test: Check, labels: dict[str, str]) -> tuple[Any, pd.DataFrame, str]:
    """``y`` against a metric ``x`` over single runs, coloured by log LR (an association across runs)."""
    cols = [c for c in (test.x, test.y, LR, "run_id") if c in df]
    ok = df[df["status"] == "ok"][cols].dropna() if {test.x, test.y} <= set(df.columns) else df.iloc[0:0]
    fig, ax = plt.subplots(figsize=(5.2, 3.5), layout="constrained")
    if len(ok):
        pts = ax.scatter(ok[test.x], ok[test.y], c=np.log10(ok[LR]), cmap="viridis", s=18)
        fig.colorbar(pts, ax=ax, label="log10 LR")
    ax.set_xlabel(_label(test.x, labels))
    ax.set_ylabel(_label(test.y, labels))
    caption = (
        f"{_label(test.y, labels)} against {_label(test.x, labels)}, one dot per ok run ({len(ok)} runs), "
        "colour = log10 LR."
    )
    return fig, ok.reset_index(drop=True), caption


def _overlay(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> list[Fig]:
    from largelr.report.keys import reported

    keys = reported(df.columns, headline=True)
    if not keys or df.loc[df["status"] == "ok", LR].nunique() < 2:
        return []
    fig, data = plots.normalised_overlay(df, keys)
    n = df[df["status"] == "ok"].groupby(LR).size()
    cap = (f"Per-LR means over {_seeds_text(n)} seeds of {', '.join(keys.values())}, each min-max normalised to "
           "[0, 1] (the paper's headline figure); no spread shown (see the per-claim figures).")  # fmt: skip
    return [Fig(save_figure(fig, data, out, "overlay"), cap, "normalised properties against the learning rate")]


def _attribution(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> list[Fig]:
    maps = load_attribution_maps(study)
    if not len(maps) or maps["lr"].nunique() < 2:
        return []
    fig, data = plots.attribution_maps(maps)
    cap = plots.attribution_caption(data)
    return [Fig(save_figure(fig, data, out, "attribution_maps"), cap, "attribution heat-maps, lowest vs highest LR")]


def _dynamics(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str], x: str = "step") -> list[Fig]:
    hist = load_histories(study)
    if not len(hist) or not any(k in hist for k in plots.DYNAMICS):
        return []
    plain = df.get("cfg.train.bc_weight", pd.Series(1.0, index=df.index)).fillna(1.0) == 1.0
    if "cfg.train.until" in df:  # the factorial's fixed-budget runs are not the plain LR runs
        plain &= df["cfg.train.until"].fillna("converged") == "converged"
    hist = hist[hist["run_id"].isin(set(df.loc[plain, "run_id"]))]
    fig, data = plots.dynamics_curves(hist, x=x)
    n = hist[hist["status"] == "ok"].groupby("lr")["run_id"].nunique()
    against = "the step" if x == "step" else "training progress τ = learning rate × step (matched progress)"
    cap = (f"Training dynamics on a fixed training subset holding the BC samples, per learning rate (mean over "
           f"{_seeds_text(n)} seeds of ok runs, no spread): EBCR, the BC share of per-sample gradient norms, "
           f"confidence, share predicted as the spurious class, acc_BC, against {against}.")  # fmt: skip
    name = "dynamics" if x == "step" else "dynamics_tau"
    return [Fig(save_figure(fig, data, out, name), cap, f"training-dynamics curves for each learning rate against {x}")]


def _dynamics_tau(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> list[Fig]:
    return _dynamics(study, df, out, labels, x="tau")


def _observatory(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> list[Fig]:
    from largelr.report.observatory_figure import observatory_figure

    hist = load_histories(study)
    hist = hist[hist["run_id"].isin(set(df["run_id"]))] if len(hist) else hist
    if not len(hist) or "obs/sharpness" not in hist:
        return []
    fig, data = observatory_figure(hist)
    n = hist[hist["status"] == "ok"].groupby("lr")["run_id"].nunique()
    cap = ("Dynamics observatory, per learning rate: sharpness λ_max of the training loss with each LR's 2/η "
           "dashed (edge of stability); the full-train loss of one seed per LR, × at each catapult's peak (a spike "
           "that starts before the loss fell below half its initial value); the BC share of the training loss "
           f"(EBCR); held-out linear-probe accuracy for y (solid) and s (dashed). Mean over {_seeds_text(n)} seeds "
           "of ok runs, no spread.")  # fmt: skip
    return [
        Fig(save_figure(fig, data, out, "observatory"), cap, "sharpness, loss with catapults, EBCR and probes per LR")
    ]


def _eta_crit(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> list[Fig]:
    from largelr.report.observatory_figure import ETA, regimes_figure

    if ETA not in df or not df[ETA].notna().any():
        return []
    fig, data, onset = regimes_figure(df, labels)
    n = df[df["status"] == "ok"].groupby(LR).size()
    where = (f"the first LR at which most runs catapult is at η/η_crit = {onset:.3g} (dotted line)"
             if np.isfinite(onset) else "no LR has a catapult in most of its runs")  # fmt: skip
    cap = (f"Properties against η/η_crit, η_crit = 2/λ₀ (λ₀: the sharpness at initialisation, measured per run at "
           f"step 0), mean ± std over {_seeds_text(n)} seeds of ok runs; last panel: the share of runs (all "
           f"statuses) whose loss history has a catapult; {where}.")  # fmt: skip
    return [
        Fig(save_figure(fig, data, out, "eta_crit"), cap, "properties and catapult share against eta over eta_crit")
    ]


def _knob_heatmap(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> list[Fig]:
    from largelr.metrics import key_info
    from largelr.report import knobs

    effects = knobs.knob_effects(df, key_info())
    if effects.empty:
        return []
    fig, data = knobs.heatmap(effects)
    n = int((df["status"] == "ok").sum())
    cap = (
        f"Knob x property: ρ̄ (mean within-seed Spearman) between each knob's regularisation strength "
        f"({'; '.join(knobs.strength_axes(effects))}) and each property with a direction, within the knob's "
        f"own sweep (the verdict uses the headline ones), signed so + (blue) is the desirable direction; "
        f"* = the trend test holds (Holm-adjusted p < {knobs.ALPHA}, interval excluding 0); {n} ok runs, "
        "ρ̄ within seed blocks."
    )
    return [Fig(save_figure(fig, data, out, "knob_heatmap"), cap, "heat-map of knob effects on every property")]


EXTRA_FIGURES: dict[str, Callable[[Path, pd.DataFrame, Path, dict[str, str]], list[Fig]]] = {
    "overlay": _overlay,
    "attribution_maps": _attribution,
    "dynamics": _dynamics,
    "dynamics_tau": _dynamics_tau,
    "knob_heatmap": _knob_heatmap,
    "observatory": _observatory,
    "eta_crit": _eta_crit,
}


def claim_sections(df: pd.DataFrame, claims: list[Claim], tests: pd.DataFrame, out: Path, labels: dict[str, str],
                   extras: dict[str, list[Fig]]) -> list[Section]:  # fmt: skip
    """One section per claim: its tests' statistics per setting, one figure per test, the claim's extra figures."""
    sections = []
    for claim in claims:
        sub = df.query(claim.query) if claim.query else df
        figs: list[Fig] = list(extras.get(claim.id, []))
        for test in claim.tests:
            is_axis = test.x == claim.axis
            fig, data, cap = axis_figure(sub, test, claim, labels) if is_axis else scatter_figure(sub, test, labels)
            name = slug(f"claim_{claim.id}_{test.y}_vs_{test.x}" + (f"_given_{test.control}" if test.control else ""))
            alt = f"{_label(test.y, labels)} against {_label(test.x, labels)}"
            figs.append(Fig(save_figure(fig, data, out, name), cap, alt))
        t = tests[tests["claim"] == claim.id][["group", "statistic", "verdict", "why"]]
        t = t.rename(columns={"group": "setting", "statistic": "test", "why": "note"})
        note = f"Runs: {claim.query}." if claim.query else ""
        sections.append(Section(f"Claim {claim.id}: {claim.text}", note, table=t, figures=tuple(figs)))
    return sections


def _wall_time(note: dict[str, Any], env: pd.DataFrame) -> str:
    if note.get("wall_seconds"):
        return f"{note['wall_seconds'] / 60:.1f} min (largelr reproduce, --jobs {note.get('jobs', '?')})"
    times = [pd.Timestamp(t) for t in pd.concat([env["start_time"], env["end_time"]]).dropna()]
    if not times:
        return "unknown"
    return f"{(max(times) - min(times)).total_seconds() / 60:.1f} min (first run start to last run end)"


def provenance_sections(study: Path, df: pd.DataFrame, target: Any | None) -> list[Section]:
    """Commit, versions, hardware, wall time, and run/converged counts per LR."""
    env = load_environments(study)
    note = store.read_note(study)

    def uniq(col: str) -> str:
        vals = [str(v) for v in env[col].dropna().unique()] if col in env else []
        return ", ".join(vals) or "unknown"

    dirty = bool(env["dirty"].fillna(False).any()) if "dirty" in env else False
    rows = [
        ("target / preset", f"{note.get('target', target.name if target else '-')} / {note.get('preset', '-')}"),
        ("command", f"largelr reproduce {note.get('target', '?')} --preset {note.get('preset', '?')}" if note else "-"),
        ("code commit", uniq("commit")[:200] + (" (uncommitted changes)" if dirty else "")),
        ("largelr / torch / python", f"{uniq('largelr')} / {uniq('torch')} / {uniq('python')}"),
        ("hardware", f"device {uniq('device')}; cpu {uniq('cpu')} x {uniq('cpu_count')}; gpu {uniq('gpu')}"),
        ("hosts", uniq("host")),
        ("wall time", _wall_time(note, env)),
        ("runs", f"{len(df)} finished, {df.attrs.get('incomplete', 0)} incomplete"),
        ("report written", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")),
    ]
    prov = pd.DataFrame(rows, columns=["what", "value"])
    counts = (
        df.assign(ok=df["status"] == "ok", failed=df["status"] == "failed", diverged=df["status"] == "diverged")
        .groupby(LR)[["ok", "failed", "diverged", "converged"]]
        .sum()
        .astype(int)
        .reset_index()
        .rename(columns={LR: "lr"})
    )
    return [
        Section("Provenance", table=prov),
        Section("Runs per learning rate", table=counts, caption="converged: train acc 100% and loss below tol."),
    ]


def build_target_sections(study: Path, target: Any, out: Path, converged_only: bool = False) -> list[Section]:
    from largelr.report.keys import declared_labels as key_labels
    from largelr.report.sections import analysed

    full = load_results(study)
    hist = load_histories(study) if target.derive_fn is not None else pd.DataFrame()
    df = analysed(target.derive(full, hist), converged_only)
    left = full[~full["run_id"].isin(df["run_id"])]
    labels = {**key_labels(), **target.labels}
    claims = target.claim_specs(df)
    tests = evaluate_claims(df, claims, labels, sesoi=target.sesoi)
    table = claim_table(tests, claims)
    df.to_csv(out / "runs.csv", index=False)
    tests.to_csv(out / "tests.csv", index=False)
    table.to_csv(out / "verdicts.csv", index=False)
    notes = [
        design_text(tests, store.read_note(study).get("preset", "?")),
        *(f"Skipped here: {m}" for m in target.missing()),
    ]
    if converged_only:
        per_lr = "; ".join(f"LR {lr:g}: {n}" for lr, n in left.groupby(LR).size().items()) or "none"
        notes.append(f"Converged runs only: {int((df['status'] == 'ok').sum())} ok runs used; left out, not "
                     f"converged ({len(left)}): {per_lr}.")  # fmt: skip
    rules = [c.rule for c in claims if c.rule]
    caption = " ".join([RULE, *rules, "Data: verdicts.csv (one row per claim and setting), tests.csv (every test)."])
    head = Section("Verdicts", "\n\n".join(notes), table=table.drop(columns="outcome"), caption=caption)
    extras: dict[str, list[Fig]] = {}
    for claim_id, names in target.extra_figures.items():
        for name in names:
            extras.setdefault(claim_id, []).extend(EXTRA_FIGURES[name](study, df, out, labels))
    return [head, *claim_sections(df, claims, tests, out, labels, extras), *provenance_sections(study, df, target)]


def design_text(tests: pd.DataFrame, preset: str) -> str:
    """One line on the power of the design behind a verdict table: the family size and the smallest adjusted p
    its weakest test could reach at all."""
    from largelr.report.stats import ALPHA, fmt_p

    m = int(tests["p_adj"].notna().sum())
    worst = tests["p_min_adj"].max() if m else float("nan")
    verdict = (
        f"every test could reach {ALPHA}" if worst < ALPHA else f"not every test could reach {ALPHA} (underpowered)"
    )
    return (f"Design (preset {preset}): {m} tests in one Holm family; the weakest test's smallest attainable "
            f"adjusted p is {fmt_p(worst)}, so {verdict}.")  # fmt: skip


def write_target_report(
    study: str | Path, target: Any, out: str | Path | None = None, converged_only: bool = False
) -> Path:
    """Write the target's report (index.html, report.md, CSVs, figures) into ``out`` (default study/report);
    ``converged_only`` bases every verdict on the converged runs."""
    study = Path(study)
    load_results(study)  # no finished runs: a UserError before anything is written
    out = Path(out) if out else study / "report"
    title = f"largelr reproduce: {target.name} (claims {', '.join(target.claims_covered)})"
    return write_pages(out, title, lambda tmp: build_target_sections(study, target, tmp, converged_only))

"""The report's sections: a study summary, the groups x properties table, and one block per group.

Every statistic, table and figure of a group block uses only that group's runs (runs sharing every
setting but the learning rate and the seeds, ``largelr.report.groups``); a study with one group
gets one block without a group heading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from largelr.metrics import Key
from largelr.report import figures, tables
from largelr.report.collect import describe_damaged, load_attribution_maps, load_curves, load_histories
from largelr.report.groups import Group, split_groups, varying_settings
from largelr.report.keys import LR, desirable, reported
from largelr.report.page import Section, slug
from largelr.report.study_verdicts import study_verdict_section


@dataclass
class StudyData:
    """Everything the sections read: one row per run, and the long tables loaded once per study."""

    df: pd.DataFrame
    curves: pd.DataFrame
    histories: pd.DataFrame
    maps: pd.DataFrame

    @classmethod
    def load(cls, study: Path, df: pd.DataFrame) -> StudyData:
        return cls(df, load_curves(study), load_histories(study), load_attribution_maps(study))


def _rows_of(table: pd.DataFrame, run_ids: pd.Series) -> pd.DataFrame:
    return table[table["run_id"].isin(set(run_ids))] if len(table) else table


def analysed(df: pd.DataFrame, converged_only: bool) -> pd.DataFrame:
    """The runs the claims use: with ``converged_only`` the ok runs that converged (failed and diverged
    runs stay, so plots still mark them; statistics only ever use ok runs), and runs whose config asks for a
    fixed budget (``train.until=budget``: compared after the same number of steps by design)."""
    if not converged_only:
        return df
    budget = df["cfg.train.until"] == "budget" if "cfg.train.until" in df else False
    return df[(df["status"] != "ok") | df["converged"].astype(bool) | budget]


def convergence_text(df: pd.DataFrame, converged_only: bool) -> str:
    """What the group's numbers compare: runs at convergence, or at a fixed budget."""
    n_conv = int(df["converged"].astype(bool).sum())
    trained = df[df["status"] == "ok"] if (df["status"] == "ok").any() else df  # failed runs stop early
    steps = trained["steps"].dropna()
    if not len(steps):
        budget = "unknown"
    elif steps.min() == steps.max():
        budget = f"{int(steps.min())}"
    else:
        budget = f"{int(steps.min())}–{int(steps.max())}"
    if n_conv == 0:
        return (
            f"No run converged: these runs are compared at a fixed training budget ({budget} steps), "
            "not at convergence as in the paper."
        )
    if n_conv == len(df):
        return f"All {n_conv} runs converged: statistics compare learning rates at convergence."
    if converged_only:
        return (
            f"{n_conv} of {len(df)} runs converged; statistics use only the converged ones "
            "(`--converged-only`), i.e. they compare learning rates at convergence."
        )
    return (
        f"{n_conv} of {len(df)} runs converged; statistics use all ok runs, converged or stopped at the "
        f"budget ({budget} steps), so they mix comparison at convergence and at a fixed budget "
        "(`largelr report --converged-only` restricts them to converged runs)."
    )


def summary(study: Path, df: pd.DataFrame, groups: list[Group], converged_only: bool) -> Section:
    counts = df["status"].value_counts().to_dict()
    commits = df.attrs.get("commits", [])
    dirty = bool(df["dirty"].fillna(False).any())
    varying = [c.removeprefix("cfg.") for c in varying_settings(df, LR)]
    grouping = (
        f" {len(groups)} groups of runs differing in {', '.join(varying)}; every statistic is computed "
        "within a group, never pooled."
        if len(groups) > 1
        else ""
    )
    claims = (
        "Claims use converged runs only (`--converged-only`)."
        if converged_only
        else "Claims use every ok run, converged or not."
    )
    text = (
        f"Study `{study}`: {len(df)} finished runs ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}), "
        f"{df.attrs.get('incomplete', 0)} incomplete, {df[LR].nunique()} learning rates, "
        f"{df['cfg.seeds.init'].nunique()} seeds. Dataset {', '.join(map(str, df['cfg.data.name'].unique()))}, "
        f"model {', '.join(map(str, df['cfg.model.name'].unique()))}, optimizer "
        f"{', '.join(map(str, df['cfg.optim.name'].unique()))}.{grouping} Code: "
        f"{', '.join(c[:10] for c in commits) or 'unknown commit'}{' (dirty)' if dirty else ''}; hosts: "
        f"{', '.join(map(str, df['host'].dropna().unique()))}. Means and spreads use runs with status ok; "
        f"diverged and failed runs are marked on every plot. {claims}"
    )
    return Section("Summary", text)


def build_sections(study: Path, data: StudyData, out: Path, converged_only: bool = False) -> list[Section]:
    """All sections of the report, the verdicts of claims 1-2 first; writes runs.csv, groups.csv, spearman.csv,
    per_lr.csv, convergence.csv (each with a ``group`` column) and the figures under ``out``."""
    df = data.df
    df.to_csv(out / "runs.csv", index=False)
    groups = split_groups(df, LR)
    sections = study_verdict_section(analysed(df, converged_only), out)
    sections.append(summary(study, df, groups, converged_only))
    damaged = df.attrs.get("damaged", {})
    if damaged:
        sections.append(
            Section(
                "Damaged runs (left out)",
                f"{len(damaged)} finished runs are damaged and left out of every table and figure: "
                f"{describe_damaged(damaged)}. `largelr repair {study}` removes them so the next sweep redoes them.",
            )
        )
    used = [Group(g.key, g.label, analysed(g.df, converged_only)) for g in groups]

    shown, long = tables.groups_table(used, reported(df.columns), reported(df.columns, headline=True))
    long.to_csv(out / "groups.csv", index=False)  # every property; the page shows the headline ones
    sections.append(
        Section(
            "Headline properties by group",
            "ρ̄ (mean within-seed Spearman) of the learning rate with each headline property within each group "
            f"(ok runs{', converged only' if converged_only else ''}), the Holm-adjusted p over this table and n; "
            "✓ = the test holds in the paper's desirable direction, ✗ = it does not hold (the other way, or no "
            "effect). groups.csv has every property, with the change and its interval.",
            table=shown,
        )
    )

    csvs: dict[str, list[pd.DataFrame]] = {"spearman": [], "per_lr": [], "convergence": []}
    for i, (g, u) in enumerate(zip(groups, used)):
        level = 2 if len(groups) == 1 else 3
        if len(groups) > 1:
            sections.append(Section(f"Group {i + 1}: {g.label}", f"{len(g.df)} runs."))
        prefix = "" if len(groups) == 1 else f"g{i + 1}_"
        for s in group_sections(g.df, u.df, data, out, prefix, converged_only, csvs):
            s.level = level
            sections.append(s)
        for frames in csvs.values():
            frames[-1].insert(0, "group", g.label)
    for name, frames in csvs.items():
        pd.concat(frames).to_csv(out / f"{name}.csv", index=False)
    return sections + knob_sections(analysed(df, converged_only), out)


def knob_sections(df: pd.DataFrame, out: Path, keys: dict[str, Key] | None = None) -> list[Section]:
    """The "Knob comparison" sections when the study varies more than one knob (``largelr.knobs``), else none.

    ``keys`` (default: the analysed keys as their metrics declare them) gives labels and directions.
    """
    from largelr.report import knobs

    if len(knobs.varied_knobs(df)) < 2:
        return []
    if keys is None:
        keys = {k: Key(label, desirable(k)) for k, label in reported(df.columns).items()}
    effects = knobs.knob_effects(df, keys)
    if effects.empty:
        return []
    effects.to_csv(out / "knob_effects.csv", index=False)
    text = (
        "Each knob varied one at a time (one row per group of other settings). Cells: ρ̄, the mean Spearman "
        f"correlation within seed blocks between the knob's regularisation strength "
        f"({'; '.join(knobs.strength_axes(effects))}) and each property, signed so + is the desirable direction; "
        f"* = the trend test holds (Holm-adjusted p < {knobs.ALPHA} over this comparison's tests, interval of the "
        "change excluding 0; docs/statistics.md). Consistency: properties improved / made worse / shown to have "
        "no effect, of those tested. Runs with status ok; knob_effects.csv has every change with its interval."
    )
    fig = figures.knob_heatmap(effects, int((df["status"] == "ok").sum()), out)
    return [
        Section("Knob comparison: consistency", text, table=knobs.consistency(effects)),
        Section(
            "Knob comparison: knob × property", table=knobs.knob_property_table(effects), figures=(fig,) if fig else ()
        ),
    ]


def group_sections(
    full: pd.DataFrame,
    df: pd.DataFrame,
    data: StudyData,
    out: Path,
    prefix: str,
    converged_only: bool,
    csvs: dict[str, list[pd.DataFrame]],
) -> list[Section]:
    """The sections of one group: ``full`` its runs, ``df`` those the claims use; appends its tables to ``csvs``."""
    props = reported(df.columns)
    conv = tables.convergence_table(full)
    csvs["convergence"].append(conv)
    sections = [
        Section(
            "Convergence",
            convergence_text(full, converged_only),
            table=conv.rename(columns={LR: "lr"}),
        )
    ]

    overlay = figures.overlay(df, reported(df.columns, headline=True), out, f"{prefix}overlay")
    if overlay:
        sections.append(Section("All properties vs learning rate", figures=(overlay,)))

    sp = tables.spearman_table(df, props)
    csvs["spearman"].append(sp.copy())
    sections.append(
        Section(
            "Trend of each property with the learning rate",
            "Over runs with status ok, within seed blocks: ρ̄ (mean within-seed Spearman; > 0: the property rises "
            "with the LR), the change across the LR range with its 95% bootstrap interval, the exact p and the "
            "Holm-adjusted p over this table; 'verdict' by the rule of docs/statistics.md (– = no declared "
            "direction, no verdict).",
            table=sp[["label", "desirable", "rho", "change", "ci_low", "ci_high", "p_value", "p_adj", "n", "verdict"]],
        )
    )

    summ = tables.per_lr_summary(df, props)
    nice = pd.DataFrame(
        {"lr": summ[LR], "runs (ok/failed/diverged)": [f"{r.ok}/{r.failed}/{r.diverged}" for r in summ.itertuples()]}
    )
    for key, label in props.items():
        nice[label] = [
            tables.format_mean(m, s, n) for m, s, n in zip(summ[f"{key} mean"], summ[f"{key} std"], summ[f"{key} n"])
        ]
    csvs["per_lr"].append(nice.copy())
    sections.append(Section("Per learning rate (mean ± std over seeds)", table=nice))

    ok = df[df["status"] == "ok"]
    measured = {k: lab for k, lab in props.items() if pd.to_numeric(ok[k], errors="coerce").notna().any()}
    figs = tuple(figures.property_vs_lr(df, k, lab, out, f"{prefix}{slug(k)}") for k, lab in measured.items())
    sections.append(Section("Each property vs learning rate", figures=figs))
    sections += extra_figures(df, data, out, prefix)
    return sections


def extra_figures(df: pd.DataFrame, data: StudyData, out: Path, prefix: str) -> list[Section]:
    """Attribution heat-maps, training dynamics, the observatory and pruning curves of the group's runs."""
    sections = []
    maps = figures.attribution(_rows_of(data.maps, df["run_id"]), out, f"{prefix}attribution_maps")
    if maps:
        sections.append(Section("Attribution heat-maps, lowest vs highest learning rate", figures=(maps,)))
    hist = _rows_of(data.histories, df["run_id"])
    dyn = figures.dynamics(hist, out, f"{prefix}dynamics")
    if dyn:
        sections.append(Section("Training dynamics (mechanism)", figures=(dyn,)))
    obs = figures.observatory(hist, out, f"{prefix}observatory")
    if obs:
        sections.append(Section("Dynamics observatory", "Runs trained with eval.observatory=True.", figures=(obs,)))

    curves = _rows_of(data.curves, df["run_id"])
    if len(curves):
        figs = [
            figures.pruning(curves[curves["curve"] == kind], kind, metric, out, f"{prefix}{kind}_{metric}")
            for kind in figures.CURVE_KINDS
            if (curves["curve"] == kind).any()
            for metric in ("acc", "worst_group_acc")
        ]
        sections.append(Section("Pruning curves", figures=tuple(figs)))
    return sections

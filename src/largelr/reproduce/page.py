"""The report of a reproduce target: the verdict table first (the rule below it), one section per claim,
provenance last.

Every figure comes from ``largelr.report.figures``, as the study report's do: a caption (what is plotted, how
many seeds, the spread shown), alt text and the CSV of what it plots beside it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from largelr import store
from largelr.report import figures
from largelr.report.collect import load_attribution_maps, load_environments, load_histories, load_results
from largelr.report.keys import LR
from largelr.report.page import Fig, Section, slug, write_pages
from largelr.report.verdicts import RULE, Claim, claim_table, evaluate_claims


def _overlay(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    from largelr.report.keys import reported

    return figures.overlay(df, reported(df.columns, headline=True), out)


def _attribution(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    return figures.attribution(load_attribution_maps(study), out)


def _plain_histories(study: Path, df: pd.DataFrame) -> pd.DataFrame:
    """The histories of the plain LR runs: no BC up-weighting, trained to convergence (the mechanism's factorial
    also has fixed-budget runs)."""
    hist = load_histories(study)
    if not len(hist):
        return hist
    plain = df.get("cfg.train.bc_weight", pd.Series(1.0, index=df.index)).fillna(1.0) == 1.0
    if "cfg.train.until" in df:
        plain &= df["cfg.train.until"].fillna("converged") == "converged"
    return hist[hist["run_id"].isin(set(df.loc[plain, "run_id"]))]


def _observatory(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    hist = load_histories(study)
    return figures.observatory(hist[hist["run_id"].isin(set(df["run_id"]))] if len(hist) else hist, out)


def _knob_heatmap(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    from largelr.metrics import key_info
    from largelr.report import knobs

    return figures.knob_heatmap(knobs.knob_effects(df, key_info()), int((df["status"] == "ok").sum()), out)


def _dynamics(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    return figures.dynamics(_plain_histories(study, df), out)


def _dynamics_tau(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    return figures.dynamics(_plain_histories(study, df), out, "dynamics_tau", x="tau")


def _eta_crit(study: Path, df: pd.DataFrame, out: Path, labels: dict[str, str]) -> Fig | None:
    return figures.eta_crit(df, labels, out)


EXTRA_FIGURES: dict[str, Callable[[Path, pd.DataFrame, Path, dict[str, str]], Fig | None]] = {
    "overlay": _overlay,
    "attribution_maps": _attribution,
    "dynamics": _dynamics,
    "dynamics_tau": _dynamics_tau,
    "knob_heatmap": _knob_heatmap,
    "observatory": _observatory,
    "eta_crit": _eta_crit,
}  # name in a target's EXTRA_FIGURES -> the figure (None when its runs cannot draw it)


def claim_sections(df: pd.DataFrame, claims: list[Claim], tests: pd.DataFrame, out: Path, labels: dict[str, str],
                   extras: dict[str, list[Fig]]) -> list[Section]:  # fmt: skip
    """One section per claim: its tests' statistics per setting, one figure per test, the claim's extra figures."""
    sections = []
    for claim in claims:
        sub = df.query(claim.query) if claim.query else df
        figs: list[Fig] = list(extras.get(claim.id, []))
        for test in claim.tests:
            name = slug(f"claim_{claim.id}_{test.y}_vs_{test.x}" + (f"_given_{test.control}" if test.control else ""))
            if test.x == claim.axis:
                figs.append(figures.claim_axis(sub, test, claim, labels, out, name))
            else:
                figs.append(figures.claim_scatter(sub, test, labels, out, name))
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
            if (fig := EXTRA_FIGURES[name](study, df, out, labels)) is not None:
                extras.setdefault(claim_id, []).append(fig)
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

"""Write a study's report: runs.csv, figures (each beside the CSV of what it plots), report.md, index.html.

The report is derived data: it is built in a temporary directory and swapped in whole, so an
interrupted report never leaves a half-written one behind.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from largelr.report import plots, tables
from largelr.report.collect import load_attribution_maps, load_curves, load_histories, load_results
from largelr.report.properties import HEADLINE, present
from largelr.store import current_umask


@dataclass
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figures: tuple[str, ...] = ()  # paths relative to the report dir


def _slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def _save(fig, data: pd.DataFrame, out: Path, name: str) -> str:
    (out / "figures").mkdir(exist_ok=True)
    fig.savefig(out / "figures" / f"{name}.png", dpi=120)
    plt.close(fig)
    data.to_csv(out / "figures" / f"{name}.csv", index=False)
    return f"figures/{name}.png"


def build_sections(study: Path, df: pd.DataFrame, out: Path) -> list[Section]:
    df.to_csv(out / "runs.csv", index=False)
    props = present(df.columns)
    counts = df["status"].value_counts().to_dict()
    n_lr = df["cfg.optim.lr"].nunique()
    commits = df.attrs.get("commits", [])
    dirty = bool(df["dirty"].fillna(False).any())
    header = (
        f"Study `{study}`: {len(df)} finished runs ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}), "
        f"{df.attrs.get('incomplete', 0)} incomplete, {n_lr} learning rates, "
        f"{df['cfg.seeds.init'].nunique()} seeds. Dataset {', '.join(map(str, df['cfg.data.name'].unique()))}, "
        f"model {', '.join(map(str, df['cfg.model.name'].unique()))}, optimizer "
        f"{', '.join(map(str, df['cfg.optim.name'].unique()))}. Code: "
        f"{', '.join(c[:10] for c in commits) or 'unknown commit'}{' (dirty)' if dirty else ''}; hosts: "
        f"{', '.join(map(str, df['host'].dropna().unique()))}. Means and spreads use runs with status ok; "
        "diverged and failed runs are marked on every plot."
    )
    sections = [Section("Summary", header)]

    headline = present(df.columns, HEADLINE)
    if headline and df.loc[df["status"] == "ok", "cfg.optim.lr"].nunique() > 1:
        fig, data = plots.normalised_overlay(df, headline)
        sections.append(
            Section(
                "All properties vs learning rate",
                "Per-LR means, min-max normalised (the paper's headline figure).",
                figures=(_save(fig, data, out, "overlay"),),
            )
        )

    sp = tables.spearman_table(df, props)
    sp.to_csv(out / "spearman.csv", index=False)
    sections.append(
        Section(
            "Spearman rank correlation with the learning rate",
            "Over runs with status ok. ρ > 0 means the property rises with the LR; 'as paper' marks a "
            "significant (p < 0.05) correlation in the paper's desirable direction.",
            table=sp[["label", "property", "desirable", "spearman_rho", "p_value", "n", "as_paper"]],
        )
    )

    summ = tables.per_lr_summary(df, props)
    nice = pd.DataFrame(
        {
            "lr": summ["cfg.optim.lr"],
            "runs (ok/failed/diverged)": [f"{r.ok}/{r.failed}/{r.diverged}" for r in summ.itertuples()],
        }
    )
    for key, label in props.items():
        nice[label] = [
            tables.format_mean(m, s, n) for m, s, n in zip(summ[f"{key} mean"], summ[f"{key} std"], summ[f"{key} n"])
        ]
    nice.to_csv(out / "per_lr.csv", index=False)
    sections.append(Section("Per learning rate (mean ± std over seeds)", table=nice))

    figs = tuple(_save(*plots.property_vs_lr(df, key, label), out, _slug(key)) for key, label in props.items())
    sections.append(Section("Each property vs learning rate", figures=figs))

    maps = load_attribution_maps(study)
    if len(maps) and maps["lr"].nunique() > 1:
        fig = _save(*plots.attribution_maps(maps), out, "attribution_maps")
        sections.append(
            Section(
                "Attribution heat-maps, lowest vs highest LR",
                "Mean normalised attribution (DeepLift) over the same test images; the red "
                "line separates the core and spurious regions.",
                figures=(fig,),
            )
        )

    hist = load_histories(study)
    if len(hist) and any(k in hist for k in plots.DYNAMICS):
        fig = _save(*plots.dynamics_curves(hist), out, "dynamics")
        sections.append(
            Section(
                "Training dynamics (mechanism)",
                "On a fixed training subset holding the bias-conflicting (BC) samples: the "
                "share of the loss they carry (EBCR), how confidently they are predicted, how "
                "often as their spurious class, and their accuracy, for each LR.",
                figures=(fig,),
            )
        )

    sections += knob_sections(df, out)

    curves = load_curves(study)
    if len(curves):
        figs = []
        for kind, title, xlabel in (
            ("prune", "global magnitude pruning", "fraction of weights pruned"),
            ("prune_layer", "per-layer magnitude pruning", "fraction of weights pruned"),
            ("prune_struct", "structured (unit) pruning", "fraction of hidden units removed"),
        ):
            c = curves[curves["curve"] == kind]
            if len(c):
                for metric in ("acc", "worst_group_acc"):
                    fig_data = plots.pruning_curves(c, metric, f"{title}: test {metric.replace('_', ' ')}", xlabel)
                    figs.append(_save(*fig_data, out, f"{kind}_{metric}"))
        sections.append(
            Section("Pruning curves", "Without fine-tuning; mean over seeds of ok runs.", figures=tuple(figs))
        )
    return sections


def knob_sections(df: pd.DataFrame, out: Path) -> list[Section]:
    """The "Knob comparison" section when the study varies more than one knob (else nothing)."""
    from largelr.report import knobs

    if len(knobs.varied_knobs(df)) < 2:
        return []
    effects = knobs.knob_effects(df, report_keys())
    if effects.empty:
        return []
    effects.to_csv(out / "knob_effects.csv", index=False)
    counts = knobs.consistency(effects)
    text = (
        f"Each knob varied one at a time (others fixed; one row per group of other settings). Cells: Spearman ρ "
        f"between the knob's regularisation strength ({', '.join(knobs.strength_axes(effects))}) and each property, "
        f"signed so + is the desirable direction; * = p < {knobs.ALPHA}. Consistency: properties improved / "
        "made worse significantly, of those tested. Runs with status ok."
    )
    fig = _save(*knobs.heatmap(effects), out, "knob_heatmap")
    return [
        Section("Knob comparison: consistency", text, table=counts),
        Section("Knob comparison: knob × property", table=knobs.knob_property_table(effects), figures=(fig,)),
    ]


def report_keys() -> dict:
    """Metric key -> Key (label, desirable direction) as the metrics declare them; until every metric
    declares its keys (``metrics.key_info``), the report's property list fills in."""
    from largelr.metrics import Key, key_info
    from largelr.report.properties import PROPERTIES

    declared = key_info()
    fallback = {k: Key(label, "higher" if d > 0 else "lower") for k, (label, d) in PROPERTIES.items()}
    return {**fallback, **declared}


def to_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for s in sections:
        parts.append(f"## {s.title}\n")
        if s.text:
            parts.append(s.text + "\n")
        if s.table is not None:
            parts.append(tables.markdown_table(s.table) + "\n")
        parts += [f"![{Path(f).stem}]({f})\n" for f in s.figures]
    return "\n".join(parts)


def to_html(title: str, sections: list[Section], root: Path) -> str:
    """A self-contained page: figures are embedded as base64 PNGs, no external resources."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            body.append(f"<p>{html.escape(s.text)}</p>")
        if s.table is not None:
            body.append(s.table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0))
        for f in s.figures:
            data = base64.b64encode((root / f).read_bytes()).decode()
            body.append(f'<img alt="{html.escape(Path(f).stem)}" src="data:image/png;base64,{data}">')
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "img{max-width:49%;margin:2px}table{border-collapse:collapse;font-size:13px}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(study: str | Path, out: str | Path | None = None) -> Path:
    """Build the whole report for ``study`` into ``out`` (default ``study/report``) and return ``out``."""
    study = Path(study)
    df = load_results(study)  # fails (UserError) before anything is written
    out = Path(out) if out else study / "report"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    try:
        sections = build_sections(study, df, tmp)
        title = f"largelr report: {study.name}"
        (tmp / "report.md").write_text(to_markdown(title, sections))
        (tmp / "index.html").write_text(to_html(title, sections, tmp))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes a 0700 directory
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out

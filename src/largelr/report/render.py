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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from largelr.report import plots, tables
from largelr.report.collect import load_attribution_maps, load_curves, load_histories, load_results
from largelr.report.properties import HEADLINE, present
from largelr.store import current_umask


@dataclass(frozen=True)
class Fig:
    """A figure of a report: the PNG's path relative to the report dir (its data is the CSV beside it),
    the caption (what is plotted, how many seeds, the spread shown) and the alt text."""

    path: str
    caption: str = ""
    alt: str = ""


@dataclass
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figures: tuple[str | Fig, ...] = ()  # paths relative to the report dir, or Fig with caption and alt text
    caption: str = ""  # shown under the table


def as_fig(f: str | Fig) -> Fig:
    """A bare path becomes a Fig whose alt text is the file's name in words."""
    return f if isinstance(f, Fig) else Fig(f, alt=Path(f).stem.replace("_", " "))


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
    from largelr.report.reproduce_page import study_verdict_section

    sections += study_verdict_section(df)

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


def to_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for s in sections:
        parts.append(f"## {s.title}\n")
        if s.text:
            parts.append(s.text + "\n")
        if s.table is not None:
            parts.append(tables.markdown_table(s.table) + "\n")
        if s.caption:
            parts.append(f"*{s.caption}*\n")
        for f in map(as_fig, s.figures):
            parts.append(f"![{f.alt}]({f.path})\n")
            csv = Path(f.path).with_suffix(".csv")
            parts.append(f"*{f.caption}* [data]({csv.as_posix()})\n" if f.caption else f"[data]({csv.as_posix()})\n")
    return "\n".join(parts)


VERDICT_CLASSES = {"holds": "v-holds", "does not hold": "v-fails", "inconclusive": "v-inc"}
STYLE = (
    "*{box-sizing:border-box}body{font-family:system-ui,sans-serif;line-height:1.45;max-width:1200px;"
    "margin:0 auto;padding:1em;color:#222}h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;"
    "border-bottom:1px solid #ddd}.scroll{overflow-x:auto;max-width:100%;margin:.5em 0}"
    "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4}td.v-holds{background:#d9f2d9}"
    "td.v-fails{background:#f7d4d4}td.v-inc{background:#f2f2f2}.figs{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0;flex:1 1 460px;max-width:100%}figure img{max-width:100%;height:auto;display:block}"
    "figcaption{font-size:13px;color:#444}.caption{font-size:13px;color:#444}"
    "@media (max-width:600px){body{padding:.5em}figure{flex-basis:100%}td,th{padding:2px 4px}}"
)


def _html_table(table: pd.DataFrame) -> str:
    out = table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)
    for verdict, cls in VERDICT_CLASSES.items():
        out = out.replace(f"<td>{verdict}</td>", f'<td class="{cls}">{verdict}</td>')
    return f'<div class="scroll">{out}</div>'


def to_html(title: str, sections: list[Section], root: Path) -> str:
    """A self-contained page: figures and their CSVs embedded as data URIs, no external resources;
    wide tables scroll inside their box and figures shrink to the window (phone width included)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        body.append(f'<h2 id="{_slug(s.title)}">{html.escape(s.title)}</h2>')
        if s.text:
            body += [f"<p>{html.escape(p)}</p>" for p in s.text.split("\n\n")]
        if s.table is not None:
            body.append(_html_table(s.table))
        if s.caption:
            body.append(f'<p class="caption">{html.escape(s.caption)}</p>')
        figs = []
        for f in map(as_fig, s.figures):
            png = base64.b64encode((root / f.path).read_bytes()).decode()
            csv_path = (root / f.path).with_suffix(".csv")
            link = ""
            if csv_path.is_file():
                data = base64.b64encode(csv_path.read_bytes()).decode()
                link = f' <a download="{html.escape(csv_path.name)}" href="data:text/csv;base64,{data}">data (CSV)</a>'
            figs.append(
                f'<figure><img alt="{html.escape(f.alt)}" src="data:image/png;base64,{png}">'
                f"<figcaption>{html.escape(f.caption)}{link}</figcaption></figure>"
            )
        if figs:
            body.append(f'<div class="figs">{"".join(figs)}</div>')
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_pages(out: Path, title: str, build: Callable[[Path], list[Section]]) -> Path:
    """Build a report into a temporary directory beside ``out`` (``build(tmp)`` writes figures/CSVs and
    returns the sections), write report.md and index.html, then swap it in whole. Returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    try:
        sections = build(tmp)
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


def write_report(study: str | Path, out: str | Path | None = None) -> Path:
    """Build the whole report for ``study`` into ``out`` (default ``study/report``) and return ``out``."""
    study = Path(study)
    df = load_results(study)  # fails (UserError) before anything is written
    out = Path(out) if out else study / "report"
    return write_pages(out, f"largelr report: {study.name}", lambda tmp: build_sections(study, df, tmp))

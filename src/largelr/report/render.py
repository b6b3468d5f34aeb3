"""Write a study's report: runs.csv, figures (each beside the CSV of what it plots), report.md, index.html.

The report is derived data: it is built in a temporary directory and swapped in whole, so an
interrupted report never leaves a half-written one behind.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from largelr.errors import UserError
from largelr.report import tables
from largelr.report.collect import describe_damaged, load_results
from largelr.report.sections import Section, StudyData, _slug, as_fig, build_sections
from largelr.store import check_writable, current_umask

log = logging.getLogger(__name__)


def to_markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for s in sections:
        parts.append(f"{'#' * s.level} {s.title}\n")
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
    table = table.map(lambda v: "–" if v is None else v)  # None (no verdict) shows as NaN does
    out = table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)
    for verdict, cls in VERDICT_CLASSES.items():
        out = out.replace(f"<td>{verdict}</td>", f'<td class="{cls}">{verdict}</td>')
    return f'<div class="scroll">{out}</div>'


def to_html(title: str, sections: list[Section], root: Path) -> str:
    """A self-contained page: figures and their CSVs embedded as data URIs, no external resources;
    wide tables scroll inside their box and figures shrink to the window (phone width included)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        body.append(f'<h{s.level} id="{_slug(s.title)}">{html.escape(s.title)}</h{s.level}>')
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


def write_report(
    study: str | Path, out: str | Path | None = None, converged_only: bool = False, strict: bool = False
) -> Path:
    """Build the whole report for ``study`` into ``out`` (default ``study/report``) and return ``out``.

    Args:
        study: the results directory.
        out: the report directory, replaced whole.
        converged_only: base every statistic, table and figure on the ok runs that converged (and
            mark the failed and diverged ones); the report says which runs its claims use.
        strict: fail (UserError) if any run is damaged; by default damaged runs (``store.verify_run``)
            are left out, logged as a warning and listed in the report.
    """
    study = Path(study)
    df = load_results(study)  # fails (UserError) before anything is written
    damaged = df.attrs.get("damaged", {})
    if damaged and strict:
        raise UserError(f"{len(damaged)} damaged runs in {study} (--strict): {describe_damaged(damaged)}")
    for rid, problems in damaged.items():
        log.warning("skipping damaged run %s: %s", study / rid, "; ".join(problems))
    out = Path(out) if out else study / "report"
    check_writable(out, "report directory")
    check_writable(out.parent, "report directory")
    title = f"largelr report: {study.name}"
    return write_pages(out, title, lambda tmp: build_sections(study, StudyData.load(study, df), tmp, converged_only))

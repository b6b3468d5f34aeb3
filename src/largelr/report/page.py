"""A report page: sections (text, a table, figures with captions), saved figures, Markdown and HTML.

Both the study report (``largelr.report.render``) and the reproduce pages (``largelr.reproduce.page``) are
built from these sections (their figures from ``largelr.report.figures``) and written by ``write_pages`` (built
aside, swapped in whole). A CSV file of the report named in a text or caption becomes a link to it (a relative
href, in Markdown and HTML alike). In HTML every number sits in a ``<span class="num">`` that never breaks across
lines, and tables scroll inside their box, so a phone-width window neither splits ``2.3e-07`` nor overflows.
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

import pandas as pd

from largelr.report.tables import markdown_table
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
    level: int = 2  # heading level: 2 for the study's sections, 3 inside a group
    caption: str = ""  # shown under the table


def as_fig(f: str | Fig) -> Fig:
    """A bare path becomes a Fig whose alt text is the file's name in words."""
    return f if isinstance(f, Fig) else Fig(f, alt=Path(f).stem.replace("_", " "))


def slug(key: str) -> str:
    """A file- and anchor-safe name: lowercase letters and digits joined by ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def save_figure(fig, data: pd.DataFrame, out: Path, name: str) -> str:
    """Save ``fig`` as ``out/figures/NAME.png`` beside the CSV of what it plots (``data``); return its path
    relative to ``out``."""
    (out / "figures").mkdir(exist_ok=True)
    fig.savefig(out / "figures" / f"{name}.png", dpi=120)
    data.to_csv(out / "figures" / f"{name}.csv", index=False)
    return f"figures/{name}.png"


CSV_NAME = re.compile(r"(?<![\w./\[(-])([\w-]+\.csv)\b")


def link_csvs(text: str, root: Path, link: Callable[[str], str]) -> str:
    """``text`` with every name of a CSV file directly in ``root`` replaced by ``link(name)``."""
    return CSV_NAME.sub(lambda m: link(m[1]) if (root / m[1]).is_file() else m[1], text)


def to_markdown(title: str, sections: list[Section], root: Path) -> str:
    def md(text: str) -> str:
        return link_csvs(text, root, lambda name: f"[{name}]({name})")

    parts = [f"# {title}\n"]
    for s in sections:
        parts.append(f"{'#' * s.level} {s.title}\n")
        if s.text:
            parts.append(md(s.text) + "\n")
        if s.table is not None:
            parts.append(markdown_table(s.table) + "\n")
        if s.caption:
            parts.append(f"*{md(s.caption)}*\n")
        for f in map(as_fig, s.figures):
            parts.append(f"![{f.alt}]({f.path})\n")
            csv = Path(f.path).with_suffix(".csv")
            data = f"[data: {csv.name}]({csv.as_posix()})"
            parts.append(f"*{md(f.caption)}* {data}\n" if f.caption else f"{data}\n")
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
    "figcaption{font-size:13px;color:#444}.caption{font-size:13px;color:#444}.num{white-space:nowrap}"
    "td.long{min-width:20em}"
    "p,figcaption,h1,h2,h3{overflow-wrap:break-word}"
    "@media (max-width:600px){body{padding:.5em}figure{flex-basis:100%}td,th{padding:2px 4px}}"
)
NUMBER = re.compile(r"(?<![\w.#&;+\-−])[+\-−]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+\-−]?\d+)?%?(?!\w)")


def nowrap_numbers(fragment: str) -> str:
    """Every number in the text of an HTML ``fragment`` (``2.3e-07``, ``-0.12``, ``95%``) wrapped in
    ``<span class="num">`` (``white-space: nowrap``), so a narrow window never breaks it across lines."""
    return re.sub(r">([^<]+)<", lambda m: ">" + NUMBER.sub(r'<span class="num">\g<0></span>', m[1]) + "<", fragment)


def html_table(table: pd.DataFrame) -> str:
    table = table.map(lambda v: "–" if v is None else v)  # None (no verdict) shows as NaN does
    out = table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)
    for verdict, cls in VERDICT_CLASSES.items():
        out = out.replace(f"<td>{verdict}</td>", f'<td class="{cls}">{verdict}</td>')
    out = re.sub(r"<td>([^<]{120,})</td>", r'<td class="long">\1</td>', out)  # wide enough to read; the box scrolls
    return f'<div class="scroll">{out}</div>'


def to_html(title: str, sections: list[Section], root: Path) -> str:
    """One page with its figures embedded as data URIs (no external resources); the CSVs it names, each
    figure's included, are relative links to the files beside it. Wide tables scroll inside their box and
    figures shrink to the window (phone width included)."""

    def text(t: str) -> str:
        return link_csvs(html.escape(t), root, lambda name: f'<a href="{name}">{name}</a>')

    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        body.append(f'<h{s.level} id="{slug(s.title)}">{html.escape(s.title)}</h{s.level}>')
        if s.text:
            body += [f"<p>{text(p)}</p>" for p in s.text.split("\n\n")]
        if s.table is not None:
            body.append(html_table(s.table))
        if s.caption:
            body.append(f'<p class="caption">{text(s.caption)}</p>')
        figs = []
        for f in map(as_fig, s.figures):
            png = base64.b64encode((root / f.path).read_bytes()).decode()
            csv = Path(f.path).with_suffix(".csv")
            link = f' <a href="{html.escape(csv.as_posix())}">data: {html.escape(csv.name)}</a>'
            figs.append(
                f'<figure><img alt="{html.escape(f.alt)}" src="data:image/png;base64,{png}">'
                f"<figcaption>{text(f.caption)}{link if (root / csv).is_file() else ''}</figcaption></figure>"
            )
        if figs:
            body.append(f'<div class="figs">{"".join(figs)}</div>')
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{nowrap_numbers(''.join(body))}</body></html>\n"
    )


def write_pages(out: Path, title: str, build: Callable[[Path], list[Section]]) -> Path:
    """Build a report into a temporary directory beside ``out`` (``build(tmp)`` writes figures/CSVs and
    returns the sections), write report.md and index.html, then swap it in whole. Returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    try:
        sections = build(tmp)
        (tmp / "report.md").write_text(to_markdown(title, sections, tmp))
        (tmp / "index.html").write_text(to_html(title, sections, tmp))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes a 0700 directory
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out

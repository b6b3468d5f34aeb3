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
from pathlib import Path

from largelr.errors import UserError
from largelr.report import tables
from largelr.report.collect import describe_damaged, load_results
from largelr.report.sections import Section, StudyData, build_sections
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
        parts += [f"![{Path(f).stem}]({f})\n" for f in s.figures]
    return "\n".join(parts)


def to_html(title: str, sections: list[Section], root: Path) -> str:
    """A self-contained page: figures are embedded as base64 PNGs, no external resources."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        body.append(f"<h{s.level}>{html.escape(s.title)}</h{s.level}>")
        if s.text:
            body.append(f"<p>{html.escape(s.text)}</p>")
        if s.table is not None:
            table = s.table.map(lambda v: "–" if v is None else v)  # None (no verdict) shows as NaN does
            body.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0))
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
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    try:
        sections = build_sections(study, StudyData.load(study, df), tmp, converged_only)
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

"""Write a study's report: runs.csv, figures (each beside the CSV of what it plots), report.md, index.html.

The report is derived data: it is built in a temporary directory and swapped in whole, so an
interrupted report never leaves a half-written one behind.
"""

from __future__ import annotations

import logging
from pathlib import Path

from largelr.errors import UserError
from largelr.report.collect import describe_damaged, load_results
from largelr.report.page import write_pages
from largelr.report.sections import StudyData, build_sections
from largelr.store import check_writable

log = logging.getLogger(__name__)


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

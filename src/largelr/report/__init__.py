"""Reports: aggregate a results directory into tables, figures, report.md and index.html."""

from __future__ import annotations

from largelr.report.collect import load_curves, load_histories, load_results
from largelr.report.render import write_report

__all__ = ["load_curves", "load_histories", "load_results", "write_report"]

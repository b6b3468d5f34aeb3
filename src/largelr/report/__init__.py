"""Reports: aggregate a results directory into tables, figures, report.md and index.html.

The names below are imported on first access (PEP 562), so ``largelr.report.stats`` and the verdict rules can be
read without pandas or matplotlib (``largelr reproduce list`` does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from largelr.report.collect import load_curves, load_histories, load_results
    from largelr.report.render import write_report

__all__ = ["load_curves", "load_histories", "load_results", "write_report"]
_HOME = {"load_curves": "collect", "load_histories": "collect", "load_results": "collect", "write_report": "render"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"largelr.report.{_HOME[name]}"), name)
    raise AttributeError(f"module 'largelr.report' has no attribute {name!r}")

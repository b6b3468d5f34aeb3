"""The field's conventions beside a report: LaTeX tables (``largelr report --latex``) and model selection by
validation (``largelr report --select``). The only I/O of ``latex.py`` and ``select.py``; reads the store through
``collect.load_results``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from largelr.report.collect import load_results
from largelr.report.keys import reported
from largelr.report.latex import per_lr_tables, selection_table
from largelr.report.select import CRITERIA, selection_summary
from largelr.report.tables import markdown_table


def write_conventions(
    study: str | Path, out: str | Path, *, latex: bool, select: str | None, converged_only: bool = False
) -> list[str]:
    """Write ``out/tables.tex`` (with ``latex``) and ``out/selection.csv`` (with ``select``, a key of
    ``select.CRITERIA``); returns the lines to print (the selection table, the files written)."""
    from largelr.store import atomic_write

    df = load_results(study)
    if converged_only:  # as the report: statistics on the ok runs that converged; other statuses stay marked
        df = df[(df["status"] != "ok") | df["converged"]]
    properties = reported(df.columns, headline=True)
    name = Path(study).resolve().name
    lines: list[str] = []
    summary = selection_summary(df, select, properties) if select else pd.DataFrame()
    out = Path(out)
    if select and (summary.empty or not (summary["selection"] == CRITERIA[select]).any()):
        lines.append(
            f"model selection: no run that finished ok has a finite {CRITERIA[select]}, nothing selected (a class "
            "of n_c validation samples holds n_c - round(rho * n_c) bias-conflicting ones on the procedural "
            "datasets, so a small data.n_val may hold none; docs/selection.md)"
        )
        select = None
    if select:
        atomic_write(out / "selection.csv", summary.to_csv(index=False))
        shown = summary[["group", "selection", "lr chosen", "trials"]].copy()
        for k, label in properties.items():
            shown[label] = [
                f"{m:.3f}" + (f" ± {s:.3f}" if s == s else "") if m == m else "–"
                for m, s in zip(summary[f"{k} mean"], summary[f"{k} se"])
            ]
        lines += [
            f"model selection by {CRITERIA[select]} (per trial, within each setting; oracle: the test split's):",
            markdown_table(shown),
            f"selection: {out / 'selection.csv'}",
        ]
    if latex:
        text = per_lr_tables(df, properties, name)
        if select:
            text += "\n\n" + selection_table(summary, properties, name)
        atomic_write(out / "tables.tex", "% largelr report --latex; needs \\usepackage{booktabs}\n" + text + "\n")
        lines.append(f"LaTeX tables: {out / 'tables.tex'}")
    return lines

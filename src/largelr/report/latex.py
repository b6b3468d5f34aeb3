"""LaTeX tables of a study, in the style of DomainBed's ``collect_results --latex``. Pure: DataFrames in, text out.

One ``booktabs`` table per group of runs: a row per LR (or per selection rule), a column per headline property,
each cell the mean ± standard error over seeds of the runs that finished ok, and the number of runs. Needs
``\\usepackage{booktabs}`` in the document.
"""

from __future__ import annotations

import math

import pandas as pd

from largelr.report.groups import split_groups
from largelr.report.keys import LR

OK_RUNS = "of the runs that finished ok (n)"
_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
           "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip
_SYMBOLS = {"κ": r"$\kappa$", "ρ": r"$\rho$", "λ": r"$\lambda$", "Δ": r"$\Delta$", "≠": r"$\neq$", "′": "'",
            "×": r"$\times$", "±": r"$\pm$", "–": "--"}  # fmt: skip


def escape(text: str) -> str:
    r"""``text`` safe inside a LaTeX table cell.

    >>> escape("compressibility comp_κ & 50%")
    'compressibility comp\\_$\\kappa$ \\& 50\\%'
    """
    out = "".join(_ESCAPE.get(ch, ch) for ch in str(text))
    for ch, tex in _SYMBOLS.items():
        out = out.replace(ch, tex)
    return out


def cell(values: pd.Series) -> str:
    r"""``0.912 $\pm$ 0.004``: the mean and standard error of the finite ``values``; a dash when none.

    >>> cell(pd.Series([0.8, 0.9]))
    '0.850 $\\pm$ 0.050'
    """
    vals = values.dropna()
    if not len(vals):
        return "--"
    mean = float(vals.mean())
    return mean_se(mean, float(vals.std(ddof=1)) / math.sqrt(len(vals)) if len(vals) > 1 else math.nan)


def mean_se(mean: float, se: float) -> str:
    """``0.912 $\\pm$ 0.004``; without the ± part when ``se`` is NaN, a dash when ``mean`` is."""
    if not math.isfinite(mean):
        return "--"
    return f"{mean:.3f}" + (f" $\\pm$ {se:.3f}" if math.isfinite(se) else "")


def table(header: list[str], rows: list[list[str]], caption: str, label: str) -> str:
    """A ``table`` environment with a ``booktabs`` tabular: the first column left-aligned, the others centred."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{l{'c' * (len(header) - 1)}}}",
        r"\toprule",
        " & ".join(f"\\textbf{{{h}}}" for h in header) + r" \\",
        r"\midrule",
        *(" & ".join(r) + r" \\" for r in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines)


def per_lr_tables(df: pd.DataFrame, properties: dict[str, str], study: str) -> str:
    """One table per group: a row per LR with each property's mean ± SE over its ok runs, and n."""
    out = []
    for i, g in enumerate(split_groups(df, LR)):
        ok = g.df[g.df["status"] == "ok"]
        rows = []
        for lr in sorted(g.df[LR].unique()):
            good = ok[ok[LR] == lr]
            rows.append([f"{lr:g}", *(cell(good[k]) if k in good else "--" for k in properties), str(len(good))])
        caption = escape(f"{study}: {g.label}.") + rf" Mean $\pm$ standard error over seeds {OK_RUNS}."
        header = ["LR", *(escape(label) for label in properties.values()), "n"]
        out.append(table(header, rows, caption, f"tab:{_slug(study)}-{i}"))
    return "\n\n".join(out)


def selection_table(summary: pd.DataFrame, properties: dict[str, str], study: str) -> str:
    """The selected runs' test properties (``largelr.report.select.selection_summary``): a row per group and
    selection rule (validation, oracle), with the LRs chosen."""
    rows = []
    for r in summary.to_dict("records"):
        cells = [mean_se(r.get(f"{k} mean", math.nan), r.get(f"{k} se", math.nan)) for k in properties]
        rows.append([escape(r["group"]), escape(r["selection"]), escape(r["lr chosen"]), *cells, str(r["trials"])])
    header = ["setting", "selected by", "LR chosen", *(escape(label) for label in properties.values()), "trials"]
    caption = escape(f"{study}: test properties of the run selected per trial (seed) by validation, and by the oracle.")
    return table(header, rows, caption, f"tab:{_slug(study)}-selection")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-") or "study"

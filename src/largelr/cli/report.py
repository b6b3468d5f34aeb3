"""``largelr report``: tables, figures, report.md and index.html from a results directory."""

from __future__ import annotations

import argparse

from largelr.cli.common import out_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="tables, figures, report.md and index.html from a results directory")
    p.add_argument("dir", help="results directory")
    p.add_argument("--out", help="report directory (default: DIR/report)")
    p.add_argument("--strict", action="store_true", help="fail if any run is damaged (default: skip and name them)")
    p.add_argument(
        "--converged-only",
        action="store_true",
        help="base every statistic on the runs that converged (the report says which runs it used)",
    )


def run(args: argparse.Namespace) -> int:
    from largelr.report import write_report

    out_dir(args.out)
    out = write_report(args.dir, args.out, converged_only=args.converged_only, strict=args.strict)
    if (out / "verdicts.csv").is_file():
        import pandas as pd

        from largelr.report.verdicts import terminal_table

        print(terminal_table(pd.read_csv(out / "verdicts.csv")))
    print(f"report: {out / 'index.html'}")
    return 0

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
    p.add_argument("--latex", action="store_true", help="also write DIR/report/tables.tex (booktabs, per LR)")
    p.add_argument(
        "--select",
        choices=("worst_group_acc", "acc_bc", "acc"),
        help="model selection: per seed, the LR whose validation value of this is highest (docs/selection.md); "
        "writes selection.csv and prints the selected runs' test properties",
    )


def run(args: argparse.Namespace) -> int:
    from largelr.report import write_report

    out_dir(args.out)
    out = write_report(args.dir, args.out, converged_only=args.converged_only, strict=args.strict)
    if (out / "verdicts.csv").is_file():
        import pandas as pd

        from largelr.report.verdicts import terminal_table

        print(terminal_table(pd.read_csv(out / "verdicts.csv")))
    if args.latex or args.select:
        from largelr.report.conventions import write_conventions

        for line in write_conventions(
            args.dir, out, latex=args.latex, select=args.select, converged_only=args.converged_only
        ):
            print(line)
    print(f"report: {out / 'index.html'}")
    return 0

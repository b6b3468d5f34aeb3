"""``largelr reproduce``: list the paper's reproduce targets, run one (or all) and write its report.

``add_parser(subparsers)`` adds the command to the main parser; ``run(args)``
runs it. The work is done by ``largelr.reproduce`` (callable from Python and tests).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from largelr.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reproduce {list,NAME,all}`` to the main CLI's subparsers."""
    p = subparsers.add_parser(
        "reproduce", help="reproduce the paper's claims: `reproduce list`, `reproduce NAME`, `reproduce all`"
    )
    p.add_argument("target", help="list, a target name (see `largelr reproduce list`), or all")
    p.add_argument(
        "--preset", default="quick", choices=("quick", "standard", "full", "tiny"),
        help="quick (a smoke test, minutes), standard (to convergence, <= 30 min per target on 2 CPU cores), full; "
        "tiny: seconds per target, too small for any verdict (what the tests run)",
    )  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    p.add_argument("--executor", help="how runs are launched (default: local for --jobs 1, else pool)")
    p.add_argument("--out", help="results directory (default: runs/reproduce/NAME; for all: runs/reproduce)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--report-only", action="store_true", help="run nothing; write the report from the finished runs")
    p.add_argument("--converged-only", action="store_true", help="base the verdicts on the runs that converged")
    p.add_argument(
        "--power", action="store_true",
        help="with list: compute each design's attainable p now instead of reading the recorded table (seconds)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from largelr import reproduce

    if args.target == "list":
        print(reproduce.list_text(compute=args.power))
        return 0
    preset = args.preset
    if args.target == "all":
        root = Path(args.out or "runs/reproduce")
        names = [n for n in reproduce.target_names() if not reproduce.load_target(n).unavailable]
        for name in reproduce.target_names():
            if name not in names:
                print(f"{name}: skipped, {reproduce.load_target(name).unavailable}")
        if preset not in ("tiny", "quick"):
            for name in [n for n in names if preset not in reproduce.load_target(n).cost]:
                print(f"{name}: skipped, no {preset!r} preset yet")
                names.remove(name)
        failed = []
        for name in names:
            try:
                out = reproduce.run_target(
                    name, preset, root / name, jobs=args.jobs, executor=args.executor,
                    progress=not args.no_progress, report_only=args.report_only,
                    converged_only=args.converged_only,
                )  # fmt: skip
            except UserError as e:
                print(f"{name}: error: {e}")
                failed.append(name)
                continue
            print(f"{name}: report {out / 'index.html'}")
            _print_verdicts(out)
        return 1 if failed else 0
    out = reproduce.run_target(
        args.target, preset, args.out, jobs=args.jobs, executor=args.executor, progress=not args.no_progress,
        report_only=args.report_only, converged_only=args.converged_only,
    )  # fmt: skip
    if args.executor == "dry":
        return 0
    _print_verdicts(out)
    print(f"report: {out / 'index.html'}")
    return 0


def _print_verdicts(report: Path) -> None:
    """The verdict table of a written report, in the terminal."""
    import pandas as pd

    from largelr.report.verdicts import terminal_table

    if (report / "verdicts.csv").is_file():
        print(terminal_table(pd.read_csv(report / "verdicts.csv")))

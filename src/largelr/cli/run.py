"""``largelr run``: train and evaluate one config into OUT/<run_id>/."""

from __future__ import annotations

import argparse
from pathlib import Path

from largelr import config as config_mod
from largelr.cli.common import out_dir, resolve_config, set_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="train and evaluate one config into OUT/<run_id>/")
    p.add_argument("--config", help="a config JSON file (e.g. a run's config.json), or - for stdin")
    set_arg(p)
    p.add_argument("--out", default="runs/single", help="results directory (default: runs/single)")
    p.add_argument("--force", action="store_true", help="redo the run even if it is done")


def run(args: argparse.Namespace) -> int:
    from largelr.run import execute, summary_line
    from largelr.validate import check_config

    out_dir(args.out)
    cfg = check_config(resolve_config(args.config, args.overrides))
    result = execute(cfg, args.out, force=args.force)
    print(summary_line(cfg, result))
    print(Path(args.out) / config_mod.run_id(cfg))
    return 0

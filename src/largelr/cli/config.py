"""``largelr config``: print the resolved config (defaults + overrides) as JSON, and its run id."""

from __future__ import annotations

import argparse
import sys

from largelr import config as config_mod
from largelr.cli.common import resolve_config, set_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("config", help="print the resolved config (defaults + overrides) as JSON")
    p.add_argument("--config", help="start from this config JSON file instead of the defaults")
    set_arg(p)
    p.add_argument("--keys", action="store_true", help="list the settable keys instead")


def run(args: argparse.Namespace) -> int:
    if args.keys:
        print("\n".join(config_mod.valid_keys()))
        return 0
    from largelr.validate import check_config

    cfg = check_config(resolve_config(args.config, args.overrides))
    print(config_mod.to_json(cfg, indent=2))
    print(f"run id: {config_mod.run_id(cfg)}", file=sys.stderr)
    return 0

"""``largelr repair``: delete damaged runs (after asking) so the next sweep redoes them."""

from __future__ import annotations

import argparse

from largelr.cli.status import run_health


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("repair", help="delete damaged runs (after asking) so the next sweep redoes them")
    p.add_argument("dir", help="results directory")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.add_argument("--verify", action="store_true", help="deep checks, as status --verify")


def run(args: argparse.Namespace) -> int:
    from largelr import store

    _, damaged = run_health(args.dir, args.verify)
    if not damaged:
        print(f"{args.dir}: no damaged runs")
        return 0
    for d, problems in damaged.items():
        print(f"damaged {d}: {'; '.join(problems)}")
    if not args.yes:
        try:
            answer = input(f"delete these {len(damaged)} run directories? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    failed = []
    for d in damaged:
        try:
            store.remove_run(d)
        except OSError as e:  # go on with the others; say which could not be deleted
            failed.append(d)
            print(f"could not delete {d}: {e.strerror or e}")
    print(f"deleted {len(damaged) - len(failed)} damaged runs; the next sweep redoes them")
    return 1 if failed else 0

"""The ``largelr`` command line. Each subcommand parses, builds a config, and calls a library function.

User errors (``largelr.errors.UserError``) print one line ``error: ...`` to stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from largelr import config as config_mod
from largelr.errors import UserError

log = logging.getLogger("largelr")


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=0.05 --set model.kwargs.width=512 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="largelr",
        description="Learning-rate studies of spurious-correlation robustness and compressibility.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train and evaluate one config into OUT/<run_id>/")
    p.add_argument("--config", help="a config JSON file (e.g. a run's config.json), or - for stdin")
    _set_arg(p)
    p.add_argument("--out", default="runs/single", help="results directory (default: runs/single)")
    p.add_argument("--force", action="store_true", help="redo the run even if it is done")

    p = sub.add_parser("sweep", help="run every config of an experiment file that is not done yet")
    p.add_argument("experiment", help="a shipped study name (e.g. quickstart) or an experiment file path")
    _set_arg(p)
    p.add_argument("--out", help="results directory (default: runs/<experiment name>)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1: serial, in-process)")
    p.add_argument("--executor", help="local | pool | dry (default: local for --jobs 1, else pool)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("status", help="how many runs of a results directory are done / incomplete")
    p.add_argument("dir", help="results directory")
    p.add_argument("--experiment", help="also count the experiment's runs that were never started")
    p.add_argument("--fix-ids", action="store_true", help="rename runs stored under an outdated run id")

    p = sub.add_parser("report", help="tables, figures, report.md and index.html from a results directory")
    p.add_argument("dir", help="results directory")
    p.add_argument("--out", help="report directory (default: DIR/report)")
    p.add_argument(
        "--converged-only",
        action="store_true",
        help="base every statistic on the runs that converged (the report says which runs it used)",
    )

    p = sub.add_parser("config", help="print the resolved config (defaults + overrides) as JSON")
    p.add_argument("--config", help="start from this config JSON file instead of the defaults")
    _set_arg(p)
    p.add_argument("--keys", action="store_true", help="list the settable keys instead")

    try:
        from largelr.cli_data import add_data_parser
    except ImportError:
        pass
    else:
        add_data_parser(sub)
    from largelr.cli_reproduce import add_reproduce_parser

    add_reproduce_parser(sub)
    return parser


def resolve_config(path: str | None, overrides: list[str]) -> config_mod.RunConfig:
    if path == "-":
        try:
            cfg = config_mod.from_dict(json.loads(sys.stdin.read()), where="<stdin>")
        except json.JSONDecodeError as e:
            raise UserError(f"<stdin>: not valid JSON ({e.msg})") from None
    elif path:
        cfg = config_mod.load_json(path)
    else:
        cfg = config_mod.RunConfig()
    return config_mod.apply_overrides(cfg, overrides)


def cmd_run(args: argparse.Namespace) -> int:
    from largelr.runner import execute, summary_line
    from largelr.validate import check_config

    cfg = check_config(resolve_config(args.config, args.overrides))
    result = execute(cfg, args.out, force=args.force)
    print(summary_line(cfg, result))
    print(Path(args.out) / config_mod.run_id(cfg))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from largelr.sweep import load_experiment, run_sweep

    exp = load_experiment(args.experiment, args.overrides)
    out = Path(args.out or Path("runs") / exp.name)
    log.info("experiment %s: %d runs -> %s", exp.name, len(exp.configs), out)
    check_ids(out)
    s = run_sweep(exp.configs, out, jobs=args.jobs, executor=args.executor, progress=not args.no_progress)
    done_now = sum(s.statuses.values())
    counts = ", ".join(f"{v} {k}" for k, v in sorted(s.statuses.items()))
    print(f"{s.total} runs: {s.skipped} already done, {done_now} run now" + (f" ({counts})" if counts else ""))
    if s.errors:
        print(f"{len(s.errors)} runs crashed; see the logs above. Rerun the same command to retry them.")
        return 1
    print(f"next: largelr report {out}")
    return 0


def check_ids(out: Path) -> None:
    """Refuse to sweep into a directory holding runs under an outdated id that a sweep would redo."""
    from largelr import store

    if not out.is_dir():
        return
    outdated, _ = store.id_check(out)
    redo = [rd for rd, rid in outdated.items() if not (out / rid).exists()]
    if redo:
        raise UserError(
            f"{len(redo)} runs in {out} are stored under an outdated run id (written by an older largelr) "
            f"and would be redone; rename them first with: largelr status {out} --fix-ids"
        )


def cmd_status(args: argparse.Namespace) -> int:
    from collections import Counter

    from largelr import store

    dirs = store.run_dirs(args.dir)
    states = Counter(store.status(d) for d in dirs)
    results = Counter(store.load_run(d)["result"]["status"] for d in dirs if store.status(d) == "done")
    line = f"{args.dir}: {states['done']} done ({', '.join(f'{v} {k}' for k, v in sorted(results.items())) or '-'})"
    line += f", {states['incomplete']} incomplete"
    if args.experiment:
        from largelr.sweep import load_experiment, sweep_status

        groups = sweep_status(load_experiment(args.experiment).configs, args.dir)
        line += f", {len(groups['missing'])} of the experiment's runs not started"
    print(line)
    outdated, dups = store.id_check(args.dir)
    if args.fix_ids:
        for rd in outdated:
            new = store.rename_to_current_id(rd)
            print(f"renamed {rd.name} -> {new.name}" if new else f"kept {rd.name}: {outdated[rd]} exists already")
        outdated, dups = store.id_check(args.dir)
    if outdated:
        print(
            f"warning: {len(outdated)} runs are stored under an outdated id (written by an older largelr; "
            f"a sweep would redo them); rename them with: largelr status {args.dir} --fix-ids"
        )
    for dirs in dups.values():
        print(
            f"warning: the same config is stored {len(dirs)} times ({', '.join(d.name for d in dirs)}); "
            f"results use {dirs[0].name} only; delete the others"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from largelr.report import write_report

    out = write_report(args.dir, args.out, converged_only=args.converged_only)
    print(f"report: {out / 'index.html'}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.keys:
        print("\n".join(config_mod.valid_keys()))
        return 0
    from largelr.validate import check_config

    cfg = check_config(resolve_config(args.config, args.overrides))
    print(config_mod.to_json(cfg, indent=2))
    print(f"run id: {config_mod.run_id(cfg)}", file=sys.stderr)
    return 0


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "status": cmd_status, "report": cmd_report, "config": cmd_config}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        if args.command == "data":
            from largelr.cli_data import run_data_command

            return run_data_command(args)
        if args.command == "reproduce":
            from largelr.cli_reproduce import run_reproduce_command

            return run_reproduce_command(args)
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: runs in flight are incomplete and will be redone by the same command", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``largelr`` command line. Each subcommand parses, builds a config, and calls a library function.

User errors (``largelr.errors.UserError``) print one line ``error: ...`` to stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from largelr import __version__
from largelr import config as config_mod
from largelr.checkpoint import Preempted
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train and evaluate one config into OUT/<run_id>/")
    p.add_argument("--config", help="a config JSON file (e.g. a run's config.json), or - for stdin")
    _set_arg(p)
    p.add_argument("--out", default="runs/single", help="results directory (default: runs/single)")
    p.add_argument("--force", action="store_true", help="redo the run even if it is done")

    from largelr.sweep.executors import EXECUTORS

    parents: list[argparse.ArgumentParser] = []
    for name in EXECUTORS.names():  # each executor brings its own options
        parents += [o for o in EXECUTORS.meta(name).get("options", []) if all(o is not q for q in parents)]
    p = sub.add_parser("sweep", help="run every config of an experiment file that is not done yet", parents=parents)
    p.add_argument("experiment", help="a shipped study name (e.g. quickstart) or an experiment file path")
    _set_arg(p)
    p.add_argument("--out", help="results directory (default: runs/<experiment name>)")
    p.add_argument(
        "--executor",
        default="local",
        help="; ".join(f"{n}: {EXECUTORS.meta(n).get('help', '')}" for n in EXECUTORS.names()) + " (default local)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("status", help="done / running / failed / damaged runs of a results directory, from its files")
    p.add_argument("dir", help="results directory, or a reproduce target or shipped study name (its default directory)")
    p.add_argument(
        "--experiment",
        help="also count the runs never started of this shipped study (quickstart), reproduce target (headline) "
        "or experiment file (default: the reproduce target the directory was run for, if any)",
    )
    p.add_argument(
        "--preset", choices=("quick", "standard", "full"), help="the reproduce target's preset (default: the one run)"
    )
    p.add_argument("--verify", action="store_true", help="also load every model.pt")
    p.add_argument("--fix-ids", action="store_true", help="rename runs stored under an outdated run id")

    p = sub.add_parser("report", help="tables, figures, report.md and index.html from a results directory")
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

    p = sub.add_parser("repair", help="delete damaged runs (after asking) so the next sweep redoes them")
    p.add_argument("dir", help="results directory")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.add_argument("--verify", action="store_true", help="deep checks, as status --verify")

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
    from largelr.cli_suggest import add_suggest_parser

    add_suggest_parser(sub)
    from largelr.cli_export import add_export_parser

    add_export_parser(sub)
    from largelr.cli_completion import add_completion_parser

    add_completion_parser(sub)
    return parser


def resolve_config(path: str | None, overrides: list[str]) -> config_mod.RunConfig:
    if path == "-":
        try:
            cfg = config_mod.from_dict(json.loads(sys.stdin.read()), where="<stdin>")
        except json.JSONDecodeError as e:
            raise UserError(f"<stdin>: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise UserError("<stdin>: not a config (JSON nested too deeply)") from None
    elif path:
        cfg = config_mod.load_json(path)
    else:
        cfg = config_mod.RunConfig()
    return config_mod.apply_overrides(cfg, overrides)


def out_dir(value: str | None, flag: str = "--out") -> Path | None:
    """``--out`` as a Path (None when not given); UserError for an empty or blank value, which would
    otherwise mean the current directory."""
    if value is None:
        return None
    if not value.strip():
        raise UserError(f"{flag} must name a directory, got {value!r} (use {flag} . for the current directory)")
    return Path(value)


def cmd_run(args: argparse.Namespace) -> int:
    from largelr.runner import execute, summary_line
    from largelr.validate import check_config

    out_dir(args.out)
    cfg = check_config(resolve_config(args.config, args.overrides))
    result = execute(cfg, args.out, force=args.force)
    print(summary_line(cfg, result))
    print(Path(args.out) / config_mod.run_id(cfg))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from largelr.sweep import load_experiment, run_sweep

    given = out_dir(args.out)
    exp = load_experiment(args.experiment, args.overrides)
    out = given or Path("runs") / exp.name
    log.info("experiment %s: %d runs -> %s", exp.name, len(exp.configs), out)
    outdated = outdated_ids(out)
    configs = [c for c in exp.configs if config_mod.run_id(c) not in outdated]
    s = run_sweep(configs, out, executor=args.executor, options=args, progress=not args.no_progress)
    done_now = sum(s.statuses.values())
    counts = ", ".join(f"{v} {k}" for k, v in sorted(s.statuses.items()))
    print(f"{s.total} runs: {s.skipped} already done, {done_now} run now" + (f" ({counts})" if counts else ""))
    rc = 0
    if len(configs) < len(exp.configs):
        print(
            f"{len(exp.configs) - len(configs)} runs are stored under an outdated run id (written by an older "
            f"largelr) and were not redone; rename them with: largelr status {out} --fix-ids"
        )
        rc = 1
    if s.damaged:
        print(
            f"{len(s.damaged)} runs are damaged and were not redone ({', '.join(s.damaged[:5])}"
            f"{', ...' if len(s.damaged) > 5 else ''}): see `largelr status {out}`, then `largelr repair {out}`."
        )
        rc = 1
    if s.config_errors:
        first = s.config_errors[0].split(": ", 1)[-1]
        print(
            f"error: {len(s.config_errors)} runs have an invalid config (first: {' '.join(first.splitlines())}); "
            "fix the experiment: rerunning the same command will fail the same way",
            file=sys.stderr,
        )
        return 2
    if s.elsewhere or s.busy:
        print(f"{s.elsewhere} finished by another worker meanwhile, {len(s.busy)} being trained by another worker")
    if s.errors:
        print(f"{len(s.errors)} runs crashed; see the logs above. Rerun the same command to retry them.")
        return 1
    if rc == 0:
        print(f"next: largelr report {out}")
    return rc


def run_health(study: str, deep: bool, allow_empty: bool = False) -> tuple[list[Path], dict[Path, list[str]]]:
    """(all run directories, {damaged run directory: problems}) of a results directory; UserError when it
    is not one (missing, unreadable, or no run directory in it, unless ``allow_empty``)."""
    from largelr import store

    dirs = store.run_dirs(study) if allow_empty else store.require_study(study)
    return dirs, {d: p for d in dirs if (p := store.verify_run(d, deep=deep))}


def outdated_ids(out: Path) -> set[str]:
    """Current run ids stored in ``out`` only under an outdated id: a sweep skips them (each blocks only
    itself) and says how to rename them."""
    from largelr import store

    if not out.is_dir():
        return set()
    outdated, _ = store.id_check(out)
    return {rid for rid in outdated.values() if not (out / rid).exists()}


def cmd_status(args: argparse.Namespace) -> int:
    """Counts from the filesystem alone (works while a sweep runs elsewhere), then the stale leases."""
    from collections import Counter

    from largelr import leases, store
    from largelr.sweep.runner import progress_counts
    from largelr.sweep.status import expected_runs, resolve_dir, settle_running

    study, named = resolve_dir(args.dir)
    label = args.dir if named is None else str(study)
    experiment = args.experiment or named
    empty_ok = bool(experiment) and (not study.exists() or (study.is_dir() and not store.run_dirs(study)))
    if args.fix_ids:
        for rd, rid in store.id_check(study)[0].items():
            new = store.rename_to_current_id(rd)
            print(f"renamed {rd.name} -> {new.name}" if new else f"kept {rd.name}: {rid} exists already")
    if empty_ok and not study.exists():
        dirs, damaged = [], {}
    else:
        dirs, damaged = run_health(str(study), args.verify, allow_empty=empty_ok)
    ids = [d.name for d in dirs]
    states = {rid: st for rid, st in leases.study_states(study, ids).items() if study / rid not in damaged}
    expected = expected_runs(study, experiment, args.preset)
    if expected:
        states = {**leases.study_states(study, expected.run_ids), **states}
    running, notes = settle_running(study, states)
    c = progress_counts(states)
    results = Counter(store.load_run(study / r)["result"]["status"] for r, st in states.items() if st == "done")
    done = f"{c['done']}/{len(states) + len(damaged)}" if expected else str(c["done"])
    print(
        f"{label}: {done} done ({', '.join(f'{v} {k}' for k, v in sorted(results.items())) or '-'}), "
        f"{c['running']} running, {c['failed']} failed, {c['stale']} stale, {c['incomplete']} incomplete, "
        f"{len(damaged)} damaged" + (f", {c['missing']} of the experiment's runs not started" if expected else "")
    )
    if expected:
        print(f"  experiment: {expected.label} ({len(expected.run_ids)} runs)")
    for rid, st in sorted(states.items()):
        if st in ("stale", "running", "failed"):
            lease = running.get(rid) if st == "running" else leases.read_lease(study / rid / store.LEASE)
            who = f" {lease['host']} pid {lease['pid']}" if lease else ""
            print(f"  {st:8s} {rid}{who}")
    for note in notes:
        print(f"  note: {note}")
    for d, problems in damaged.items():
        print(f"damaged {d}: {'; '.join(problems)}")
    if damaged:
        print(f"`largelr repair {label}` deletes the damaged runs so the next sweep redoes them")
    outdated, dups = store.id_check(study) if dirs else ({}, {})
    for rd, rid in outdated.items():
        print(f"outdated {rd}: its config.json hashes to {rid}, not to the directory name")
    if outdated:
        print(
            f"warning: {len(outdated)} runs are stored under an outdated id (written by an older largelr; "
            f"a sweep would redo them); rename them with: largelr status {label} --fix-ids"
        )
    for dirs in dups.values():
        print(
            f"warning: the same config is stored {len(dirs)} times ({', '.join(d.name for d in dirs)}); "
            f"results use {dirs[0].name} only; delete the others"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
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


def cmd_repair(args: argparse.Namespace) -> int:
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


def cmd_config(args: argparse.Namespace) -> int:
    if args.keys:
        print("\n".join(config_mod.valid_keys()))
        return 0
    from largelr.validate import check_config

    cfg = check_config(resolve_config(args.config, args.overrides))
    print(config_mod.to_json(cfg, indent=2))
    print(f"run id: {config_mod.run_id(cfg)}", file=sys.stderr)
    return 0


COMMANDS = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "status": cmd_status,
    "report": cmd_report,
    "repair": cmd_repair,
    "config": cmd_config,
}


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
        if args.command == "completion":
            from largelr.cli_completion import run_completion_command

            return run_completion_command(args)
        if args.command == "export":
            from largelr.cli_export import run_export_command

            return run_export_command(args)
        if args.command == "suggest-lr":
            from largelr.cli_suggest import run_suggest_command

            return run_suggest_command(args)
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"error: {' '.join(str(e).splitlines())}", file=sys.stderr)  # one line, whatever the message holds
        return 2
    except Preempted as e:
        print(f"interrupted: {e}; the same command resumes the run from it", file=sys.stderr)
        return 143
    except OSError as e:  # a full disk or a read-only target while writing: no traceback
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except RecursionError:
        print("error: the input is nested too deeply to be read", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: runs in flight are incomplete and will be redone by the same command", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""``largelr sweep``: run every config of an experiment file that is not done yet."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from largelr import config as config_mod
from largelr.cli.common import out_dir, set_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from largelr.sweep.executors import EXECUTORS

    parents: list[argparse.ArgumentParser] = []
    for name in EXECUTORS.names():  # each executor brings its own options
        parents += [o for o in EXECUTORS.spec(name).options if all(o is not q for q in parents)]
    p = subparsers.add_parser(
        "sweep", help="run every config of an experiment file that is not done yet", parents=parents
    )
    p.add_argument("experiment", help="a shipped study name (e.g. quickstart) or an experiment file path")
    set_arg(p)
    p.add_argument("--out", help="results directory (default: runs/<experiment name>)")
    p.add_argument(
        "--executor",
        default="local",
        help="; ".join(f"{n}: {EXECUTORS.spec(n).help}" for n in EXECUTORS.names()) + " (default local)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


log = logging.getLogger("largelr")


def run(args: argparse.Namespace) -> int:
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


def outdated_ids(out: Path) -> set[str]:
    """Current run ids stored in ``out`` only under an outdated id: a sweep skips them (each blocks only
    itself) and says how to rename them."""
    from largelr import store

    if not out.is_dir():
        return set()
    outdated, _ = store.id_check(out)
    return {rid for rid in outdated.values() if not (out / rid).exists()}

"""``largelr status``: done / running / failed / damaged runs of a results directory, from its files."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "status", help="done / running / failed / damaged runs of a results directory, from its files"
    )
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


def run_health(study: str, deep: bool, allow_empty: bool = False) -> tuple[list[Path], dict[Path, list[str]]]:
    """(all run directories, {damaged run directory: problems}) of a results directory; UserError when it
    is not one (missing, unreadable, or no run directory in it, unless ``allow_empty``)."""
    from largelr import store

    dirs = store.run_dirs(study) if allow_empty else store.require_study(study)
    return dirs, {d: p for d in dirs if (p := store.verify_run(d, deep=deep))}


def run(args: argparse.Namespace) -> int:
    """Counts from the filesystem alone (works while a sweep runs elsewhere), then the stale leases."""
    from collections import Counter

    from largelr import store
    from largelr.cli.status_view import expected_runs, resolve_dir, settle_running
    from largelr.sweep.launch import progress_counts

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
    states = {rid: st for rid, st in store.study_states(study, ids).items() if study / rid not in damaged}
    expected = expected_runs(study, experiment, args.preset)
    if expected:
        states = {**store.study_states(study, expected.run_ids), **states}
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
            lease = running.get(rid) if st == "running" else store.leases.read_lease(study / rid / store.LEASE)
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

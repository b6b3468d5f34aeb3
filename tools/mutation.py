"""Mutation testing, one module at a time, against only the fast tests that cover it.

mutmut 3 (configured in pyproject's ``[tool.mutmut]``) copies ``src/`` into ``./mutants``, makes every small
wrong change it knows to one module (``<`` for ``<=``, ``+ 1`` for ``- 1``, a dropped argument, ...) and runs the
tests that reach the changed function against each. A mutant that no test notices ("survived") is a bug the suite
would let through. This script gives each module a fresh ``mutants/`` and restricts both the mutated file and the
tests to the table below, so one module takes minutes instead of the whole suite times every mutant.

Usage, from the repository root (``make mutation`` runs every module)::

    python tools/mutation.py                            # every module in MODULES, one after the other
    python tools/mutation.py metrics/compressibility    # one module
    python tools/mutation.py --jobs 2 store train       # mutants run in parallel worker processes

mutmut runs against a mutant only the tests it saw reach the mutated function, and credits a call made while a
module- or session-scoped fixture is set up to the first test that used the fixture. So every survivor, and every
mutant no selected test reached, is then re-checked against all of its module's test files (``recheck``).

The last module's ``mutants/`` stays, so ``mutmut results`` lists its survivors and ``mutmut show NAME`` shows
one as a diff (mutmut's own status there predates the re-check). ``--recheck-only MODULE`` repeats only the
re-check, against the tests as they are now: run it after writing tests for the survivors. The summary line per
module counts mutants generated / killed / survived / other (timeouts), the wall time, and how many of the kills
came from the re-check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DATA_TESTS = ["tests/data/test_data_base.py", "tests/data/test_data_procedural.py", "tests/data/test_data_sources.py"]
# module under src/largelr (no .py) -> the fast test files that cover it
MODULES: dict[str, list[str]] = {
    "metrics/compressibility": ["tests/metrics/test_compressibility_metrics.py"],
    "metrics/robustness": ["tests/metrics/test_robustness_metrics.py"],
    "metrics/representation": ["tests/metrics/test_representation_metrics.py"],
    "metrics/selectivity": ["tests/metrics/test_representation_metrics.py"],
    "metrics/lowrank": ["tests/metrics/test_structured_lowrank.py"],
    "metrics/probes": ["tests/metrics/test_probes_dfr.py"],
    "store/layout": [
        "tests/test_store.py",
        "tests/test_train.py",
        "tests/test_store_ids.py",
        "tests/test_user_mistakes.py",
    ],
    "store/leases": ["tests/test_leases.py", "tests/test_store.py"],
    "train": [
        "tests/test_train.py",
        "tests/metrics/test_robustness_metrics.py",
        "tests/test_checkpoint.py",
        "tests/test_optim.py",
        "tests/test_bc_weight.py",
        "tests/test_augment.py",
        "tests/test_knobs.py",
    ],
    "data/base": DATA_TESTS,
    "data/double_mnist": DATA_TESTS,
    "data/colored": DATA_TESTS,
    "report/tables": ["tests/test_report.py", "tests/test_report_knobs.py", "tests/test_verdicts.py"],
    "report/verdicts": ["tests/test_verdicts.py"],
}

KILLED = {1, 3}  # pytest: tests failed / internal error
SURVIVED = {0}
UNTESTED = {5, 33}  # no test of the selection reached the mutated function


def run_one(module: str, jobs: int, show: bool = False, rerun: bool = True) -> dict[str, object]:
    """Mutate one module in a fresh ``mutants/`` and count what its tests catch.

    With ``rerun=False``, only the re-check pass runs, on the ``mutants/`` the last run of ``module`` left.
    """
    start = time.monotonic()
    if rerun:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        print(f"{module}: mutating (log in mutants/run.log)", flush=True)
        (ROOT / "mutants").mkdir()
        with open(ROOT / "mutants" / "run.log", "w") as out:
            cmd = [sys.executable, __file__, "--child", module, "--jobs", str(jobs)]
            subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    else:  # re-check against the tests as they are now (e.g. the ones just written for the survivors)
        shutil.copytree(ROOT / "tests", ROOT / "mutants" / "tests", dirs_exist_ok=True)
    meta = ROOT / "mutants" / "src" / "largelr" / f"{module}.py.meta"
    if not rerun and not meta.exists():
        sys.exit(f"mutants/ holds no run of {module} to re-check; run `python tools/mutation.py {module}` first")
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    # survivors and untested mutants face every test file of the module; what still passes has survived
    suspects = sorted(name for name, code in codes.items() if code in SURVIVED | UNTESTED)
    with ThreadPoolExecutor(jobs) as pool:
        caught = list(pool.map(lambda name: recheck(module, name), suspects))
    rechecked = [name for name, c in zip(suspects, caught, strict=True) if c]
    for name, c in zip(suspects, caught, strict=True):
        codes[name] = 1 if c else 0
    survived = [name for name in suspects if name not in rechecked]
    if show:  # the diffs, while this module's mutants/ still exists
        for name in survived:
            diff = subprocess.run(
                [sys.executable, "-m", "mutmut", "show", name], cwd=ROOT, capture_output=True, text=True
            )
            print("\n".join(line for line in diff.stdout.splitlines() if line.startswith(("+ ", "- ", "@@"))))
            print(f"    ^ {name}", flush=True)
    counts = Counter("killed" if c in KILLED else "survived" if c in SURVIVED else "other" for c in codes.values())
    return {
        "module": module,
        "generated": len(codes),
        **counts,
        "seconds": round(time.monotonic() - start),
        "survivors": survived,
        "rechecked": len(rechecked),
    }


def recheck(module: str, mutant: str) -> bool:
    """Run every test file of ``module`` against one survivor; True if a test fails (the mutant is killed).

    mutmut runs against a mutant only the tests it saw calling the mutated function. A function called while a
    module- or session-scoped fixture is set up is credited to the first test that used the fixture, so the
    other tests, which read what it built, are never run against its mutants. And code run at import time (a
    metric's declared keys) is never mutated in mutmut's forked runs. This pass runs them all, in a fresh process.
    """
    env = {**os.environ, "MUTANT_UNDER_TEST": mutant, "PYTHONPATH": "src"}  # the mutated copy, not the install
    if module.startswith("data/"):
        env["LARGELR_MUTATION"] = "1"
    tests = [t for t in MODULES[module] if (ROOT / t).exists()]
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    out = subprocess.run(cmd, cwd=ROOT / "mutants", env=env, capture_output=True, text=True)
    # exit code 2 (a test module) or 4 (a conftest) failing to import: the mutant breaks an import. Code run at
    # import time, such as a metric's declared keys, is only ever mutated here, in a fresh process.
    text = out.stdout + out.stderr
    broken_import = "ERROR collecting" in text or "ImportError while loading conftest" in text
    return out.returncode in KILLED or (out.returncode in (2, 4) and broken_import)


def _child(module: str, jobs: int) -> None:
    """Run mutmut on one module with the module's tests (config set here, the rest from pyproject)."""
    from mutmut import configuration
    from mutmut.__main__ import cli

    cfg = configuration.config()
    cfg.only_mutate = [f"src/largelr/{module}.py"]
    tests = [t for t in MODULES[module] if (ROOT / t).exists()]
    if not tests:  # an empty selection would make pytest run the whole suite for every mutant
        sys.exit(f"none of the test files of {module} exist: {MODULES[module]}")
    cfg.pytest_add_cli_args_test_selection = tests
    if module.startswith("data/"):
        # With LARGELR_MUTATION set, tests/data builds every dataset afresh in each test (with its cache, mutmut
        # would credit a builder to the first test that built it only, and a mutant forked from the process that
        # filled the cache would be handed unmutated datasets) and loads the image sources once, in the fork
        # server, which has only collected the tests.
        cfg.process_isolation = configuration.ProcessIsolation.FORKSERVER
        os.environ["LARGELR_MUTATION"] = "1"
    cli(["run", "--max-children", str(jobs)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: all of {', '.join(MODULES)})")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested in parallel (default 1)")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff after its module")
    parser.add_argument(
        "--recheck-only",
        action="store_true",
        help="only re-check the survivors of the last run of one module, against the current tests",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.jobs)
        return
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    if args.recheck_only and len(args.modules) != 1:
        parser.error("--recheck-only takes exactly one module, the one whose mutants/ is there")
    results = []
    for module in args.modules or MODULES:
        results.append(run_one(module, args.jobs, args.show, rerun=not args.recheck_only))
        print(_line(results[-1]), flush=True)
    print(f"\n{'module':<28}generated  killed  survived  other  seconds  (killed on re-check)")
    for r in results:
        print(_line(r))
        for name in r["survivors"]:
            print(f"    survived: {name}")


def _line(r: dict[str, object]) -> str:
    return (
        f"{r['module']:<28}{r['generated']:>9}{r.get('killed', 0):>8}{r.get('survived', 0):>10}"
        f"{r.get('other', 0):>7}{r['seconds']:>9}  ({r['rechecked']})"
    )


if __name__ == "__main__":
    main()

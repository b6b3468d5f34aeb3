"""Executors: hand a sweep's run configs to something that runs them (this machine, Ray, Slurm).

An executor is ``fn(configs, study, opts, on_done) -> None`` registered in ``EXECUTORS`` with its
command-line options (``options=[parent parsers]``, read by the CLI) and a one-line ``help``. Every
executor ends up calling ``largelr.sweep.worker.run_one`` for each config, in some process on some
node; runs claim their directories through leases, so what an executor does twice is harmless.
``on_done(cfg, outcome)`` is called as each run ends.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from largelr.config import RunConfig
from largelr.errors import UserError
from largelr.registry import Registry
from largelr.specs import ExecutorSpec
from largelr.sweep.worker import OnDone

Executor = Callable[[Sequence[RunConfig], Path, argparse.Namespace, OnDone], None]
EXECUTORS: Registry[Executor] = Registry("executor", ExecutorSpec, package="largelr.sweep.executors")


def resources_options() -> argparse.ArgumentParser:
    """Per-run resources, shared by the cluster executors (one parser object, added to the CLI once)."""
    return _RESOURCES


_RESOURCES = argparse.ArgumentParser(add_help=False)
_g = _RESOURCES.add_argument_group("resources per run (ray, slurm)")
_g.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs each run gets (default 1)")
_g.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs each run gets; fractions share a GPU (ray)")


def check_resources(opts: argparse.Namespace) -> None:
    """--cpus-per-run > 0 and --gpus-per-run >= 0, both finite (``inf`` cannot be scheduled)."""
    import math

    if not (math.isfinite(opts.cpus_per_run) and opts.cpus_per_run > 0):
        raise UserError(f"--cpus-per-run must be a finite number > 0, got {opts.cpus_per_run}")
    if not (math.isfinite(opts.gpus_per_run) and opts.gpus_per_run >= 0):
        raise UserError(
            f"--gpus-per-run must be a finite number >= 0 (a fraction shares a GPU), got {opts.gpus_per_run}"
        )


def _actions(name: str) -> dict[str, argparse.Action]:
    """{dest: action} of executor ``name``'s options."""
    return {a.dest: a for p in EXECUTORS.spec(name).options for a in p._actions if a.dest != "help"}


def executor_options(name: str, **given: Any) -> argparse.Namespace:
    """The options of executor ``name`` at their defaults, updated with ``given`` (for library callers).

    A value in ``given`` that ``name`` has no option for is refused, unless it is the default of another
    executor's option (a caller passing ``jobs=1`` along to the dry executor chose nothing).
    """
    ns = argparse.Namespace(**{dest: a.default for dest, a in _actions(name).items()})
    defaults = {dest: a.default for other in EXECUTORS.names() for dest, a in _actions(other).items()}
    unknown = {k for k, v in given.items() if k not in vars(ns) and not (k in defaults and defaults[k] == v)}
    if unknown:
        raise UserError(f"executor {name!r} has no option(s) {', '.join(sorted(unknown))}")
    for k, v in given.items():
        if k in vars(ns):
            setattr(ns, k, v)
    return ns


def check_foreign_options(name: str, opts: argparse.Namespace) -> None:
    """Refuse an option of another executor given on the command line (not at its default), e.g.
    ``--address`` with the local executor: it would be ignored silently."""
    own = _actions(name)
    for other in EXECUTORS.names():
        for dest, action in _actions(other).items():
            if dest not in own and hasattr(opts, dest) and getattr(opts, dest) != action.default:
                flag = "/".join(action.option_strings) or dest
                raise UserError(
                    f"{flag} is an option of the {other} executor, not of {name}; use --executor {other} or drop {flag}"
                )

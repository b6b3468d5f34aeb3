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
from largelr.sweep.worker import OnDone

Executor = Callable[[Sequence[RunConfig], Path, argparse.Namespace, OnDone], None]
EXECUTORS: Registry[Executor] = Registry("executor")


def resources_options() -> argparse.ArgumentParser:
    """Per-run resources, shared by the cluster executors (one parser object, added to the CLI once)."""
    return _RESOURCES


_RESOURCES = argparse.ArgumentParser(add_help=False)
_g = _RESOURCES.add_argument_group("resources per run (ray, slurm)")
_g.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs each run gets (default 1)")
_g.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs each run gets; fractions share a GPU (ray)")


def executor_options(name: str, **given: Any) -> argparse.Namespace:
    """The options of executor ``name`` at their defaults, updated with ``given`` (for library callers)."""
    ns = argparse.Namespace()
    for parser in EXECUTORS.meta(name).get("options", []):
        for action in parser._actions:
            if action.dest != "help":
                setattr(ns, action.dest, action.default)
    unknown = set(given) - set(vars(ns))
    if unknown:
        raise UserError(f"executor {name!r} has no option(s) {', '.join(sorted(unknown))}")
    for k, v in given.items():
        setattr(ns, k, v)
    return ns


from largelr.sweep.executors import dry, local, ray, slurm  # noqa: E402,F401  (fills EXECUTORS)

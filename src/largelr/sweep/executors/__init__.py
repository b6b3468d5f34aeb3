"""Executors: hand a sweep's run configs to something that runs them (this machine, Ray, Slurm).

The registry and the shared options are in ``base``; each executor is one module, imported here (which is
what fills ``EXECUTORS``).
"""

from __future__ import annotations

from largelr.sweep.executors import dry, local, ray, slurm  # noqa: F401  (fills EXECUTORS)
from largelr.sweep.executors.base import (
    EXECUTORS,
    Executor,
    check_foreign_options,
    check_resources,
    executor_options,
    resources_options,
)

__all__ = [
    "EXECUTORS",
    "Executor",
    "check_foreign_options",
    "check_resources",
    "executor_options",
    "resources_options",
]

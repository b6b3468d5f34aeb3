"""Sweeps: expand an experiment into run configs, skip finished runs, hand the rest to an executor.

The names below are imported on first use, so that ``largelr.sweep.executors`` (the command line's options)
does not import the launcher and its progress bar.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "SweepSummary": "largelr.sweep.launch",
    "run_sweep": "largelr.sweep.launch",
    "sweep_status": "largelr.sweep.launch",
    "Experiment": "largelr.sweep.spec",
    "grid": "largelr.sweep.spec",
    "load_experiment": "largelr.sweep.spec",
    "log_space": "largelr.sweep.spec",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'largelr.sweep' has no attribute {name!r}")

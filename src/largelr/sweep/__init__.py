"""Sweeps: expand an experiment into run configs, skip finished runs, hand the rest to an executor."""

from __future__ import annotations

from largelr.sweep.runner import SweepSummary, run_sweep, sweep_status
from largelr.sweep.spec import Experiment, grid, load_experiment, log_space

__all__ = ["Experiment", "SweepSummary", "grid", "load_experiment", "log_space", "run_sweep", "sweep_status"]

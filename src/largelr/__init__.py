"""largelr: how the learning rate shapes robustness to spurious correlations and compressibility.

Public API (everything else is importable from its module):

>>> import largelr
>>> cfg = largelr.apply_overrides(largelr.RunConfig(), ["optim.lr=0.1"])  # doctest: +SKIP
>>> largelr.run(cfg, "runs/one")                                           # doctest: +SKIP
>>> df = largelr.load_results("runs/one")                                  # doctest: +SKIP
"""

from __future__ import annotations

from largelr.config import RunConfig, apply_overrides, run_id

__version__ = "0.1.0"
__all__ = [
    "RunConfig",
    "apply_overrides",
    "evaluate_predictions",
    "grid",
    "load_results",
    "run",
    "run_id",
    "write_report",
]


def __getattr__(name: str):  # lazy: importing largelr must not import torch
    if name == "load_results":
        from largelr.report import load_results

        return load_results
    if name == "write_report":
        from largelr.report import write_report

        return write_report
    if name == "run":  # the module largelr.run is callable: largelr.run(cfg, study) is run.execute
        import importlib

        return importlib.import_module("largelr.run")
    if name == "evaluate_predictions":
        from largelr.predictions import evaluate_predictions

        return evaluate_predictions
    if name == "grid":
        from largelr.sweep import grid

        return grid
    raise AttributeError(f"module 'largelr' has no attribute {name!r}")

"""The tiny run config the tests train (imported by name: ``from tiny import TINY, tiny_config``)."""

from __future__ import annotations

from largelr.config import RunConfig, apply_overrides

# Small enough to train and evaluate in about a second on one CPU core. The metrics are named
# explicitly (not the "default" set) so these tests do not depend on every metric family.
TINY = [
    "data.n_train=500",
    "data.n_val=200",
    "data.n_test=200",
    "model.kwargs.width=32",
    "train.steps=60",
    "train.eval_every=20",
    "train.batch_size=50",
    'eval.metrics=["robustness", "compressibility"]',
    "eval.n_repr=100",
    "eval.sparsities=[0.0, 0.5, 0.9]",
]
TINY_SET = [a for item in TINY for a in ("--set", item)]  # the same on a command line


def tiny_config(*overrides: str) -> RunConfig:
    """The tiny config with extra ``key=value`` overrides applied."""
    return apply_overrides(RunConfig(), [*TINY, *overrides])

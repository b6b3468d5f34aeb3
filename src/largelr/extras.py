"""Optional dependencies: which extra installs what, and one clear error when a feature's package is missing.

The heavy parts of largelr are extras (``pip install 'largelr[NAME]'``), so a plain install stays small. A
feature that needs one calls ``require(NAME)`` before it writes anything; a missing package is then one
``error:`` line saying what to install, never an ImportError traceback halfway through a run.
"""

from __future__ import annotations

import importlib.util

from largelr.errors import UserError

# extra -> (the module it provides, what needs it); the extras themselves are declared in pyproject.toml
EXTRAS: dict[str, tuple[str, str]] = {
    "ray": ("ray", "--executor ray"),
    "slurm": ("submitit", "--executor slurm"),
    "tensorboard": ("tensorboard", "TensorBoard event files (train.tensorboard=True, largelr export tensorboard)"),
    "mlflow": ("mlflow", "largelr export mlflow"),
    "pruning": ("torch_pruning", "structured pruning of CNNs and ResNets (structured_prune_curve)"),
}


def available(extra: str) -> bool:
    """Whether the package of ``extra`` can be imported (without importing it).

    >>> available("pruning") in (True, False)
    True
    """
    return importlib.util.find_spec(EXTRAS[extra][0]) is not None


def require(extra: str, what: str | None = None) -> None:
    """Raise UserError naming the pip command when the package of ``extra`` is not installed.

    Args:
        extra: a key of ``EXTRAS``.
        what: the feature that needs it, for the message (default: the one declared in ``EXTRAS``).
    """
    module, needs = EXTRAS[extra]
    if not available(extra):
        raise UserError(f"{what or needs} needs the {module} package: pip install 'largelr[{extra}]'")

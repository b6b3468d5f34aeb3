"""Sweep specification: experiment files and pure expansion of a base config into run configs.

An experiment file is a Python file that defines ``sweep() -> list[RunConfig]`` (usually via
``grid``), optionally ``NAME`` and a module docstring saying what it studies and what it costs.
Loading it checks every config, so a bad experiment fails before any run starts.
"""

from __future__ import annotations

import itertools
import runpy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from largelr.config import RunConfig, apply_overrides, check_fields, revalidate, run_id, set_path
from largelr.errors import ConfigError, UserError


def grid(base: RunConfig, axes: Mapping[str | tuple[str, ...], Iterable[Any]]) -> list[RunConfig]:
    """The Cartesian product of ``axes`` applied to ``base``, in a fixed order.

    A key is a dotted config path; a tuple of paths zips those paths together (its values are tuples).

    >>> len(grid(RunConfig(), {"optim.lr": [0.01, 0.1], ("seeds.init", "seeds.order"): [(0, 0), (1, 1)]}))
    4
    """
    keys = list(axes)
    values = [list(v) for v in axes.values()]
    out = []
    for combo in itertools.product(*values):
        cfg = base
        for key, value in zip(keys, combo):
            if isinstance(key, tuple):
                if not isinstance(value, (tuple, list)) or len(value) != len(key):
                    raise ConfigError(f"grid axis {key} needs tuples of {len(key)} values, got {value!r}")
                for k, v in zip(key, value):
                    cfg = set_path(cfg, k, v)
            else:
                cfg = set_path(cfg, key, value)
        out.append(check_fields(cfg))
    return out


def log_space(lo: float, hi: float, n: int) -> list[float]:
    """``n`` log-spaced values from ``lo`` to ``hi`` inclusive, rounded to 3 significant digits."""
    import math

    if n == 1:
        return [lo]
    return [float(f"{math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (n - 1)):.3g}") for i in range(n)]


@dataclass(frozen=True)
class Experiment:
    name: str
    path: Path
    doc: str
    configs: list[RunConfig]


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    """Load an experiment file (a path, or the name of a study shipped in ``largelr.studies``).

    Expands it, applies ``overrides`` to every config and checks them all.

    Raises:
        UserError: the file is missing, does not run, has no ``sweep()``, or yields invalid configs.
    """
    from largelr.studies import study_names, study_path
    from largelr.validate import check_config

    shipped = study_path(str(path)) if not str(path).endswith(".py") else None
    path = shipped or Path(path)
    if not path.is_file():
        raise UserError(
            f"experiment file not found: {path}; give a path to a .py file or a shipped study "
            f"({', '.join(study_names())})"
        )
    if path.suffix != ".py":
        raise UserError(f"experiment file must be a Python file (.py) defining sweep(), got {path}")
    ns = _guarded(path, "experiment file", lambda: runpy.run_path(str(path), run_name="largelr_experiment"))
    fn = ns.get("sweep")
    if not callable(fn):
        raise UserError(f"{path}: experiment file must define a function sweep() returning a list of RunConfig")
    configs = _guarded(path, "sweep()", fn)
    if not isinstance(configs, (list, tuple)) or not configs:
        raise UserError(f"{path}: sweep() must return a non-empty list of RunConfig, got {_short(configs)}")
    bad = [type(c).__name__ for c in configs if not isinstance(c, RunConfig)]
    if bad:
        raise UserError(f"{path}: sweep() must return RunConfig objects, got {bad[0]}")
    try:  # the same checks as --set: a RunConfig built in Python may hold any value
        configs = [check_config(apply_overrides(revalidate(c), list(overrides))) for c in configs]
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    unique = list({run_id(c): c for c in configs}.values())
    return Experiment(_study_name(path, ns.get("NAME", path.stem)), path, _doc(ns), unique)


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a user object whose __repr__ raises
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _guarded(path: Path, what: str, fn: Any) -> Any:
    """Call ``fn`` (code from the user's experiment file): any error, exit or interrupt inside it is
    one UserError naming the file, never a traceback, a silent exit or a misleading message."""
    try:
        return fn()
    except SyntaxError as e:
        raise UserError(f"{path}:{e.lineno}: syntax error in experiment file: {e.msg}") from None
    except UserError as e:
        raise UserError(f"{path}: {what}: {e}") from None
    except SystemExit as e:
        raise UserError(f"{path}: {what} called sys.exit({_short(e.code)}); an experiment file must not exit") from None
    except KeyboardInterrupt:
        raise UserError(f"{path}: {what} was interrupted (KeyboardInterrupt); nothing was run") from None
    except BaseException as e:  # the user's code raised: show where, not our traceback
        raise UserError(f"{path}: {what} raised {type(e).__name__}: {str(e)[:200]}") from None


def _study_name(path: Path, name: Any) -> str:
    """The experiment's NAME, which names its default output directory runs/<NAME>: a relative path
    that stays inside runs/ (no absolute path, no '..')."""
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{path}: NAME must be a non-empty string, got {_short(name)}")
    p = Path(name)
    if p.is_absolute() or ".." in p.parts or "\x00" in name:
        raise UserError(f"{path}: NAME {name!r} must be a relative name inside runs/ (no absolute path, no '..')")
    if not p.parts:  # "." or "./": runs/ itself would become the study
        raise UserError(f"{path}: NAME {name!r} must name a directory inside runs/, not runs/ itself")
    return name


def _doc(ns: dict[str, Any]) -> str:
    doc = ns.get("__doc__")
    return doc.strip() if isinstance(doc, str) else ""

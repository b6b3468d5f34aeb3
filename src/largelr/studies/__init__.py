"""Studies shipped with largelr: experiment files a user (or a worker on another machine) runs by name.

Each ``*.py`` file here is an experiment file (see ``largelr.sweep.spec``): a base config, a
``sweep()`` returning run configs, ``NAME`` and a docstring giving intent, cost and the command. They
are package data, so ``largelr sweep quickstart`` works from any directory and from an installed
wheel. This package holds no code that runs studies; the sweep machinery loads these files.
"""

from __future__ import annotations

from pathlib import Path

STUDIES_DIR = Path(__file__).parent


def study_names() -> list[str]:
    """Names of the shipped studies (file stems), sorted; subfolders hold groups such as reproduce targets."""
    return sorted(
        str(p.relative_to(STUDIES_DIR).with_suffix("")) for p in STUDIES_DIR.rglob("*.py") if p.name != "__init__.py"
    )


def study_path(name: str) -> Path | None:
    """The file of the shipped study ``name`` (e.g. ``"quickstart"``), or None if there is none."""
    if not name or name.startswith(("/", ".")) or ".." in Path(name).parts:
        return None
    path = STUDIES_DIR / f"{name}.py"
    return path if path.is_file() and path.name != "__init__.py" else None

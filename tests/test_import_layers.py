"""The package's layers only import downwards, and no module imports itself back through others.

Layers, bottom to top (design.md): foundations -> data, models -> optim, objectives, train, evaluate,
metrics -> store -> run -> sweep -> report -> reproduce -> cli. Every import counts, including those inside
functions (a lazy import is still a dependency), except under ``if TYPE_CHECKING:``. A module may import
its own layer or any layer below it. The check reads the source (``ast``), so it runs without torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# module prefix -> layer (the longest matching prefix wins); bottom = 0
LAYERS: dict[str, int] = {
    "largelr.errors": 0,
    "largelr.registry": 0,
    "largelr.specs": 0,
    "largelr.catalog": 0,
    "largelr.config": 0,
    "largelr.identity": 0,
    "largelr.seeding": 0,
    "largelr.provenance": 0,
    "largelr.knobs": 0,
    "largelr.studies": 0,  # STUDIES_DIR: where the study files are (the files themselves are data)
    "largelr.extras": 0,  # which optional package a feature needs, and the error naming its extra
    "largelr.data": 1,
    "largelr.models": 1,
    "largelr.optim": 2,
    "largelr.augment": 2,
    "largelr.objectives": 2,
    "largelr.train": 2,
    "largelr.evaluate": 2,
    "largelr.metrics": 2,
    "largelr.checkpoint": 2,
    "largelr.validate": 2,
    "largelr.predictions": 2,  # evaluate_predictions: a user's predictions scored by the robustness metric
    "largelr.store": 3,
    "largelr.run": 4,
    "largelr.suggest": 4,
    "largelr.sweep": 5,
    "largelr.report": 6,
    "largelr.export": 6,  # a finished study to TensorBoard / MLflow, read through report.collect
    "largelr.reproduce": 7,
    "largelr.cli": 8,
    "largelr.__main__": 8,
}
NAMES = {0: "foundations", 1: "data/models", 2: "train/evaluate/metrics", 3: "store", 4: "run", 5: "sweep",
         6: "report", 7: "reproduce", 8: "cli"}  # fmt: skip


def modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "largelr").rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


MODULES = modules()


def resolve(name: str) -> str | None:
    """The package module ``name`` (or an attribute of it) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path) -> set[str]:
    """The largelr modules ``path`` imports anywhere (function bodies included), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {m for a in node.names if (m := resolve(a.name))}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {m for a in node.names if (m := resolve(f"{node.module}.{a.name}") or resolve(node.module))}
    return out


def layer(module: str) -> int | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return LAYERS[best] if best else None


# Study files (experiments and reproduce targets) are data loaded by path, not imported by the package;
# the package's __init__ is the public facade, reaching up lazily on purpose.
EXEMPT = {"largelr"}


def is_study_file(module: str) -> bool:
    return module.startswith("largelr.studies.")


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m not in EXEMPT and not is_study_file(m) and layer(m) is None] == []


def test_imports_only_point_down():
    bad = []
    for m, path in MODULES.items():
        if m in EXEMPT or is_study_file(m):
            continue
        for target in imports(path):
            if target in EXEMPT or is_study_file(target):
                continue
            if layer(target) > layer(m):
                bad.append(f"{m} ({NAMES[layer(m)]}) imports {target} ({NAMES[layer(target)]})")
    assert bad == []


def test_there_is_no_import_cycle():
    graph = {m: {t for t in imports(p) if t != m} for m, p in MODULES.items()}
    # a package's __init__ importing its submodules (what fills a registry) is not a cycle when the
    # submodules import siblings, never the package itself
    seen: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if seen.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in seen:
                visit(t, stack)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [])
    assert cycles == []


@pytest.mark.parametrize("module", ["largelr.config", "largelr.registry", "largelr.specs", "largelr.catalog"])
def test_foundations_import_no_other_layer(module):
    assert all(layer(t) == 0 for t in imports(MODULES[module]))


def test_report_modules_import_no_private_names():
    """A name starting with ``_`` is its module's own: a report or reproduce module that needs another's gets a
    public one (the figures are one public module, ``largelr.report.figures``, that both report pipelines call)."""
    bad = []
    for m, path in MODULES.items():
        if not m.startswith(("largelr.report", "largelr.reproduce")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("largelr"):
                bad += [
                    f"{m}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert bad == []

"""Which components exist and what they declare, read from their source files without importing them.

A component is one decorated function in a module of its package (``largelr/data/*.py`` for datasets, ...)
or of a plugin module (the ``largelr.plugins`` entry-point group): ``@DATASETS.register("name", field=...)``.
Importing those modules fills the registries (``largelr.registry``) but imports torch; the read-only
commands (``largelr config``, ``status``, names in error messages) need only the names, the keyword
parameters with their defaults and the declared fields, and read them here with ``ast``: no torch.

What cannot be read without running code (a field computed by a call, a default that is not a literal or a
module constant) is marked unresolved, and asking for it imports the component (``load``). A test checks,
for every registered component, that what is read here equals what its registration declares.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import inspect
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from largelr.registry import package_modules, plugin_modules, unknown_name
from largelr.specs import DatasetFiles, DatasetSpec, ExecutorSpec, MetricSpec, ModelSpec, Spec, make_spec


@dataclass(frozen=True)
class Kind:
    """A registry: its variable's name in the code, the word for one entry, the package whose modules
    register entries, the module defining the registry, and its spec type."""

    var: str
    word: str
    package: str
    home: str
    spec: type[Spec]


KINDS = {
    k.var: k
    for k in (
        Kind("DATASETS", "dataset", "largelr.data", "largelr.data.base", DatasetSpec),
        Kind("SOURCES", "image source", "largelr.data", "largelr.data.sources", Spec),
        Kind("MODELS", "model", "largelr.models", "largelr.models.base", ModelSpec),
        Kind("METRICS", "metric", "largelr.metrics", "largelr.metrics.base", MetricSpec),
        Kind("EXECUTORS", "executor", "largelr.sweep.executors", "largelr.sweep.executors.base", ExecutorSpec),
    )
}
EMPTY = inspect.Parameter.empty
UNRESOLVED = object()  # a default that is not a literal: importing the module tells it
SPEC_HELPERS = {"DatasetFiles": DatasetFiles}  # calls allowed in a declaration read from source
_TYPING = {
    n: getattr(typing, n) for n in ("Any", "Literal", "Optional", "Union", "Sequence", "Mapping")
}  # calls allowed in a declaration read from source


@dataclass(frozen=True)
class Param:
    """A keyword-only parameter of a factory, as written: default (``EMPTY`` if none) and annotation text."""

    name: str
    default: Any = EMPTY
    annotation: str = ""


@dataclass(frozen=True)
class Declared:
    """One registration read from source."""

    kind: Kind
    name: str
    module: str
    function: str
    fields: dict[str, Any]
    unresolved: frozenset[str]
    params: dict[str, Param] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # type aliases the annotations may use

    @property
    def where(self) -> str:
        return f"{self.module}:{self.function}"

    def spec(self) -> Spec:
        """The spec with the fields read from source (unresolved ones at their defaults, ``factory`` None)."""
        return make_spec(self.kind.spec, self.kind.word, name=self.name, where=self.where, **self.fields)

    def params_with_defaults(self) -> dict[str, Param]:
        """The keyword parameters that have a default; a default that is not a literal is read from the
        imported factory."""
        if any(p.default is UNRESOLVED for p in self.params.values()):
            fn = load(self.kind.var).get(self.name)
            real = inspect.signature(fn).parameters
            return {
                n: Param(n, real[n].default, p.annotation)
                for n, p in self.params.items()
                if real[n].default is not EMPTY
            }
        return {n: p for n, p in self.params.items() if p.default is not EMPTY}

    def param_types(self, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """Keyword parameter -> its annotation as a type (None: not annotated), minus ``skip``. Annotations are
        evaluated from their text (builtins and ``typing``); one that needs the module's own names is read
        from the imported factory."""
        out = {}
        names = dict(_TYPING)
        for alias, text in self.aliases.items():
            with contextlib.suppress(Exception):
                names[alias] = eval(text, dict(names))  # noqa: S307 (the component's own source text)
        for n, p in self.params.items():
            if n in skip:
                continue
            try:
                out[n] = eval(p.annotation, dict(names)) if p.annotation else None  # noqa: S307 (source text)
            except Exception:  # a name of the module itself: read the imported factory's annotations
                hints = typing.get_type_hints(load(self.kind.var).get(self.name))
                return {k: hints.get(k) for k in self.params if k not in skip}
        return out

    def field(self, name: str) -> Any:
        """A declared field; one that needs the module run (``unresolved``) is read from the loaded registry."""
        if name in self.unresolved:
            return getattr(load(self.kind.var).spec(self.name), name)
        return getattr(self.spec(), name)


@functools.cache
def _source(module: str) -> Path | None:
    """The source file of ``module``, found without importing it or its parent packages (which may import
    torch): only the top-level package is located through the import system."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    folders = list(spec.submodule_search_locations or ())
    path = Path(spec.origin) if spec.origin else None
    for part in rest:
        path = next(
            (c for f in folders for c in (Path(f) / f"{part}.py", Path(f) / part / "__init__.py") if c.is_file()), None
        )
        if path is None:
            return None
        folders = [str(path.parent)] if path.name == "__init__.py" else []
    return path if path is not None and path.suffix == ".py" else None


def component_modules(package: str) -> list[tuple[str, Path]]:
    """Every module that may register components of ``package``'s kinds: its own, then the plugins'."""
    return [*package_modules(package), *((m, p) for m in plugin_modules() if (p := _source(m)) is not None)]


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


@functools.cache
def _constants(module: str, path: Path, depth: int = 0) -> dict[str, Any]:
    """Module-level names bound to literals, directly or through ``from X import NAME`` (one level)."""
    out: dict[str, Any] = {}
    for node in _parse(path).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _value(node.value, out)  # a literal, an earlier constant, or a spec helper call
            if value is not UNRESOLVED:
                out[node.targets[0].id] = value
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and depth == 0:
            if node.module.split(".")[0] != module.split(".")[0]:
                continue  # only the component's own package (finding torch's source would import torch)
            src = _source(node.module)
            if src is not None:
                theirs = _constants(node.module, src, depth + 1)
                out.update({a.asname or a.name: theirs[a.name] for a in node.names if a.name in theirs})
    return out


@functools.cache
def _aliases(module: str, path: Path, depth: int = 0) -> dict[str, str]:
    """Module-level type aliases (``Side = Literal["left", "right"]``) as source text, directly or through
    ``from X import NAME`` within the component's own package (one level)."""
    out: dict[str, str] = {}
    for node in _parse(path).body:
        one = isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        if one and isinstance(node.value, (ast.Subscript, ast.BinOp)):
            out[node.targets[0].id] = ast.unparse(node.value)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and depth == 0:
            own = node.module.split(".")[0] == module.split(".")[0]  # never locate torch's modules
            if own and (src := _source(node.module)) is not None:
                theirs = _aliases(node.module, src, depth + 1)
                out.update({a.asname or a.name: theirs[a.name] for a in node.names if a.name in theirs})
    return out


def _value(node: ast.AST, consts: dict[str, Any]) -> Any:
    """The value of a declaration written as a literal, a module constant or a spec helper call; else UNRESOLVED."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        pass
    if isinstance(node, ast.Name):
        return consts.get(node.id, UNRESOLVED)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_value(e, consts) for e in node.elts]
        if any(i is UNRESOLVED for i in items):
            return UNRESOLVED
        return tuple(items) if isinstance(node, ast.Tuple) else items
    helper = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SPEC_HELPERS
    if helper and not node.args:
        kw = {k.arg: _value(k.value, consts) for k in node.keywords}
        if all(v is not UNRESOLVED for v in kw.values()) and None not in kw:
            return SPEC_HELPERS[node.func.id](**kw)
    return UNRESOLVED


def _registry_var(call: ast.Call) -> str | None:
    """``X`` of a decorator ``X.register(...)`` / ``pkg.X.register(...)`` when X is a known registry."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == "register"):
        return None
    base = f.value
    name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
    return name if name in KINDS else None


def _params(fn: ast.FunctionDef, consts: dict[str, Any]) -> dict[str, Param]:
    a = fn.args
    out = {}
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        value = EMPTY if default is None else _value(default, consts)
        out[arg.arg] = Param(arg.arg, value, ast.unparse(arg.annotation) if arg.annotation else "")
    return out


class _Lazy(dict):
    """A module's constants, read on the first lookup (most declarations are plain literals)."""

    def __init__(self, module: str, path: Path) -> None:
        super().__init__()
        self.module, self.path, self.read = module, path, False

    def get(self, key: str, default: Any = None) -> Any:
        if not self.read:
            self.update(_constants(self.module, self.path))
            self.read = True
        return super().get(key, default)


def _scan(module: str, path: Path) -> Iterator[Declared]:
    consts = _Lazy(module, path)
    aliases = _aliases(module, path)
    for node in _parse(path).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not isinstance(deco, ast.Call) or (var := _registry_var(deco)) is None:
                continue
            name = _value(deco.args[0], consts) if deco.args else node.name
            fields, unresolved = {}, set()
            for kw in deco.keywords:
                v = _value(kw.value, consts)
                if v is UNRESOLVED:
                    unresolved.add(kw.arg)
                else:
                    fields[kw.arg] = v
            params = _params(node, consts)
            yield Declared(KINDS[var], name, module, node.name, fields, frozenset(unresolved), params, aliases)


@functools.cache
def declared(var: str) -> dict[str, Declared]:
    """name -> registration, for registry ``var`` ("DATASETS", "MODELS", ...), read from source."""
    out: dict[str, Declared] = {}
    for module, path in component_modules(KINDS[var].package):
        if f"{var}.register" not in path.read_text():  # most files register nothing of this kind: not parsed
            continue
        for d in _scan(module, path):
            if d.kind.var == var:
                out.setdefault(d.name, d)
    return out


def names(var: str) -> list[str]:
    return sorted(declared(var))


def lookup(var: str, name: str) -> Declared:
    """The registration of ``name``; ConfigError with close matches when there is none.

    A component registered at run time by the user's own script (``@MODELS.register("mine")`` above its use,
    docs/own-model.md) is in no source file the catalog reads; it is found in the runtime registry, which
    such a script has already imported."""
    found = declared(var)
    if name not in found:
        runtime = _registered_at_run_time(var, name)
        if runtime is None:
            raise unknown_name(KINDS[var].word, name, sorted(found))
        return runtime
    return found[name]


def _registered_at_run_time(var: str, name: str) -> Declared | None:
    """``name`` as the already-imported runtime registry ``var`` holds it (every field and default read from the
    live factory), or None when that registry was never imported (nothing can have been added to it) or nothing
    registered ``name`` in it. The registry is not filled for this (that would import torch to report a typo)."""
    import dataclasses
    import sys

    kind = KINDS[var]
    registry = getattr(sys.modules.get(kind.home), var, None)
    spec = registry.registered_so_far(name) if registry is not None else None
    if spec is None:
        return None
    fn = spec.factory
    keyword = inspect.Parameter.KEYWORD_ONLY
    # annotation "<run time>" cannot be evaluated from text: param_types reads the live factory's hints
    params = {n: Param(n, UNRESOLVED, "<run time>") for n, p in inspect.signature(fn).parameters.items()
              if p.kind is keyword}  # fmt: skip
    unresolved = frozenset(f.name for f in dataclasses.fields(kind.spec))
    return Declared(kind, name, fn.__module__, fn.__name__, {}, unresolved, params)


def load(var: str):
    """The filled runtime registry ``var`` (imports its package and the plugins: torch)."""
    registry = getattr(importlib.import_module(KINDS[var].home), var)
    registry.ensure_loaded()
    return registry

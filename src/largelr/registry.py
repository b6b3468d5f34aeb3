"""Name -> factory registries for everything a config or the CLI names (datasets, models, metrics).

Also checks keyword arguments from a config against a factory's signature, so a typo in
``model.kwargs`` fails before anything runs or is written.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from largelr.errors import ConfigError
from largelr.specs import Spec, make_spec

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps config names to factories and what each declares about itself (its typed spec).

    Fails loudly on duplicates, typos (close matches suggested) and undeclared spec fields (TypeError at
    registration). Filled by importing the modules of ``package`` and the plugins (``largelr.catalog``),
    which happens on first use.
    """

    def __init__(self, kind: str, spec: type[Spec] = Spec, package: str | None = None) -> None:
        self.kind, self.spec_type, self.package = kind, spec, package
        self._specs: dict[str, Spec] = {}
        self._loaded = package is None

    def register(self, name: str | None = None, **fields: Any) -> Callable[[T], T]:
        """Decorator registering a factory under ``name`` with the spec fields it declares (e.g. a metric's
        ``keys`` with labels and directions); an unknown field is a TypeError here."""

        def deco(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            if key in self._specs:
                raise KeyError(f"{self.kind} {key!r} already registered")
            where = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', key)}"
            self._specs[key] = make_spec(self.spec_type, self.kind, name=key, factory=obj, where=where, **fields)
            return obj

        return deco

    def ensure_loaded(self) -> None:
        """Import every module of the registry's package and the plugins (once), which registers them."""
        if self._loaded:
            return
        self._loaded = True
        import importlib

        assert self.package is not None
        for module, path in package_modules(self.package):
            if ".register(" in path.read_text():  # a module that registers components (helpers load as needed)
                importlib.import_module(module)
        for module in plugin_modules():
            importlib.import_module(module)

    def spec(self, name: str) -> Spec:
        """What the component registered as ``name`` declared about itself."""
        self.ensure_loaded()
        if name not in self._specs:
            raise unknown_name(self.kind, name, self.names())
        return self._specs[name]

    def get(self, name: str) -> T:
        """The factory registered as ``name``."""
        return self.spec(name).factory

    def registered_so_far(self, name: str) -> Spec | None:
        """``name``'s spec if something has registered it already, without importing the package to fill the
        registry (a user's script registering its own component before use; torch-free lookups)."""
        return self._specs.get(name)

    def names(self) -> list[str]:
        self.ensure_loaded()
        return sorted(self._specs)

    def __contains__(self, name: str) -> bool:
        self.ensure_loaded()
        return name in self._specs


PLUGIN_GROUP = "largelr.plugins"  # entry points naming modules that register components


@functools.cache
def plugin_modules() -> list[str]:
    """The modules the installed plugins name (entry-point group ``largelr.plugins``; ``module`` or
    ``module:attr``, the module is what counts), sorted."""
    from importlib.metadata import entry_points

    return sorted({ep.value.split(":")[0].strip() for ep in entry_points(group=PLUGIN_GROUP)})


def package_modules(package: str) -> Iterator[tuple[str, Path]]:
    """(module, source file) of every module directly in ``package``, sorted by name, without importing them."""
    import importlib.util

    top, *rest = package.split(".")  # located without importing the package (its __init__ may import torch)
    spec = importlib.util.find_spec(top)
    folders = [Path(f).joinpath(*rest) for f in ((spec.submodule_search_locations if spec else None) or ())]
    for folder in folders:
        for p in sorted(folder.glob("*.py")):
            if p.stem != "__init__":
                yield f"{package}.{p.stem}", p


def unknown_name(kind: str, name: str, known: list[str]) -> ConfigError:
    """The error for a name no component of ``kind`` is registered under, with the close matches."""
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ConfigError(f"unknown {kind} {name!r}; {hint}known: {', '.join(known)}")


def keyword_params(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of ``fn`` a user may set, minus those the caller fills in."""
    sig = inspect.signature(fn)
    return {n: p for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in skip}


def check_kwargs(fn: Callable[..., Any], kwargs: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()) -> None:
    """Raise ConfigError if ``kwargs`` has a key ``fn`` does not take or a value of the wrong type.

    Args:
        fn: the registered factory; its keyword-only parameters are the allowed keys.
        kwargs: the user's values (from ``model.kwargs`` / ``data.kwargs``).
        where: the config path shown in the message, e.g. ``"model.kwargs"``.
        skip: parameters the caller provides itself (e.g. ``num_classes``).
    """
    hints = typing.get_type_hints(fn)
    check_values({n: hints.get(n) for n in keyword_params(fn, skip)}, kwargs, where)


def check_values(params: Mapping[str, Any], kwargs: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError if ``kwargs`` has a key not in ``params`` (name -> annotation, None: any value) or a
    value that does not fit its annotation."""
    hints = {k: t for k, t in params.items() if t is not None}
    for key, value in kwargs.items():
        if key not in params:
            close = difflib.get_close_matches(key, params, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(f"unknown key {where}.{key}; {hint}valid keys: {', '.join(sorted(params)) or 'none'}")
        if key in hints and not type_matches(value, hints[key]):
            raise ConfigError(f"{where}.{key} must be {type_name(hints[key])}, got {type(value).__name__} {value!r}")


def type_matches(value: Any, tp: Any) -> bool:
    """Whether a JSON-ish config value fits the annotation ``tp`` (int is accepted for float)."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(type_matches(value, a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return all(type_matches(v, args[0]) for v in value) if args else True
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def type_name(tp: Any) -> str:
    """A short human name for an annotation, for error messages."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None and typing.get_args(tp):
        args = [type_name(a) for a in typing.get_args(tp) if a is not Ellipsis]
        if origin in (tuple, list):
            return f"a list of {args[0]}"
        return " or ".join(args)
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "None")

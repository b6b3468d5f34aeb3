"""Name -> factory registries for everything a config or the CLI names (datasets, models, metrics).

Also checks keyword arguments from a config against a factory's signature, so a typo in
``model.kwargs`` fails before anything runs or is written.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from largelr.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps config names to factories. Fails loudly on duplicates and typos."""

    def __init__(self, kind: str) -> None:
        self.kind, self._items, self._meta = kind, {}, {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator registering a factory under ``name``; ``meta`` is what the component declares
        about itself (e.g. a metric's keys with labels and directions), read back with ``meta(name)``."""

        def deco(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            if key in self._items:
                raise KeyError(f"{self.kind} {key!r} already registered")
            self._items[key] = obj
            self._meta[key] = dict(meta)
            return obj

        return deco

    def meta(self, name: str) -> dict[str, Any]:
        """What the component registered as ``name`` declared about itself (empty if nothing)."""
        self.get(name)
        return self._meta.get(name, {})

    def get(self, name: str) -> T:
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(f"unknown {self.kind} {name!r}; {hint}known: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


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
    params = keyword_params(fn, skip)
    hints = typing.get_type_hints(fn)
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

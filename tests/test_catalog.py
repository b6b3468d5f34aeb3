"""Components are declared once, in typed specs: what the read-only commands read from the source
(``largelr.catalog``, no torch) is exactly what the registration declares, and a misspelled declaration
fails at registration."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing

import pytest

from largelr import catalog
from largelr.registry import Registry
from largelr.specs import DatasetSpec, MetricSpec

KINDS = sorted(catalog.KINDS)


@pytest.mark.parametrize("var", KINDS)
def test_the_source_lists_every_registered_component(var):
    assert catalog.names(var) == catalog.load(var).names()


def _jsonish(v):
    try:
        return json.loads(json.dumps(v))
    except TypeError:
        return v


@pytest.mark.parametrize("var", KINDS)
def test_declarations_read_from_source_equal_the_registered_ones(var):
    registry = catalog.load(var)
    for name, declared in catalog.declared(var).items():
        spec = registry.spec(name)
        assert declared.where == spec.where
        for field in declared.fields:  # every field read from source has the registered value
            assert declared.field(field) == getattr(spec, field), (name, field)
        assert declared.spec() == type(spec)(**{**spec.__dict__, "factory": None}) or declared.unresolved
        params = {n: p for n, p in inspect.signature(spec.factory).parameters.items() if p.kind is p.KEYWORD_ONLY}
        assert list(declared.params) == list(params), name
        for n, p in params.items():  # defaults are what run ids leave out: they must be read exactly
            want = inspect.Parameter.empty if p.default is p.empty else _jsonish(p.default)
            got = declared.params[n].default
            assert (got if got is inspect.Parameter.empty else _jsonish(got)) == want, (name, n)
        hints = typing.get_type_hints(spec.factory)
        assert declared.param_types() == {n: hints.get(n) for n in params}, name


def test_an_undeclared_spec_field_is_a_type_error_at_registration():
    reg = Registry("dataset", DatasetSpec)
    with pytest.raises(
        TypeError, match="DatasetSpec has no field hflip_preserve_label; fields: .*hflip_preserves_label"
    ):
        reg.register("x", hflip_preserve_label=True)(lambda: None)
    reg = Registry("metric", MetricSpec)
    with pytest.raises(TypeError, match="no field min_tests"):
        reg.register("m", min_tests=3)(lambda ctx: {})


def test_a_spec_field_default_is_declared_once():
    reg = Registry("metric", MetricSpec)
    reg.register("m")(lambda ctx: {})
    assert (reg.spec("m").min_test, reg.spec("m").needs_regions, reg.spec("m").applies_to) == (1, False, None)


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "--set", "model.kwargs.width=64", "--set", "data.name=colored_mnist"],
        ["config", "--set", "data.name=colored_mnsit"],
        ["config", "--set", 'eval.metrics=["robustnes"]'],
        ["reproduce", "list"],
        ["reproduce", "no_such_target"],
        ["--help"],
        ["sweep", "--help"],
    ],
)
def test_read_only_commands_do_not_import_torch(argv):
    code = (
        "import sys\nfrom largelr.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"

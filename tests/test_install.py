"""The install contract: pyproject.toml declares ranges, constraints.txt pins what `make` installs, and every
version installed here (the one the whole suite runs on) lies in the declared range.

What this tests of the bounds: the upper end of each range (the pinned versions, which the rest of the suite
exercises) and that the pins never leave the ranges. The lower bounds other than torch/torchvision are declared,
not tested (no older wheels are installed here).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements(extras: bool = True) -> list[Requirement]:
    """Every third-party requirement of the package and (with ``extras``) of its extras."""
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    if extras:
        reqs += [Requirement(r) for rs in PROJECT["optional-dependencies"].values() for r in rs]
    return [r for r in reqs if canonicalize_name(r.name) != "largelr"]


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            out[canonicalize_name(name)] = version
    return out


def test_dependencies_are_ranges_with_both_ends():
    for req in requirements():
        ops = {s.operator for s in req.specifier}
        assert "==" not in ops, f"{req}: pin exact versions in constraints.txt, not in pyproject.toml"
        assert ">=" in ops and "<" in ops, f"{req}: give a tested lower and upper bound"


def test_every_pin_lies_in_its_declared_range():
    pinned = pins()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is declared but not pinned in constraints.txt (run `make lock`)"
        assert req.specifier.contains(pinned[name], prereleases=True), f"constraints.txt {name}=={pinned[name]}: {req}"


def test_installed_versions_lie_in_the_declared_ranges():
    for req in requirements(extras=False):
        version = metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), f"installed {req.name} {version} is not in {req}"
    for req in requirements():
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:  # an extra not installed here
            continue
        assert req.specifier.contains(version, prereleases=True), f"installed {req.name} {version} is not in {req}"


def test_torch_and_torchvision_are_a_released_pair():
    torch, vision = metadata.version("torch"), metadata.version("torchvision")
    t_minor, v_minor = int(torch.split(".")[1]), int(vision.split(".")[1])
    assert torch.startswith("2.") and vision.startswith("0.")
    assert v_minor == t_minor + 15, f"torch {torch} with torchvision {vision}: not a released pair"


def test_every_extra_of_a_feature_is_known_to_largelr_extras():
    from largelr.extras import EXTRAS

    assert set(PROJECT["optional-dependencies"]) - {"all", "docs", "test"} == set(EXTRAS)


def test_a_missing_optional_package_is_one_error_line_before_anything_is_written(tmp_path, capsys, monkeypatch):
    import importlib.util

    from largelr.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorboard" else real(n, *a))
    assert main(["run", "--set", "train.tensorboard=True", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        "error: train.tensorboard=True needs the tensorboard package: pip install 'largelr[tensorboard]'\n"
    )
    assert not (tmp_path / "out").exists()

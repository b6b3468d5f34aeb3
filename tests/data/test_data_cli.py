"""``largelr data list/show/preview/download`` through the parser, and the downloader without network
(a ``file://`` mirror stands in for the published one)."""

from __future__ import annotations

import argparse
import hashlib

import pytest
from PIL import Image

from largelr.cli import data as cli_data
from largelr.data import DATASETS
from largelr.data import download as dl
from largelr.errors import ConfigError, UserError


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="largelr")
    cli_data.add_parser(parser.add_subparsers(dest="command", required=True))
    return cli_data.run(parser.parse_args(list(argv)))


def test_list_shows_every_dataset_and_params(capsys):
    assert run("data", "list") == 0
    out = capsys.readouterr().out
    for name in DATASETS.names():
        assert f"\n{name}  [" in "\n" + out
    assert "core_side: one of 'left', 'right', 'top', 'bottom' = 'left'" in out
    assert "severity: int = 4" in out and "mnist5k: 5,000 real MNIST digits" in out


def test_show_prints_groups_and_realised_rho(capsys):
    assert run("data", "show", "colored_frame", "--set", "rho=0.8", "--set", "n_train=50", "--set", "n_val=10",
               "--set", "n_test=20", "--set", "data.kwargs.width=3") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "colored_frame: 10 classes, 10 attribute values, input shape (3, 34, 34)" in out
    assert "train: 50 samples, bias-aligned fraction 0.8000, masks: core, spurious" in out
    assert "test: 20 samples" in out and "y\\s" in out


@pytest.mark.parametrize("key", ["core_side", "kwargs.core_side", "data.kwargs.core_side"])
def test_override_forms_are_equivalent(key):
    kw = cli_data.parse_overrides("double_mnist", [f"{key}=right", "data.rho=0.5", "seed=3"])
    assert kw["core_side"] == "right" and kw["rho"] == 0.5 and kw["seed"] == 3 and kw["n_train"] > 0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["core_sid=right"], "unknown key data.kwargs.core_sid; did you mean core_side"),
        (
            ["core_side=middle"],
            "data.kwargs.core_side must be one of 'left', 'right', 'top', 'bottom', got str 'middle'",
        ),
        (["rho=high"], "data.rho must be float, got str 'high'"),
        (["rho=1.5"], r"data.rho must be in \[0, 1\], got 1.5"),
        (["n_train=0"], "data.n_train must be a positive integer, got 0"),
        (["rho"], "override 'rho' must look like key=value"),
    ],
)
def test_override_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        cli_data.parse_overrides("double_mnist", overrides)


def test_unknown_dataset_suggests():
    with pytest.raises(ConfigError, match="unknown dataset 'colord_mnist'; did you mean colored_mnist"):
        run("data", "show", "colord_mnist")


@pytest.mark.parametrize("name", ["parity", "rare_patch", "colored_mnist"])
def test_preview_writes_png(tmp_path, capsys, name):
    out = tmp_path / "sub" / f"{name}.png"
    assert run("data", "preview", name, "--out", str(out), "--set", "n_train=40", "--set", "n_val=10",
               "--set", "n_test=40", "--per-group", "1") == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as im:
        assert im.size[0] > 200 and im.size[1] > 200


def test_main_cli_is_wired(capsys):
    from largelr.cli import main

    assert main(["data", "show", "parity", "--set", "n_train=20", "--set", "n_val=10", "--set", "n_test=10"]) == 0
    assert "parity: 2 classes" in capsys.readouterr().out
    assert main(["data", "show", "parity", "--set", "k_core=0"]) == 2
    assert "error: data.kwargs.k_core and k_spurious must be >= 1" in capsys.readouterr().err


def test_download_from_file_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.gz").write_bytes(b"payload")
    good = hashlib.md5(b"payload").hexdigest()
    spec = dl.Download(files=(("a.gz", good),), mirrors=("file:///nonexistent/", mirror.as_uri() + "/"), env="X")
    monkeypatch.setitem(dl.DOWNLOADS, "toy", spec)
    assert dl.download("toy", tmp_path / "out") == [tmp_path / "out" / "a.gz"]
    assert (tmp_path / "out" / "a.gz").read_bytes() == b"payload"
    assert dl.download("toy", tmp_path / "out") == [tmp_path / "out" / "a.gz"]  # present and verified: kept
    monkeypatch.setitem(dl.DOWNLOADS, "toy", dl.Download(files=(("a.gz", "0" * 32),), mirrors=spec.mirrors, env="X"))
    with pytest.raises(UserError, match=r"could not download a.gz: .*md5 [0-9a-f]{32} != published 0000"):
        dl.download("toy", tmp_path / "out2")
    assert not list((tmp_path / "out2").iterdir())  # no partial file left behind


def test_download_names(tmp_path):
    with pytest.raises(UserError, match="celeba cannot be downloaded automatically: download img_align_celeba.zip"):
        run("data", "download", "celeba", "--dir", str(tmp_path))
    with pytest.raises(UserError, match="no download for 'double_mnist'; downloadable: celeba, cifar10, fashion_mnist"):
        run("data", "download", "double_mnist", "--dir", str(tmp_path))
    assert set(dl.DOWNLOADS) == {"mnist", "fashion_mnist", "cifar10"}
    assert all(len(md5) == 32 for spec in dl.DOWNLOADS.values() for _, md5 in spec.files)

"""Image sources and their file formats: IDX (MNIST, Fashion-MNIST), CIFAR-10 pickle batches, digits8.

Each published format is written in tmp_path in its exact layout, loaded, and then broken in
several ways that must give a one-line UserError naming the file and the problem."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from largelr.data import DATASETS
from largelr.data.cifar import CIFAR10_FILES
from largelr.data.idx import read_idx, write_idx
from largelr.data.sources import IDX_FILES, SOURCES, to_float
from largelr.errors import UserError


def _write_mnist_dir(root: Path, n_train: int = 40, n_test: int = 20, gz: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return root


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_roundtrip(tmp_path, name):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    out = read_idx(tmp_path / name, ndim=3)
    assert out.dtype == np.uint8 and np.array_equal(out, arr)
    ints = np.array([1, -2, 70000], dtype=np.int32)
    write_idx(tmp_path / "i.idx", ints)
    assert read_idx(tmp_path / "i.idx").tolist() == [1, -2, 70000]


def _valid_bytes() -> bytes:
    return bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(2 * 28 * 28)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00", "truncated IDX header"),
        (b"\x08\x03\x00\x00" + bytes(100), "bad IDX magic number 0x08030000"),
        (b"\x00\x00\x07\x03" + bytes(100), "bad IDX magic number"),
        (bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big"), r"truncated IDX header \(8 bytes, need 16"),
        (_valid_bytes()[:-100], r"truncated IDX file: header says shape \(2, 28, 28\).*only 1 complete records"),
        (_valid_bytes() + b"xx", "2 unexpected trailing bytes"),
        (bytes([0, 0, 8, 1]) + (4).to_bytes(4, "big") + bytes(4), "IDX file has 1 dimensions, expected 3"),
    ],
)
def test_idx_malformed(tmp_path, data, match):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(UserError, match=match) as e:
        read_idx(path, ndim=3)
    assert str(path) in str(e.value)


def test_idx_bad_gzip_and_missing(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="x.gz: not a readable gzip file"):
        read_idx(tmp_path / "x.gz")
    (tmp_path / "y.gz").write_bytes(gzip.compress(_valid_bytes())[:-20])
    with pytest.raises(UserError, match="y.gz: not a readable gzip file"):
        read_idx(tmp_path / "y.gz")
    with pytest.raises(UserError, match="nope: file not found"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_source_from_idx_dir(tmp_path, monkeypatch, gz):
    monkeypatch.setenv("LARGELR_MNIST_DIR", str(_write_mnist_dir(tmp_path / "m", gz=gz)))
    src = SOURCES.get("mnist")()
    assert src.images.shape == (60, 28, 28) and src.images.dtype == torch.uint8
    assert src.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    ds = DATASETS.get("double_mnist")(rho=0.9, n_train=20, n_val=10, n_test=10, seed=0, core_source="mnist")
    assert ds.input_shape == (1, 28, 56)


def test_mnist_source_errors_and_no_caching_of_failures(tmp_path, monkeypatch):
    root = tmp_path / "m"
    monkeypatch.setenv("LARGELR_MNIST_DIR", str(root))
    with pytest.raises(UserError, match=r"mnist: missing .*train-images-idx3-ubyte\[.gz\] \(set LARGELR_MNIST_DIR.*"):
        SOURCES.get("mnist")()
    _write_mnist_dir(root)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte.gz: 19 labels but .* has 20 images"):
        SOURCES.get("mnist")()
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.full(20, 12, dtype=np.uint8))
    with pytest.raises(UserError, match=r"labels must be in 0..9, found 12..12"):
        SOURCES.get("mnist")()
    write_idx(root / "t10k-images-idx3-ubyte.gz", np.zeros((20, 32, 32), dtype=np.uint8))
    with pytest.raises(UserError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        SOURCES.get("mnist")()
    _write_mnist_dir(root)  # fixed: now it loads (the failures were not cached)
    assert len(SOURCES.get("mnist")().labels) == 60


def test_fashion_mnist_real_files_if_installed():
    if not Path(os.environ.get("LARGELR_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    src = SOURCES.get("fashion_mnist")()
    assert src.images.shape == (70000, 28, 28)
    assert torch.bincount(src.labels).tolist() == [7000] * 10
    assert src.class_names[0] == "T-shirt/top"


def test_digits8_and_to_float():
    src = SOURCES.get("digits8")()
    assert src.images.shape == (1797, 28, 28) and src.num_classes == 10
    assert src.images[:, :4].max() == 0  # centred in 28x28 like MNIST
    rgb = to_float(src.images[:3], channels=3, size=(32, 32))
    assert rgb.shape == (3, 3, 32, 32) and rgb.dtype == torch.float32 and 0 <= rgb.min() <= rgb.max() <= 1


# ---------------------------------------------------------------- CIFAR-10


def _write_cifar(root: Path, n: int = 10, breaker=None) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        d = {
            b"batch_label": name.encode(),
            b"labels": [i % 10 for i in range(n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(n)],
        }
        if breaker and name == "data_batch_3":
            d = breaker(d)
        with (folder / name).open("wb") as f:
            pickle.dump(d, f, protocol=2)
    return folder


def test_cifar10_source_and_corrupted(tmp_path, monkeypatch):
    _write_cifar(tmp_path / "c")
    monkeypatch.setenv("LARGELR_CIFAR10_DIR", str(tmp_path / "c"))
    src = SOURCES.get("cifar10")()
    assert src.images.shape == (60, 3, 32, 32) and src.channels == 3 and src.size == (32, 32)
    ds = DATASETS.get("corrupted")(rho=0.9, n_train=30, n_val=10, n_test=10, seed=0, source="cifar10", severity=2)
    assert ds.input_shape == (3, 32, 32) and "saturate" in ds.info["corruptions"]
    dm = DATASETS.get("double_mnist")(rho=0.9, n_train=20, n_val=10, n_test=10, seed=0, spurious_source="cifar10")
    assert dm.input_shape == (3, 28, 56)  # cifar resized to 28x28, the digit replicated to RGB
    x, s = dm.splits["train"].x, dm.splits["train"].s
    assert torch.equal(x[:, 0, :, :28], x[:, 1, :, :28]) and torch.equal(x[:, 0, :, :28], x[:, 2, :, :28])
    resized = F.interpolate(src.images.float() / 255, size=(28, 28), mode="bilinear", antialias=True).clamp(0, 1)
    for i in range(len(s)):  # the spurious half is a resized cifar image of class s
        assert any(torch.allclose(x[i, :, :, 28:], resized[j], atol=1e-6) for j in torch.nonzero(src.labels == s[i]))
    rgb_core = DATASETS.get("double_mnist")(
        rho=0.9, n_train=20, n_val=10, n_test=10, seed=0, core_source="cifar10", spurious_source="mnist5k"
    )
    x = rgb_core.splits["train"].x
    assert rgb_core.input_shape == (3, 32, 64)  # the digit resized to 32x32 and replicated to RGB
    assert torch.equal(x[:, 0, :, 32:], x[:, 1, :, 32:]) and torch.equal(x[:, 0, :, 32:], x[:, 2, :, 32:])
    framed = DATASETS.get("colored_frame")(rho=0.9, n_train=20, n_val=10, n_test=10, seed=0, source="cifar10")
    digit = framed.splits["train"].x[:, :, 2:34, 2:34]  # an RGB source is made gray, then framed
    assert torch.equal(digit[:, 0], digit[:, 1]) and torch.equal(digit[:, 0], digit[:, 2])
    gray = src.images.float().div(255).mean(1)
    for i, c in enumerate(framed.splits["train"].y):
        assert any(torch.allclose(digit[i, 0], gray[j], atol=1e-6) for j in torch.nonzero(src.labels == c))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("breaker", "match"),
    [
        (lambda d: {b"labels": d[b"labels"]}, r"data_batch_3: missing key b'data'"),
        (lambda d: {**d, b"data": d[b"data"][:, :100]}, r"b'data' must be uint8 of shape \(N, 3072\)"),
        (lambda d: {**d, b"labels": d[b"labels"][:-1]}, "9 labels for 10 images"),
        (lambda d: {**d, b"labels": [11] * 10}, r"labels must be in 0..9, found 11..11"),
        (lambda d: [1, 2, 3], "expected a pickled dict, got list"),
        (lambda d: {**d, b"evil": _Evil()}, "not a CIFAR-10 python batch .*refusing to load posix.system"),
    ],
)
def test_cifar10_malformed(tmp_path, breaker, match):
    from largelr.data.cifar import load_cifar10

    _write_cifar(tmp_path, breaker=breaker)
    with pytest.raises(UserError, match=match):
        load_cifar10(str(tmp_path))


def test_cifar10_missing_and_truncated(tmp_path):
    from largelr.data.cifar import load_cifar10

    with pytest.raises(UserError, match=r"cifar10: missing .*data_batch_1 .*published at https://www.cs.toronto"):
        load_cifar10(str(tmp_path / "none"))
    folder = _write_cifar(tmp_path / "t")
    raw = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match="test_batch: not a CIFAR-10 python batch"):
        load_cifar10(str(tmp_path / "t"))


def test_idx_file_names_are_the_standard_four():
    assert IDX_FILES == (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )

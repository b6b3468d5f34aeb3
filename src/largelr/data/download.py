"""Fetch dataset files from their published mirrors and verify their checksums.

Only ``largelr data download NAME --dir D`` calls this module; nothing else in largelr touches the
network. Files are written under a temporary name and renamed once their md5 matches, so an
interrupted download never leaves a file that looks complete. CelebA (behind Google Drive),
Waterbirds and ImageNet-9 backgrounds (no published checksum to verify against) get instructions.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from largelr.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """Files (name, md5) to fetch from the first mirror that works, and what to do with them."""

    files: tuple[tuple[str, str], ...]
    mirrors: tuple[str, ...]
    env: str  # the environment variable that points a source at the directory
    extract: bool = False  # unpack .tar.gz archives after verifying them


# md5 sums as published with the files (and used by torchvision)
DOWNLOADS: dict[str, Download] = {
    "mnist": Download(
        files=(
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        env="LARGELR_MNIST_DIR",
    ),
    "fashion_mnist": Download(
        files=(
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        env="LARGELR_FASHION_MNIST_DIR",
    ),
    "cifar10": Download(
        files=(("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        env="LARGELR_CIFAR10_DIR",
        extract=True,
    ),
}


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(name: str, dest: str | Path) -> list[Path]:
    """Download (and verify, and unpack) the files of ``name`` into ``dest``; return the files written.

    Files already present with the right checksum are kept.

    Raises:
        UserError: unknown name, a dataset that must be fetched by hand (the message says how), no
            mirror reachable, or a checksum mismatch.
    """
    from largelr import catalog

    manual = {n: d.field("files") for n, d in catalog.declared("DATASETS").items() if d.field("files") is not None}
    if name in manual:
        raise UserError(f"{name} cannot be downloaded automatically: {manual[name].how}")
    if name not in DOWNLOADS:
        known = sorted([*DOWNLOADS, *manual])
        raise UserError(f"no download for {name!r}; downloadable: {', '.join(known)} (other datasets need no files)")
    spec = DOWNLOADS[name]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, md5 in spec.files:
        target = dest / filename
        if target.is_file() and md5_of(target) == md5:
            log.info("%s: already present and verified", target)
        else:
            _fetch(filename, md5, spec.mirrors, target)
        written.append(target)
        if spec.extract:
            with tarfile.open(target, "r:gz") as tar:
                tar.extractall(dest, filter="data")
            log.info("unpacked %s into %s", target, dest)
    log.info("done; use it with: export %s=%s", spec.env, dest.resolve())
    return written


def _fetch(filename: str, md5: str, mirrors: tuple[str, ...], target: Path) -> None:
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        tmp = target.with_name(target.name + ".part")
        log.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=60) as r, tmp.open("wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except (urllib.error.URLError, OSError) as e:
            errors.append(f"{url}: {e}")
            tmp.unlink(missing_ok=True)
            continue
        got = md5_of(tmp)
        if got != md5:
            tmp.unlink()
            errors.append(f"{url}: md5 {got} != published {md5}")
            continue
        tmp.replace(target)
        return
    raise UserError(f"could not download {filename}: " + "; ".join(errors))

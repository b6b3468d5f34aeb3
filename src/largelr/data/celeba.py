"""CelebA (Liu et al. 2015) as a group-robustness benchmark, read from its published text files.

``list_attr_celeba.txt``: first line the image count, second line the attribute names, then one
row per image: filename and one -1/1 value per attribute. ``list_eval_partition.txt``: filename
and 0/1/2 (train/val/test). Images in ``img_align_celeba/``. Default task (Sagawa et al. 2020):
y = Blond_Hair, spurious = Male. Published at https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import torch
from torch import Tensor

from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset
from largelr.data.benchmark_io import check_loader_params, load_images, log_groups, require, subsample
from largelr.errors import ConfigError, UserError
from largelr.seeding import make_generator
from largelr.specs import DatasetFiles

log = logging.getLogger(__name__)
URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
FILES = DatasetFiles(
    env="LARGELR_CELEBA_DIR",
    default="~/.cache/largelr/celeba",
    marker="list_attr_celeba.txt",
    url=URL,
    how=(
        "download img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive), unzip the images next to the two lists and "
        "point data.kwargs.root or LARGELR_CELEBA_DIR at that folder"
    ),
)


# a mirrored photo keeps its class
@DATASETS.register(
    "celeba", files=FILES, non_semantic=("root", "num_workers"), ignores=("rho",), hflip_preserves_label=True
)
def celeba(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    root: str = "",
    target: str = "Blond_Hair",
    spurious: str = "Male",
    image_size: int = 64,
    num_workers: int = 4,
) -> SpuriousDataset:
    """CelebA faces from local files: y = ``target`` attribute, s = ``spurious`` attribute (3 x S x S).

    ``s`` is coded in class space: ``s == c`` is the spurious value that goes with class c in the
    training split (for Blond_Hair / Male, s = 1 - Male, since blond goes with female), so aligned
    means y == s (blond female, non-blond male). ``info["s_flipped"]`` says whether s was inverted.
    ``rho`` is ignored (logged); ``n_*`` cap each published split, subsampled deterministically
    keeping group proportions (the full train split, 162,770 images, would not fit in memory).

    Args:
        rho: ignored.
        n_train, n_val, n_test: maximum sizes of the published splits.
        seed: data seed (subsampling only).
        root: folder with the two lists and ``img_align_celeba/``; "" means ``$LARGELR_CELEBA_DIR`` or
            ``~/.cache/largelr/celeba``.
        target: attribute name used as the label, as spelt in ``list_attr_celeba.txt``.
        spurious: attribute name used as the spurious attribute.
        image_size: side S of the square images (short side resized to S, then centre-cropped).
        num_workers: DataLoader worker processes decoding images (0 = in the main process).
    """
    check_loader_params(image_size, num_workers)
    base = FILES.root(root)
    names, files, values = read_attributes(require(base / "list_attr_celeba.txt", "celeba", URL))
    partition = read_partition(require(base / "list_eval_partition.txt", "celeba", URL))
    image_dir = require(base / "img_align_celeba", "celeba", URL, is_dir=True)
    for key, attr in (("target", target), ("spurious", spurious)):
        if attr not in names:
            close = difflib.get_close_matches(attr, names, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(f"data.kwargs.{key} {attr!r} is not a CelebA attribute; {hint}known: {', '.join(names)}")
    if target == spurious:
        raise ConfigError(f"data.kwargs.target and data.kwargs.spurious must differ, both are {target!r}")
    missing = [f for f in files if f not in partition]
    if missing:
        raise UserError(
            f"celeba: {base / 'list_eval_partition.txt'} has no entry for {missing[0]} ({len(missing)} missing)"
        )
    log.info("celeba: data.rho (%s) is ignored; the published group proportions are used", rho)
    part = torch.tensor([partition[f] for f in files])
    y = (values[:, names.index(target)] > 0).long()
    s = (values[:, names.index(spurious)] > 0).long()
    tr = part == 0
    flipped = bool(tr.any()) and _mean(s[tr & (y == 1)]) < _mean(s[tr & (y == 0)])
    if flipped:
        s = 1 - s
    caps = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for k, split in enumerate(SPLITS):
        idx = torch.nonzero(part == k).flatten()
        if len(idx) == 0:
            raise UserError(f"celeba: {base / 'list_eval_partition.txt'} has no images in partition {k} ({split})")
        idx = idx[subsample(y[idx] * 2 + s[idx], caps[split], make_generator(seed, "celeba", split))]
        x = load_images(
            [image_dir / files[i] for i in idx.tolist()],
            image_size=image_size,
            num_workers=num_workers,
            dataset="celeba",
        )
        splits[split] = Split(x, y[idx], s[idx], y[idx] == s[idx], {})
    info = {
        "root": str(base),
        "image_size": image_size,
        "target": target,
        "spurious": spurious,
        "s_flipped": flipped,
        "spurious_attribute": f"{'not ' if flipped else ''}{spurious}",
        "available": {sp: int((part == k).sum()) for k, sp in enumerate(SPLITS)},
        "rho_ignored": True,
        "url": URL,
    }
    ds = SpuriousDataset("celeba", 2, 2, splits, info, spurious_class=(0, 1))  # s is coded in class space
    log_groups(ds)
    return ds


def _mean(t: Tensor) -> float:
    return float(t.float().mean()) if len(t) else 0.0


def read_attributes(path: Path) -> tuple[list[str], list[str], Tensor]:
    """(attribute names, filenames, (N, A) int8 values in {-1, 1}) from ``list_attr_celeba.txt``."""
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise UserError(f"{path}: expected a count line and an attribute-name line, file has {len(lines)} line(s)")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise UserError(f"{path} line 1: expected the number of images, got {lines[0].strip()!r}") from None
    names = lines[1].split()
    if not names or len(set(names)) != len(names):
        raise UserError(f"{path} line 2: expected unique attribute names, got {lines[1].strip()!r}")
    rows = [(i + 3, ln.split()) for i, ln in enumerate(lines[2:]) if ln.strip()]
    if len(rows) != count:
        raise UserError(f"{path}: line 1 says {count} images but the file has {len(rows)} rows")
    files, values = [], []
    for line, fields in rows:
        if len(fields) != len(names) + 1:
            raise UserError(
                f"{path} line {line}: expected a filename and {len(names)} attribute values, got {len(fields) - 1}"
            )
        bad = [v for v in fields[1:] if v not in ("1", "-1")]
        if bad:
            raise UserError(f"{path} line {line}: attribute values must be -1 or 1, got {bad[0]!r}")
        files.append(fields[0])
        values.append([int(v) for v in fields[1:]])
    return names, files, torch.tensor(values, dtype=torch.int8).view(len(files), len(names))


def read_partition(path: Path) -> dict[str, int]:
    """filename -> 0/1/2 from ``list_eval_partition.txt``."""
    out = {}
    for i, ln in enumerate(path.read_text().splitlines(), start=1):
        if not ln.strip():
            continue
        fields = ln.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise UserError(f"{path} line {i}: expected '<filename> <0|1|2>', got {ln.strip()!r}")
        out[fields[0]] = int(fields[1])
    if not out:
        raise UserError(f"{path}: no entries")
    return out

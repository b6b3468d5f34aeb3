"""Waterbirds (Sagawa et al. 2020), read from its published ``metadata.csv`` and image folders.

y: landbird (0) / waterbird (1); s: place, land (0) / water (1), so aligned means y == s. The
published splits are used (metadata ``split`` 0/1/2 = train/val/test); the train split has groups
3498/184/56/1057 and val/test have place balanced within each class. Published at
https://github.com/kohpangwei/group_DRO (tarball waterbird_complete95_forest2water2.tar.gz).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import torch

from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset
from largelr.data.benchmark_io import check_loader_params, load_images, log_groups, require, subsample
from largelr.errors import UserError
from largelr.seeding import make_generator
from largelr.specs import DatasetFiles

log = logging.getLogger(__name__)
URL = "https://github.com/kohpangwei/group_DRO"
FILES = DatasetFiles(
    env="LARGELR_WATERBIRDS_DIR",
    default="~/.cache/largelr/waterbirds",
    marker="metadata.csv",
    url=URL,
    how=(
        "download and unpack https://nlp.stanford.edu/data/dro/waterbird_complete95_forest2water2.tar.gz "
        "(from https://github.com/kohpangwei/group_DRO); point data.kwargs.root or LARGELR_WATERBIRDS_DIR at the "
        "folder holding metadata.csv"
    ),
)
COLUMNS = ("img_id", "img_filename", "y", "split", "place", "place_filename")
ALLOWED = {"y": (0, 1), "split": (0, 1, 2), "place": (0, 1)}


# a mirrored photo keeps its class
@DATASETS.register(
    "waterbirds", files=FILES, non_semantic=("root", "num_workers"), ignores=("rho",), hflip_preserves_label=True
)
def waterbirds(
    *,
    rho: float,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    root: str = "",
    image_size: int = 64,
    num_workers: int = 4,
) -> SpuriousDataset:
    """Waterbirds from local files: birds on land or water backgrounds (3 x S x S, no masks).

    ``rho`` is ignored (logged): the published group proportions are kept. ``n_*`` cap each split:
    a larger split is subsampled deterministically (by ``seed``), keeping its group proportions.

    Args:
        rho: ignored.
        n_train, n_val, n_test: maximum sizes of the published splits (4795 / 1199 / 5794 images).
        seed: data seed (subsampling only).
        root: folder holding ``metadata.csv``; "" means ``$LARGELR_WATERBIRDS_DIR`` or
            ``~/.cache/largelr/waterbirds``.
        image_size: side S of the square images (short side resized to S, then centre-cropped).
        num_workers: DataLoader worker processes decoding images (0 = in the main process).
    """
    check_loader_params(image_size, num_workers)
    base = FILES.root(root)
    rows = read_metadata(require(base / "metadata.csv", "waterbirds", URL))
    log.info("waterbirds: data.rho (%s) is ignored; the published group proportions are used", rho)
    caps = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for k, split in enumerate(SPLITS):
        part = [r for r in rows if r["split"] == k]
        if not part:
            raise UserError(f"waterbirds: {base / 'metadata.csv'} has no rows with split={k} ({split})")
        y = torch.tensor([r["y"] for r in part])
        s = torch.tensor([r["place"] for r in part])
        keep = subsample(y * 2 + s, caps[split], make_generator(seed, "waterbirds", split)).tolist()
        paths = [base / part[i]["img_filename"] for i in keep]
        x = load_images(paths, image_size=image_size, num_workers=num_workers, dataset="waterbirds")
        y, s = y[keep], s[keep]
        splits[split] = Split(x, y, s, y == s, {})
    info = {
        "root": str(base),
        "image_size": image_size,
        "spurious_attribute": "place: 0 land, 1 water",
        "classes": ["landbird", "waterbird"],
        "available": {sp: sum(r["split"] == k for r in rows) for k, sp in enumerate(SPLITS)},
        "rho_ignored": True,
        "url": URL,
    }
    ds = SpuriousDataset("waterbirds", 2, 2, splits, info, spurious_class=(0, 1))  # land->landbird, water->waterbird
    log_groups(ds)
    return ds


def read_metadata(path: Path) -> list[dict]:
    """Rows of ``metadata.csv`` with ``y``, ``split``, ``place`` as ints; validates columns and values."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise UserError(
                f"{path}: missing column(s) {', '.join(missing)} (header has: {', '.join(header) or 'nothing'})"
            )
        rows = []
        for row in reader:
            line = reader.line_num
            if None in row or any(row[c] is None for c in COLUMNS):
                raise UserError(f"{path} line {line}: expected {len(header)} comma-separated fields")
            out = {"img_filename": row["img_filename"]}
            for col, allowed in ALLOWED.items():
                try:
                    f_val = float(row[col])
                    v = int(f_val) if f_val.is_integer() else None
                except ValueError:
                    v = None
                if v not in allowed:
                    raise UserError(f"{path} line {line}: column {col} must be one of {allowed}, got {row[col]!r}")
                out[col] = v
            if not out["img_filename"]:
                raise UserError(f"{path} line {line}: empty img_filename")
            rows.append(out)
    if not rows:
        raise UserError(f"{path}: no data rows")
    return rows

"""ImageNet-9 backgrounds (Xiao et al. 2020, "Noise or Signal"), from its ImageFolder variants.

Layout: ``<root>/{original,mixed_same,mixed_rand}/[val/]<class folder>/<image>``, the
``bg_challenge`` folder of https://github.com/MadryLab/backgrounds_challenge. ``original`` keeps the
photo, ``mixed_same`` pastes the foreground on a background of the same class, ``mixed_rand`` on a
random class's background. Here s is the variant (0/1/2) and ``mixed_rand`` samples are the
bias-conflicting ones; train and val hold ``original`` images only. The background gap is
acc(mixed_same) - acc(mixed_rand) on the test split (``background_gap``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor

from largelr.data.base import DATASETS, SPLITS, Split, SpuriousDataset
from largelr.data.benchmark_io import check_loader_params, load_images, log_groups, require, subsample
from largelr.errors import UserError
from largelr.seeding import derive_seed, make_generator
from largelr.specs import DatasetFiles

log = logging.getLogger(__name__)
URL = "https://github.com/MadryLab/backgrounds_challenge"
FILES = DatasetFiles(
    env="LARGELR_IMAGENET9_DIR",
    default="~/.cache/largelr/imagenet9",
    marker="original",
    url=URL,
    how=(
        "download backgrounds_challenge_data.tar.gz from https://github.com/MadryLab/backgrounds_challenge/releases "
        "and point data.kwargs.root or LARGELR_IMAGENET9_DIR at its bg_challenge folder (holding original/, "
        "mixed_same/, mixed_rand/)"
    ),
)
VARIANTS = ("original", "mixed_same", "mixed_rand")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


# a mirrored photo keeps its class
@DATASETS.register(
    "imagenet9", files=FILES, non_semantic=("root", "num_workers"), ignores=("rho",), hflip_preserves_label=True
)
def imagenet9(
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
    """ImageNet-9 with background variants as the attribute (9 classes, 3 attributes, 3 x S x S).

    Images are assigned to train/val/test (60/20/20) by a seeded hash of (class folder, file
    name), so the same foreground lands in the same split in every variant. If
    ``<root>/original/train/`` exists (e.g. IN-9L), it is the train split and the variant images
    are hashed 50/50 into val and test instead. ``rho`` is ignored (logged); ``n_*`` cap each
    split, subsampled deterministically keeping group proportions.

    Args:
        rho: ignored.
        n_train, n_val, n_test: maximum split sizes.
        seed: data seed (split hashing and subsampling).
        root: the ``bg_challenge`` folder; "" means ``$LARGELR_IMAGENET9_DIR`` or ``~/.cache/largelr/imagenet9``.
        image_size: side S of the square images (short side resized to S, then centre-cropped).
        num_workers: DataLoader worker processes decoding images (0 = in the main process).
    """
    check_loader_params(image_size, num_workers)
    base = FILES.root(root)
    require(base, "imagenet9", URL, is_dir=True)
    dirs = {v: _variant_dir(base, v) for v in VARIANTS}
    classes = sorted(p.name for p in dirs["original"].iterdir() if p.is_dir() and p.name not in ("train", "val"))
    if not classes:
        raise UserError(f"imagenet9: {dirs['original']} has no class folders")
    trainset = base / "original" / "train"
    has_train = trainset.is_dir()
    log.info("imagenet9: data.rho (%s) is ignored; train=%s", rho, trainset if has_train else "60% of original")
    entries: dict[str, list[tuple[Path, int, int]]] = {split: [] for split in SPLITS}  # (path, y, s)
    for v, d in dirs.items():
        for c, cls in enumerate(classes):
            for path in _images(d / cls, v):
                split = _assign(seed, cls, path.name, eval_only=has_train)
                if v == "original" or split == "test":
                    entries[split].append((path, c, VARIANTS.index(v)))
    if has_train:
        entries["train"] = [
            (p, c, 0) for c, cls in enumerate(classes) for p in _images(trainset / cls, "original/train")
        ]
    caps = {"train": n_train, "val": n_val, "test": n_test}
    splits = {}
    for split in SPLITS:
        if not entries[split]:
            raise UserError(f"imagenet9: no images fell into the {split} split under {base}; add more images")
        y = torch.tensor([e[1] for e in entries[split]])
        s = torch.tensor([e[2] for e in entries[split]])
        keep = subsample(y * 3 + s, caps[split], make_generator(seed, "imagenet9", split))
        paths = [entries[split][i][0] for i in keep.tolist()]
        x = load_images(paths, image_size=image_size, num_workers=num_workers, dataset="imagenet9")
        splits[split] = Split(x, y[keep], s[keep], s[keep] != 2, {})
    info = {
        "root": str(base),
        "image_size": image_size,
        "classes": classes,
        "variants": list(VARIANTS),
        "spurious_attribute": "background variant: 0 original, 1 mixed_same, 2 mixed_rand (bias-conflicting)",
        "background_gap": "acc(test, s=1) - acc(test, s=2); largelr.data.imagenet9.background_gap",
        "rho_ignored": True,
        "url": URL,
    }
    ds = SpuriousDataset("imagenet9", len(classes), 3, splits, info, spurious_class=None)  # s: background variant
    log_groups(ds)
    return ds


def background_gap(pred: Tensor, split: Split) -> float:
    """acc(mixed_same) - acc(mixed_rand) on a split of ``imagenet9`` (NaN if a variant is absent).

    Args:
        pred: (N,) predicted classes for ``split``.
        split: the ``test`` split, whose ``s`` is the variant index.
    """
    accs = []
    for v in (1, 2):
        m = split.s == v
        accs.append(float((pred[m] == split.y[m]).float().mean()) if m.any() else float("nan"))
    return accs[0] - accs[1]


def _variant_dir(base: Path, variant: str) -> Path:
    d = require(base / variant, "imagenet9", URL, is_dir=True)
    return d / "val" if (d / "val").is_dir() else d


def _images(folder: Path, variant: str) -> list[Path]:
    if not folder.is_dir():
        raise UserError(
            f"imagenet9: variant {variant} lacks class folder {folder} (every variant needs the same classes)"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"imagenet9: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _assign(seed: int, cls: str, filename: str, *, eval_only: bool) -> str:
    """Split of an image by a seeded hash of its class and stem (same for every variant)."""
    u = derive_seed(seed, "imagenet9", cls, Path(filename).stem) / 2**63
    if eval_only:
        return "val" if u < 0.5 else "test"
    return "train" if u < 0.6 else ("val" if u < 0.8 else "test")

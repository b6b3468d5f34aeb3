"""ImageNet-9 backgrounds from a fixture in the bg_challenge layout (variant/val/class/*.JPEG), and
broken variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from largelr.data import DATASETS
from largelr.data.base import Split
from largelr.data.imagenet9 import VARIANTS, background_gap
from largelr.errors import UserError

CLASSES = ("00_dog", "01_bird", "02_wheeled vehicle")


def write_imagenet9(root: Path, per_class: int = 12, with_val: bool = True, variants=VARIANTS) -> Path:
    rng = np.random.default_rng(0)
    for v in variants:
        for c, cls in enumerate(CLASSES):
            folder = root / v / ("val" if with_val else "") / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = rng.integers(0, 256, (20, 26, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"n{c:08d}_{i}.JPEG", format="JPEG")
    return root


def load(root: Path, **kw):
    args = {"rho": 0.99, "n_train": 1000, "n_val": 1000, "n_test": 1000, "seed": 0, "root": str(root)}
    return DATASETS.get("imagenet9")(**{**args, "image_size": 12, "num_workers": 0, **kw})


@pytest.mark.parametrize("with_val", [True, False])
def test_imagenet9_loads_variants(tmp_path, with_val):
    ds = load(write_imagenet9(tmp_path, with_val=with_val))
    assert ds.num_classes == 3 and ds.num_attrs == 3 and ds.input_shape == (3, 12, 12)
    assert ds.info["classes"] == list(CLASSES)
    tr, va, te = (ds.splits[k] for k in ("train", "val", "test"))
    assert len(tr) + len(va) + int((te.s == 0).sum()) == 36  # each original image in exactly one split
    assert (tr.s == 0).all() and (va.s == 0).all() and tr.aligned.all()
    counts = torch.bincount(te.s, minlength=3).tolist()
    assert counts[0] == counts[1] == counts[2] > 0  # same file names: same foregrounds in every variant
    assert torch.equal(te.aligned, te.s != 2)
    assert ds.spurious_class is None  # s is the background variant, not tied to a class


def test_imagenet9_separate_train_folder(tmp_path):
    write_imagenet9(tmp_path)
    rng = np.random.default_rng(1)
    for cls in CLASSES:
        (tmp_path / "original" / "train" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(
                tmp_path / "original" / "train" / cls / f"t{i}.png"
            )
    ds = load(tmp_path)
    assert len(ds.splits["train"]) == 9 and ds.info["classes"] == list(CLASSES)
    assert len(ds.splits["val"]) + int((ds.splits["test"].s == 0).sum()) == 36


def test_background_gap():
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    s = torch.tensor([1, 1, 2, 2, 0, 0])
    sp = Split(torch.zeros(6, 3, 2, 2), y, s, s != 2, {})
    pred = torch.tensor([0, 1, 1, 1, 0, 0])
    assert background_gap(pred, sp) == pytest.approx(1.0 - 0.5)


@pytest.mark.parametrize(
    ("breaker", "match"),
    [
        (
            lambda r: _rmtree(r / "mixed_rand"),
            r"imagenet9: expected directory .*mixed_rand not found \(published at https",
        ),
        (lambda r: _rmtree(r / "mixed_same" / "val" / "01_bird"), r"variant mixed_same lacks class folder .*01_bird"),
        (lambda r: [p.unlink() for p in (r / "original" / "val" / "00_dog").iterdir()], r"00_dog holds no images"),
        (lambda r: _rmtree(r / "original"), r"expected directory .*original not found"),
        (
            lambda r: [p.write_bytes(b"junk") for p in (r / "mixed_rand").rglob("*.JPEG")],
            "mixed_rand/.*unreadable image",
        ),
    ],
)
def test_imagenet9_malformed(tmp_path, breaker, match):
    write_imagenet9(tmp_path)
    breaker(tmp_path)
    with pytest.raises(UserError, match=match) as e:
        load(tmp_path)
    assert "\n" not in str(e.value)


def test_imagenet9_missing_root(tmp_path):
    with pytest.raises(UserError, match=r"imagenet9: expected directory .*nothing-here not found"):
        load(tmp_path / "nothing-here")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)

"""Waterbirds from a fixture in its published layout (metadata.csv + JPEG folders), and broken variants."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from largelr.data import DATASETS
from largelr.data.benchmark_io import subsample
from largelr.errors import ConfigError, UserError
from largelr.seeding import make_generator

HEADER = "img_id,img_filename,y,split,place,place_filename"
# (y, split, place) per image: every split has all four groups, train is biased
ROWS = [(0, 0, 0)] * 6 + [(0, 0, 1), (1, 0, 0)] + [(1, 0, 1)] * 4 + [(0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1)] * 1
ROWS += [(0, 2, 0), (0, 2, 1), (1, 2, 0), (1, 2, 1)] * 2


def write_waterbirds(root: Path, rows=ROWS) -> Path:
    rng = np.random.default_rng(0)
    lines = [HEADER]
    for i, (y, split, place) in enumerate(rows, start=1):
        folder = "001.Black_footed_Albatross" if y == 0 else "066.Western_Gull"
        name = f"{folder}/{folder.split('.')[1]}_{i:04d}_7961.jpg"
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(root / name, quality=90)
        lines.append(f"{i},{name},{y},{split},{place},{'bamboo_forest' if place == 0 else 'ocean'}/x_{i}.jpg")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def load(root: Path, **kw):
    args = {"rho": 0.99, "n_train": 1000, "n_val": 1000, "n_test": 1000, "seed": 0, "root": str(root)}
    return DATASETS.get("waterbirds")(**{**args, "image_size": 16, "num_workers": 0, **kw})


def test_waterbirds_loads_published_layout(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        ds = load(write_waterbirds(tmp_path))
    assert ds.num_classes == 2 and ds.num_attrs == 2 and ds.input_shape == (3, 16, 16)
    tr = ds.splits["train"]
    assert len(tr) == 12 and len(ds.splits["val"]) == 4 and len(ds.splits["test"]) == 8
    assert tr.x.dtype == torch.float32 and tr.x.min() >= 0 and tr.x.max() <= 1
    assert torch.equal(tr.aligned, tr.y == tr.s) and int(tr.aligned.sum()) == 10
    assert ds.spurious_class == (0, 1)  # land (s=0) pulls to landbird (y=0), water to waterbird: 6/7 and 4/5 here
    assert tr.masks == {}
    assert "waterbirds train: 12 samples, groups (y=0,s=0):6 (y=0,s=1):1 (y=1,s=0):1 (y=1,s=1):4" in caplog.text
    assert "data.rho (0.99) is ignored" in caplog.text


def test_waterbirds_root_from_env_and_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("LARGELR_WATERBIRDS_DIR", str(write_waterbirds(tmp_path)))
    a = load("", num_workers=2)
    b = load(tmp_path)
    assert torch.equal(a.splits["test"].x, b.splits["test"].x)


def test_waterbirds_caps_subsample_deterministically_by_group(tmp_path):
    write_waterbirds(tmp_path)
    a, b = load(tmp_path, n_train=6), load(tmp_path, n_train=6)
    tr = a.splits["train"]
    assert len(tr) == 6 and torch.equal(tr.x, b.splits["train"].x)
    assert int((tr.y * 2 + tr.s == 0).sum()) == 3  # half of the 6 largest-group images, as in the full split


def test_subsample_keeps_proportions():
    groups = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    idx = subsample(groups, 10, make_generator(0, "t"))
    assert torch.bincount(groups[idx]).tolist() == [7, 2, 1]
    assert len(subsample(groups, 1000, make_generator(0, "t"))) == 100


def _break(root: Path, old: str, new: str) -> None:
    text = (root / "metadata.csv").read_text()
    (root / "metadata.csv").write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("breaker", "match"),
    [
        (lambda r: (r / "metadata.csv").unlink(), r"waterbirds: expected file .*metadata.csv not found \(published at"),
        (lambda r: _break(r, ",place,", ",location,"), "metadata.csv: missing column.s. place .header has: img_id"),
        (lambda r: _break(r, ",0,0,0,", ",a,0,0,"), "metadata.csv line 2: column y must be one of .*got 'a'"),
        (
            lambda r: _break(r, ",0,0,0,", ",0,5,0,"),
            r"metadata.csv line 2: column split must be one of \(0, 1, 2\), got '5'",
        ),
        (lambda r: _break(r, "\n3,", "\n3"), r"metadata.csv line 4: expected 6 comma-separated fields"),
        (lambda r: (r / "metadata.csv").write_text(HEADER + "\n"), "metadata.csv: no data rows"),
        (
            lambda r: next(r.glob("066*/*.jpg")).write_bytes(b"\xff\xd8 not really a jpeg"),
            r"waterbirds: .*066.Western_Gull/.*\.jpg: unreadable image",
        ),
        (lambda r: next(r.glob("001*/*.jpg")).unlink(), r"waterbirds: .*\.jpg: image file not found"),
    ],
)
def test_waterbirds_malformed(tmp_path, breaker, match):
    write_waterbirds(tmp_path)
    breaker(tmp_path)
    with pytest.raises(UserError, match=match) as e:
        load(tmp_path)
    assert "\n" not in str(e.value)


def test_waterbirds_missing_split_and_bad_params(tmp_path):
    write_waterbirds(tmp_path, rows=[r for r in ROWS if r[1] != 2])
    with pytest.raises(UserError, match=r"has no rows with split=2 \(test\)"):
        load(tmp_path)
    with pytest.raises(ConfigError, match="data.kwargs.image_size must be an integer in 8..1024, got 4"):
        load(tmp_path, image_size=4)

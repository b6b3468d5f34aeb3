"""CelebA from a fixture in its published layout (list_attr_celeba.txt, list_eval_partition.txt,
img_align_celeba/*.jpg), and broken variants."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from largelr.data import DATASETS
from largelr.errors import ConfigError, UserError

ATTRS = (  # noqa: SIM905  (the published header line, as one string)
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
BLOND, MALE = ATTRS.index("Blond_Hair"), ATTRS.index("Male")
# (blond, male, partition): train has blond females, one blond male, non-blond of both sexes
PEOPLE = [(1, 0, 0)] * 4 + [(1, 1, 0)] + [(0, 1, 0)] * 3 + [(0, 0, 0)] * 2
PEOPLE += [(1, 0, 1), (1, 1, 1), (0, 0, 1), (0, 1, 1), (1, 0, 2), (1, 1, 2), (0, 0, 2), (0, 1, 2)]


def write_celeba(root: Path, people=PEOPLE) -> Path:
    rng = np.random.default_rng(0)
    (root / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    attr_lines = [str(len(people)), " ".join(ATTRS) + " "]
    part_lines = []
    for i, (blond, male, part) in enumerate(people, start=1):
        name = f"{i:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (27, 22, 3), dtype=np.uint8)).save(root / "img_align_celeba" / name)
        values = rng.choice([-1, 1], len(ATTRS))
        values[BLOND], values[MALE] = 2 * blond - 1, 2 * male - 1
        attr_lines.append(name + "".join(f" {v:2d}" for v in values))  # the published file pads 1 to " 1"
        part_lines.append(f"{name} {part}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
    return root


def load(root: Path, **kw):
    args = {"rho": 0.5, "n_train": 100, "n_val": 100, "n_test": 100, "seed": 0, "root": str(root)}
    return DATASETS.get("celeba")(**{**args, "image_size": 16, "num_workers": 0, **kw})


def test_celeba_loads_published_layout(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        ds = load(write_celeba(tmp_path))
    tr = ds.splits["train"]
    assert ds.input_shape == (3, 16, 16) and len(tr) == 10 and len(ds.splits["test"]) == 4
    assert ds.info["s_flipped"] is True  # blond goes with female, so s = 1 - Male
    assert tr.y.tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert tr.s.tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 1, 1]
    assert tr.aligned.tolist() == [True] * 4 + [False] + [True] * 3 + [False] * 2
    # s is coded in class space: s=1 (female) pulls to blond (4 of the 5 blond are s=1), s=0 (male) to not blond
    assert ds.spurious_class == (0, 1)
    assert "celeba train: 10 samples, groups (y=0,s=0):3 (y=0,s=1):2 (y=1,s=0):1 (y=1,s=1):4" in caplog.text


def test_celeba_other_attributes_and_cap(tmp_path):
    write_celeba(tmp_path)
    ds = load(tmp_path, target="Male", spurious="Young", n_train=5)
    tr = ds.splits["train"]
    assert len(tr) == 5 and ds.info["target"] == "Male" and ds.info["spurious_attribute"] in ("Young", "not Young")
    assert int(tr.y.sum()) == 2  # 4 of the 10 train people are male: 2 of 5 after group-stratified capping


def _edit(path: Path, line_no: int, fn) -> None:
    lines = path.read_text().splitlines()
    lines[line_no - 1] = fn(lines[line_no - 1])
    path.write_text("\n".join(lines) + "\n")


ATTR = "list_attr_celeba.txt"
PART = "list_eval_partition.txt"


@pytest.mark.parametrize(
    ("breaker", "match"),
    [
        (lambda r: (r / ATTR).unlink(), r"celeba: expected file .*list_attr_celeba.txt not found \(published at https"),
        (
            lambda r: _edit(r / ATTR, 1, lambda s: "19"),
            "list_attr_celeba.txt: line 1 says 19 images but the file has 18",
        ),
        (lambda r: _edit(r / ATTR, 1, lambda s: "many"), "list_attr_celeba.txt line 1: expected the number of images"),
        (lambda r: _edit(r / ATTR, 5, lambda s: s.rsplit(" ", 2)[0]), "line 5: expected a filename and 40 attribute"),
        (
            lambda r: _edit(r / ATTR, 2, lambda s: s.replace("Young", "")),
            "line 3: expected a filename and 39 attribute",
        ),
        (lambda r: _edit(r / ATTR, 4, lambda s: s[:-2] + " 0"), "list_attr_celeba.txt line 4: attribute values must"),
        (lambda r: _edit(r / PART, 3, lambda s: s[:-1] + "7"), r"list_eval_partition.txt line 3: expected '<filename>"),
        (lambda r: _edit(r / PART, 3, lambda s: "x.jpg 0"), "list_eval_partition.txt has no entry for 000003.jpg"),
        (lambda r: (r / PART).write_text(""), "list_eval_partition.txt: no entries"),
        (lambda r: (r / "img_align_celeba" / "000002.jpg").write_bytes(b"GIF89a"), r"000002.jpg: unreadable image"),
        (lambda r: (r / "img_align_celeba" / "000017.jpg").unlink(), r"000017.jpg: image file not found"),
    ],
)
def test_celeba_malformed(tmp_path, breaker, match):
    write_celeba(tmp_path)
    breaker(tmp_path)
    with pytest.raises(UserError, match=match) as e:
        load(tmp_path)
    assert "\n" not in str(e.value)


def test_celeba_missing_image_dir_and_bad_attribute_names(tmp_path):
    write_celeba(tmp_path)
    with pytest.raises(
        ConfigError, match=r"data.kwargs.target 'Blnd_Hair' is not a CelebA attribute; did you mean Blond_Hair"
    ):
        load(tmp_path, target="Blnd_Hair")
    with pytest.raises(ConfigError, match="data.kwargs.target and data.kwargs.spurious must differ"):
        load(tmp_path, spurious="Blond_Hair")
    (tmp_path / "img_align_celeba").rename(tmp_path / "images")
    with pytest.raises(UserError, match=r"celeba: expected directory .*img_align_celeba not found"):
        load(tmp_path)

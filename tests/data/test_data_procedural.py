"""Every procedural dataset in DATASETS, at tiny sizes: shapes, exact rho, unbiased test, disjoint
source images, masks that match the construction, determinism, and one-line parameter errors."""

from __future__ import annotations

import functools
import math
import os

import pytest
import torch

from largelr.data import DATASETS, SPLITS, file_datasets
from largelr.data.base import POOL_FRACTIONS
from largelr.data.colored import PALETTE
from largelr.data.corruptions import CORRUPTIONS, corrupt
from largelr.data.sources import SOURCES, ImageSource
from largelr.errors import ConfigError, UserError
from largelr.seeding import make_generator
from largelr.specs import Spec

PROCEDURAL = [n for n in DATASETS.names() if n not in file_datasets()]
SIZES = {"n_train": 203, "n_val": 50, "n_test": 100}  # 203: classes of 21 and 20, so rounding matters
RHO = 0.9


def _fashion_available() -> bool:
    try:
        SOURCES.get("fashion_mnist")()
    except UserError:
        return False
    return True


def cached(fn):
    """``functools.cache``, except under mutation testing (tools/mutation.py sets LARGELR_MUTATION).

    mutmut runs against a mutant of a builder only the tests it saw calling that builder; with a cache,
    only the first test of each dataset calls it.
    """
    return fn if os.environ.get("LARGELR_MUTATION") else functools.cache(fn)


@cached
def build(name: str, seed: int = 0, rho: float = RHO):
    if name == "dominoes" and not _fashion_available():
        pytest.skip("Fashion-MNIST files not installed (Debian package dataset-fashion-mnist)")
    return DATASETS.get(name)(rho=rho, seed=seed, **SIZES)


def test_all_procedural_registered():
    expected = {"double_mnist", "dominoes", "colored_mnist", "colored_frame", "colored_ring", "corrupted", "parity"}
    assert expected | {"rare_patch"} <= set(PROCEDURAL)


@pytest.mark.parametrize("name", PROCEDURAL)
def test_shapes_and_types(name):
    ds = build(name)
    assert set(ds.splits) == set(SPLITS)
    for split, n in zip(SPLITS, SIZES.values(), strict=True):
        sp = ds.splits[split]
        assert len(sp) == n and sp.x.shape[0] == n
        assert sp.x.dtype == torch.float32 and sp.y.dtype == torch.int64 and sp.s.dtype == torch.int64
        assert sp.aligned.dtype == torch.bool and sp.aligned.shape == (n,)
        assert tuple(sp.x.shape[1:]) == ds.input_shape
        assert torch.isfinite(sp.x).all()
        if len(ds.input_shape) == 3:  # images are in [0, 1]; vectors are on their dataset's own scale
            assert sp.x.min() >= 0.0 and sp.x.max() <= 1.0
        if name == "parity":
            assert set(sp.x.unique().tolist()) == {-1.0, 1.0}
        assert sp.y.min() >= 0 and sp.y.max() < ds.num_classes
        assert sp.s.min() >= 0 and sp.s.max() < ds.num_attrs
        for mask in sp.masks.values():
            assert mask.dtype == torch.bool and tuple(mask.shape) == (n, *sp.x.shape[-2:])
        if sp.masks:
            assert not (sp.masks["core"] & sp.masks["spurious"]).any()
            assert sp.masks["core"].any() and sp.masks["spurious"].any()


@pytest.mark.parametrize("name", PROCEDURAL)
def test_exact_rho_on_train_and_val(name):
    ds = build(name)
    for split in ("train", "val"):
        sp = ds.splits[split]
        for c in range(ds.num_classes):
            in_c = sp.y == c
            if name == "rare_patch":  # the bias is the patch on patch_frac of the target class
                frac = ds.info["patch_frac"] if c == ds.info["target_class"] else 0.0
                assert int(sp.s[in_c].sum()) == round(frac * int(in_c.sum()))
            else:
                assert int((sp.aligned & in_c).sum()) == round(RHO * int(in_c.sum()))
                assert torch.equal(sp.aligned, sp.y == sp.s)


@pytest.mark.parametrize("name", PROCEDURAL)
def test_test_split_unbiased(name):
    ds = build(name)
    sp = ds.splits["test"]
    for c in range(ds.num_classes):
        counts = torch.bincount(sp.s[sp.y == c], minlength=ds.num_attrs)
        assert int(counts.max() - counts.min()) <= 1, (c, counts)


def _fingerprints(name: str, x: torch.Tensor, masks: dict) -> set[bytes]:
    """Per-sample bytes that identify the core source image (construction-specific)."""
    # colored_mnist: the digit's foreground (colour multiplies it); else the core region's pixels
    keys = x.sum(1) > 0 if name == "colored_mnist" else (x * masks["core"].unsqueeze(1) * 255).round().to(torch.uint8)
    return {k.numpy().tobytes() for k in keys}


@pytest.mark.parametrize("name", PROCEDURAL)
def test_source_images_disjoint_across_splits(name):
    ds = build(name)
    if "core" not in ds.splits["train"].masks and name != "colored_mnist":  # e.g. parity, corrupted
        pytest.skip(f"{name} has no core region to fingerprint a source image by")
    prints = {k: _fingerprints(name, sp.x, sp.masks) for k, sp in ds.splits.items()}
    assert not prints["train"] & prints["val"]
    assert not prints["train"] & prints["test"]
    assert not prints["val"] & prints["test"]


def test_source_pools_disjoint():
    src = SOURCES.get("mnist5k")()
    pools = src.pools(make_generator(0, "t"), (0.6, 0.2, 0.2))
    for c in range(10):
        sets = [set(p[c].tolist()) for p in pools]
        assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]
        assert sum(map(len, sets)) == int((src.labels == c).sum())


@pytest.mark.parametrize("name", PROCEDURAL)
def test_deterministic_and_seed_dependent(name):
    a, b = build(name), DATASETS.get(name)(rho=RHO, seed=0, **SIZES)
    for split in SPLITS:
        sa, sb = a.splits[split], b.splits[split]
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y) and torch.equal(sa.s, sb.s)
        assert sa.masks.keys() == sb.masks.keys()
    c = DATASETS.get(name)(rho=RHO, seed=1, **SIZES)
    assert not torch.equal(a.splits["train"].x, c.splits["train"].x)


def _source_lookup(source: str) -> dict[bytes, int]:
    src = SOURCES.get(source)()
    return {img.numpy().tobytes(): int(lab) for img, lab in zip(src.images, src.labels, strict=True)}


def _uint8(x: torch.Tensor) -> bytes:
    return (x * 255).round().to(torch.uint8).numpy().tobytes()


def test_double_mnist_halves_are_source_digits_of_y_and_s():
    ds = build("double_mnist")
    lookup = _source_lookup("mnist5k")
    sp = ds.splits["train"]
    for i in range(40):  # the default core side is the left one
        assert lookup[_uint8(sp.x[i, 0, :, :28])] == sp.y[i]
        assert lookup[_uint8(sp.x[i, 0, :, 28:])] == sp.s[i]


def _double(**kw):
    return DATASETS.get("double_mnist")(**{"rho": 0.8, "n_train": 60, "n_val": 20, "n_test": 40, "seed": 0, **kw})


def test_double_mnist_name_info_and_class_map():
    ds = build("double_mnist")
    assert (ds.name, ds.num_classes, ds.num_attrs, ds.spurious_class) == ("double_mnist", 10, 10, tuple(range(10)))
    assert ds.info == {
        "core_source": "mnist5k",
        "spurious_source": "mnist5k",
        "core_side": "left",
        "pool_fractions": (0.6, 0.2, 0.2),
        "spurious_attribute": "class of the mnist5k image on the non-core side",
    }
    assert build("dominoes").name == "dominoes"


# each side's block of a 28 x 56 (left/right) or 56 x 28 (top/bottom) image, and the opposite side
BLOCKS = {
    "left": (slice(0, 28), slice(0, 28)),
    "right": (slice(0, 28), slice(28, 56)),
    "top": (slice(0, 28), slice(0, 28)),
    "bottom": (slice(28, 56), slice(0, 28)),
}
OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


@pytest.mark.parametrize("side", BLOCKS)
def test_double_mnist_core_side_moves_the_same_two_images(side):
    """The side places the same draws: the core image in that side's block, the spurious one opposite,
    and the masks are exactly those blocks."""
    ref, ds = _double(), _double(core_side=side)
    shape = (56, 28) if side in ("top", "bottom") else (28, 56)
    assert ds.input_shape == (1, *shape)
    core_block, spur_block = BLOCKS[side], BLOCKS[OPPOSITE[side]]
    core_mask = torch.zeros(shape, dtype=torch.bool)
    core_mask[core_block] = True
    for split in SPLITS:
        a, b = ref.splits[split], ds.splits[split]
        assert torch.equal(a.y, b.y) and torch.equal(a.s, b.s)
        assert torch.equal(b.x[:, :, core_block[0], core_block[1]], a.x[:, :, :, :28])
        assert torch.equal(b.x[:, :, spur_block[0], spur_block[1]], a.x[:, :, :, 28:])
        assert torch.equal(b.masks["core"], core_mask.expand(len(b), *shape))
        assert torch.equal(b.masks["spurious"], ~b.masks["core"])


def test_double_mnist_intensities_scale_their_own_image():
    ref, dim = _double(), _double(core_intensity=0.5, spurious_intensity=0.25)
    for split in SPLITS:
        a, b = ref.splits[split].x, dim.splits[split].x
        assert torch.equal(b[..., :28], a[..., :28] * 0.5) and torch.equal(b[..., 28:], a[..., 28:] * 0.25)


EQUAL_SIZES = {"n_train": 40, "n_val": 40, "n_test": 40}


@cached
def _equal_splits(name: str, seed: int) -> dict:
    if name == "dominoes" and not _fashion_available():
        pytest.skip("Fashion-MNIST files not installed (Debian package dataset-fashion-mnist)")
    return DATASETS.get(name)(rho=0.8, seed=seed, **EQUAL_SIZES).splits


@pytest.mark.parametrize("name", PROCEDURAL)
def test_each_split_has_its_own_stream_of_the_seed(name):
    """Each split draws from its own stream of (seed, dataset, split): with equal split sizes, a shared
    stream would give the splits the same label order, and a stream without the seed the same labels for
    every seed."""
    a, b = _equal_splits(name, 0), _equal_splits(name, 1)
    assert not torch.equal(a["train"].y, a["val"].y) and not torch.equal(a["val"].y, a["test"].y)
    assert not any(torch.equal(a[k].y, b[k].y) for k in SPLITS)


def test_datasets_do_not_share_streams():
    """The streams are namespaced by the dataset: no two procedural datasets draw the same labels, and
    dominoes with Double MNIST's sources is not Double MNIST."""
    labels = {name: _equal_splits(name, 0)["train"].y for name in PROCEDURAL}
    same = [(m, n) for m in labels for n in labels if m < n and torch.equal(labels[m], labels[n])]
    assert not same
    c = DATASETS.get("dominoes")(rho=0.8, seed=0, core_source="mnist5k", spurious_source="mnist5k", **EQUAL_SIZES)
    assert not any(torch.equal(_equal_splits("double_mnist", 0)[k].y, c.splits[k].y) for k in SPLITS)


@pytest.mark.parametrize(("seed", "spurious_source"), [(0, "mnist5k"), (1, "mnist5k"), (0, "digits8")])
def test_double_mnist_images_come_from_the_seeds_pools(seed, spurious_source):
    """Split k's images are drawn from the k-th pools of ``make_generator(seed, name, "pools")``
    (``..., "pools", "spurious")`` for a spurious source other than the core's), each of its sample's class."""
    ds = _double(seed=seed, spurious_source=spurious_source, n_train=200)
    spurious_stream = ("pools",) if spurious_source == "mnist5k" else ("pools", "spurious")
    for source, attr, cols, stream in (
        ("mnist5k", "y", slice(0, 28), ("pools",)),
        (spurious_source, "s", slice(28, 56), spurious_stream),
    ):
        src = SOURCES.get(source)()
        pools = src.pools(make_generator(seed, "double_mnist", *stream), POOL_FRACTIONS)
        index = {img.numpy().tobytes(): i for i, img in enumerate(src.images)}
        for k, split in enumerate(SPLITS):
            sp = ds.splits[split]
            for i in range(len(sp)):
                c = int(getattr(sp, attr)[i])
                assert index[_uint8(sp.x[i, 0, :, cols])] in set(pools[k][c].tolist()), (source, split, i)


@pytest.mark.parametrize("name", ["colored_frame", "colored_ring"])
def test_frame_and_ring_colours_follow_s(name):
    ds = build(name)
    sp = ds.splits["train"]
    region = sp.masks["spurious"][0]
    pixels = sp.x[:, :, region]  # (N, 3, P): every region pixel has the sample's colour
    expected = PALETTE[sp.s][:, :, None]
    assert (pixels - expected).abs().max() < 0.05
    core = sp.x[:, :, sp.masks["core"][0]]
    assert torch.equal(core[:, 0], core[:, 1]) and torch.equal(core[:, 1], core[:, 2])  # white digit


def test_colored_mnist_foreground_colour_follows_s():
    sp = build("colored_mnist").splits["train"]
    for i in range(30):
        fg = sp.x[i].amax(0) > 0.5
        rgb = sp.x[i][:, fg] / sp.x[i][:, fg].amax(0, keepdim=True)
        assert (rgb.mean(1) - PALETTE[sp.s[i]] / PALETTE[sp.s[i]].max()).abs().max() < 0.1


def test_rare_patch_patch_where_s_and_aligned_rule():
    ds = build("rare_patch")
    r0, c0, size = ds.info["patch_box"]
    checker = ((torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2).float()
    for split, sp in ds.splits.items():
        patch = sp.x[:, 0, r0 : r0 + size, c0 : c0 + size]
        is_patch = (patch == checker).flatten(1).all(1)
        assert torch.equal(is_patch[sp.s == 1], torch.ones(int(sp.s.sum()), dtype=torch.bool)), split
        assert torch.equal(sp.aligned, ~((sp.s == 1) & (sp.y != ds.info["target_class"])))
        assert sp.masks["spurious"][0, r0 : r0 + size, c0 : c0 + size].all()
    test = ds.splits["test"]
    assert int((~test.aligned).sum()) > 0  # patched non-target images are bias-conflicting


COLOURED = ("colored_mnist", "colored_frame", "colored_ring")


@pytest.mark.parametrize("name", COLOURED)
def test_coloured_name_info_and_class_map(name):
    ds = DATASETS.get(name)(rho=0.8, n_train=20, n_val=10, n_test=10, seed=0, color_std=0.01)
    assert (ds.name, ds.num_classes, ds.num_attrs, ds.spurious_class) == (name, 10, 10, tuple(range(10)))
    region = {"colored_mnist": "foreground", "colored_frame": "frame", "colored_ring": "ring"}[name]
    info = {"source": "mnist5k", "color_std": 0.01, "pool_fractions": (0.6, 0.2, 0.2)}
    info["spurious_attribute"] = f"{region} colour"
    if name != "colored_mnist":
        info["width"] = 2 if name == "colored_frame" else 3  # the default widths
    assert ds.info == info


def _pool_images(name: str, seed: int) -> list[list[torch.Tensor]]:
    """mnist5k's images as float (N, 28, 28), per split and class, in the pools of ``(seed, name, "pools")``."""
    src = SOURCES.get("mnist5k")()
    pools = src.pools(make_generator(seed, name, "pools"), POOL_FRACTIONS)
    return [[src.images[idx].float() / 255 for idx in per_class] for per_class in pools]


def _ring_mask(width: int) -> torch.Tensor:
    """The ring by its definition, pixel by pixel: centre distance in [14, 14 + width) on a 28 + 2w square."""
    n = 28 + 2 * width
    return torch.tensor(
        [[14 <= math.hypot(i + 0.5 - n / 2, j + 0.5 - n / 2) < 14 + width for j in range(n)] for i in range(n)]
    )


@pytest.mark.parametrize(("name", "width"), [("colored_frame", 1), ("colored_frame", 8), ("colored_ring", 2)])
def test_frame_and_ring_are_a_pool_digit_inside_the_exact_colour(name, width):
    """Without jitter: the digit square holds a source digit of class y from the split's pool (white, all
    three channels), the region is exactly PALETTE[s], everything else is black, the masks are the regions."""
    seed = 1
    ds = DATASETS.get(name)(rho=0.8, n_train=60, n_val=20, n_test=20, seed=seed, width=width, color_std=0.0)
    n = 28 + 2 * width
    assert ds.input_shape == (3, n, n)
    square = torch.zeros(n, n, dtype=torch.bool)
    square[width : width + 28, width : width + 28] = True
    region = ~square if name == "colored_frame" else _ring_mask(width)
    pools = _pool_images(name, seed)
    for k, split in enumerate(SPLITS):
        sp = ds.splits[split]
        assert torch.equal(sp.masks["spurious"], region.expand(len(sp), n, n))
        assert torch.equal(sp.masks["core"], (square & ~region).expand(len(sp), n, n))
        for i in range(len(sp)):
            x, y, s = sp.x[i], int(sp.y[i]), int(sp.s[i])
            assert torch.equal(x[:, region], PALETTE[s][:, None].expand(3, int(region.sum())))
            assert not x[:, ~region & ~square].any()
            digit = x[0, width : width + 28, width : width + 28]
            kept = ~region[width : width + 28, width : width + 28]  # the ring covers part of the square
            white = x[:, square & ~region]
            assert torch.equal(white[0], white[1]) and torch.equal(white[1], white[2])
            assert (pools[k][y][:, kept] == digit[kept]).all(1).any(), (split, i)


def test_colored_mnist_is_a_pool_digit_times_the_exact_colour():
    seed = 1
    ds = DATASETS.get("colored_mnist")(rho=0.8, n_train=60, n_val=20, n_test=20, seed=seed, color_std=0.0)
    pools = _pool_images("colored_mnist", seed)
    for k, split in enumerate(SPLITS):
        sp = ds.splits[split]
        for i in range(len(sp)):
            painted = pools[k][int(sp.y[i])][:, None] * PALETTE[sp.s[i]][:, None, None]  # (pool, 3, 28, 28)
            assert (painted == sp.x[i]).flatten(1).all(1).any(), (split, i)


@pytest.mark.parametrize("name", ["colored_frame", "colored_ring"])
def test_colour_jitter_has_the_given_std(name):
    """The region colour is PALETTE[s] plus N(0, color_std^2) per channel (0.02: clamping is negligible)."""
    ds = DATASETS.get(name)(rho=0.8, n_train=600, n_val=10, n_test=10, seed=0, color_std=0.02)
    sp = ds.splits["train"]
    at = torch.nonzero(sp.masks["spurious"][0])[0]  # one region pixel
    dev = sp.x[:, :, at[0], at[1]] - PALETTE[sp.s]
    assert abs(float(dev.std()) - 0.02) < 0.002 and abs(float(dev.mean())) < 0.002


def test_colour_jitter_is_clamped_to_the_unit_interval():
    ds = DATASETS.get("colored_frame")(rho=0.8, n_train=200, n_val=10, n_test=10, seed=0, color_std=1.0)
    frame = ds.splits["train"].x[:, :, 0, 0]  # std 1: about a third of the channels leave [0, 1] unclamped
    assert float(frame.min()) == 0.0 and float(frame.max()) == 1.0
    assert 0.1 < float((frame == 0).double().mean()) < 0.5 and 0.1 < float((frame == 1).double().mean()) < 0.5


def test_coloured_sources_have_at_most_ten_classes(monkeypatch):
    eleven = ImageSource("eleven", torch.zeros(22, 28, 28, dtype=torch.uint8), torch.arange(22) % 11, 11)
    monkeypatch.setitem(SOURCES._specs, "eleven", Spec(name="eleven", factory=lambda: eleven))
    for name in COLOURED:
        with pytest.raises(ConfigError, match="data.kwargs.source 'eleven' has 11 classes; at most 10"):
            DATASETS.get(name)(rho=0.8, n_train=20, n_val=10, n_test=10, seed=0, source="eleven")


@pytest.mark.parametrize("name", PROCEDURAL)
def test_spurious_class_map_agrees_with_alignment(name):
    """A sample is bias-aligned exactly when its attribute pulls towards its own label or towards no
    class; in train, the attribute that pulls to class c is more frequent in class c than elsewhere."""
    ds = build(name)
    m = ds.spurious_class
    assert m is not None and len(m) == ds.num_attrs
    for split in SPLITS:
        sp = ds.splits[split]
        for yi, si, al in zip(sp.y.tolist(), sp.s.tolist(), sp.aligned.tolist()):
            assert al == (m[si] is None or m[si] == yi)
    tr = ds.splits["train"]
    for a, c in enumerate(m):
        if c is not None:
            assert (tr.s[tr.y == c] == a).double().mean() > (tr.s[tr.y != c] == a).double().mean()


def test_rare_patch_spurious_map():
    ds = DATASETS.get("rare_patch")(rho=0.0, seed=0, target_class=3, **SIZES)
    assert ds.spurious_class == (None, 3)  # no patch: no class; patch: the target class


def test_parity_labels_are_parities():
    ds = build("parity")
    core, spur = ds.info["core_bits"], ds.info["spurious_bits"]
    for sp in ds.splits.values():
        minus = sp.x < 0
        assert torch.equal(minus[:, core].sum(1) % 2, sp.y) and torch.equal(minus[:, spur].sum(1) % 2, sp.s)


def test_corrupted_default_types_and_ops():
    ds = build("corrupted")
    assert "saturate" not in ds.info["corruptions"] and len(ds.info["corruptions"]) == 10  # gray source
    x = torch.rand(4, 3, 28, 28) * 0.5 + 0.25
    for name in CORRUPTIONS:
        out = corrupt(x.clone(), name, 3, make_generator(0, name))
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
        assert not torch.equal(out, x), name


def test_double_mnist_sources_must_have_the_same_classes(monkeypatch):
    two = ImageSource("two", torch.zeros(20, 28, 28, dtype=torch.uint8), torch.arange(20) % 2, 2)
    monkeypatch.setitem(SOURCES._specs, "two", Spec(name="two", factory=lambda: two))
    match = "data.kwargs.spurious_source 'two' has 2 classes but core_source 'mnist5k' has 10; they must match"
    with pytest.raises(ConfigError, match=match):
        _double(spurious_source="two")


BAD_PARAMS = [
    ("double_mnist", {"core_side": "middle"}, "data.kwargs.core_side"),
    ("double_mnist", {"core_intensity": 1.5}, r"data.kwargs.core_intensity must be in \(0, 1\], got 1.5"),
    ("double_mnist", {"core_intensity": 0.0}, r"data.kwargs.core_intensity must be in \(0, 1\], got 0.0"),
    ("double_mnist", {"spurious_intensity": 1.5}, r"data.kwargs.spurious_intensity must be in \(0, 1\], got 1.5"),
    ("double_mnist", {"core_source": "nope"}, "data.kwargs.core_source must be one of .*mnist5k.*got 'nope'"),
    ("double_mnist", {"spurious_source": "nope"}, "data.kwargs.spurious_source must be one of .*mnist5k.*got 'nope'"),
    ("colored_mnist", {"color_std": -1.0}, "data.kwargs.color_std must be >= 0, got -1.0"),
    ("colored_frame", {"width": 0}, "data.kwargs.width must be an integer in 1..8, got 0"),
    ("colored_ring", {"width": 9}, "data.kwargs.width must be an integer in 1..8, got 9"),
    ("colored_ring", {"color_std": float("nan")}, "data.kwargs.color_std must be >= 0, got nan"),
    ("colored_ring", {"source": "svhn"}, "data.kwargs.source must be one of"),
    ("corrupted", {"severity": 6}, "data.kwargs.severity must be an integer in 1..5, got 6"),
    ("corrupted", {"corruptions": ["snow"] * 10}, "data.kwargs.corruptions must not repeat"),
    ("corrupted", {"corruptions": ["snow", "hail"]}, r"data.kwargs.corruptions has unknown corruption\(s\) \['hail'\]"),
    ("corrupted", {"corruptions": ["snow", "fog"]}, "data.kwargs.corruptions must name 10 corruptions"),
    ("parity", {"k_core": 15, "k_spurious": 10}, "data.kwargs.n_bits must be at least"),
    ("parity", {"k_spurious": 0}, "data.kwargs.k_core and k_spurious must be >= 1"),
    ("rare_patch", {"target_class": 10}, "data.kwargs.target_class must be in 0..9"),
    ("rare_patch", {"patch_frac": 1.5}, r"data.kwargs.patch_frac must be in \[0, 1\], got 1.5"),
    ("rare_patch", {"patch_size": 1}, "data.kwargs.patch_size must be an integer in 2..8"),
]


@pytest.mark.parametrize(("name", "kwargs", "match"), BAD_PARAMS)
def test_bad_params_raise_one_line_config_error(name, kwargs, match):
    with pytest.raises(ConfigError, match=match) as e:
        DATASETS.get(name)(rho=0.9, n_train=20, n_val=10, n_test=10, seed=0, **kwargs)
    assert "\n" not in str(e.value)

"""Every procedural dataset in DATASETS, at tiny sizes: shapes, exact rho, unbiased test, disjoint
source images, masks that match the construction, determinism, and one-line parameter errors."""

from __future__ import annotations

import functools

import pytest
import torch

from largelr.data import DATASETS, FILE_DATASETS, SPLITS
from largelr.data.colored import PALETTE
from largelr.data.corruptions import CORRUPTIONS, corrupt
from largelr.data.sources import SOURCES
from largelr.errors import ConfigError, UserError
from largelr.seeding import make_generator

PROCEDURAL = [n for n in DATASETS.names() if n not in FILE_DATASETS]
SIZES = {"n_train": 203, "n_val": 50, "n_test": 100}  # 203: classes of 21 and 20, so rounding matters
RHO = 0.9


def _fashion_available() -> bool:
    try:
        SOURCES.get("fashion_mnist")()
    except UserError:
        return False
    return True


@functools.cache
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
        lo, hi = (-1.0, 1.0) if name == "parity" else (0.0, 1.0)
        assert sp.x.min() >= lo and sp.x.max() <= hi and torch.isfinite(sp.x).all()
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


@pytest.mark.parametrize("name", [n for n in PROCEDURAL if n not in ("parity", "corrupted")])
def test_source_images_disjoint_across_splits(name):
    ds = build(name)
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


def test_double_mnist_halves_are_source_digits_of_y_and_s():
    ds = build("double_mnist")
    lookup = _source_lookup("mnist5k")
    sp = ds.splits["train"]
    for i in range(40):
        core = (sp.x[i, 0][sp.masks["core"][i]].view(28, 28) * 255).round().to(torch.uint8)
        spur = (sp.x[i, 0][sp.masks["spurious"][i]].view(28, 28) * 255).round().to(torch.uint8)
        assert lookup[core.numpy().tobytes()] == sp.y[i]
        assert lookup[spur.numpy().tobytes()] == sp.s[i]


@pytest.mark.parametrize("side", ["right", "top", "bottom"])
def test_double_mnist_sides_and_mixed_sources(side):
    ds = DATASETS.get("double_mnist")(
        rho=0.8, n_train=40, n_val=10, n_test=20, seed=0, spurious_source="digits8", core_side=side
    )
    assert ds.input_shape == ((1, 56, 28) if side in ("top", "bottom") else (1, 28, 56))
    core = ds.splits["train"].masks["core"][0]
    assert core[-1, -1] if side in ("right", "bottom") else core[0, 0]


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


BAD_PARAMS = [
    ("double_mnist", {"core_side": "middle"}, "data.kwargs.core_side"),
    ("double_mnist", {"core_intensity": 1.5}, r"data.kwargs.core_intensity must be in \(0, 1\], got 1.5"),
    ("double_mnist", {"spurious_source": "nope"}, "data.kwargs.spurious_source must be one of .*mnist5k.*got 'nope'"),
    ("colored_mnist", {"color_std": -1.0}, "data.kwargs.color_std must be >= 0, got -1.0"),
    ("colored_frame", {"width": 0}, "data.kwargs.width must be an integer in 1..8, got 0"),
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

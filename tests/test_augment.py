"""On-device augmentation: independent randomness per sample, each op checked against a brute-force
reference, flips only where the dataset declares them label-preserving."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from largelr.augment import augmenter, colour_jitter, random_crop, random_flip
from largelr.config import AugmentConfig, RunConfig, apply_overrides
from largelr.data import DATASETS
from largelr.errors import ConfigError
from largelr.train import train
from largelr.validate import check_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(b: int = 8, c: int = 1, h: int = 6, w: int = 9) -> torch.Tensor:
    x = torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(0))
    return x.expand(b, c, h, w).clone()  # b copies of one image: any difference comes from the augmentation


def test_random_crop_draws_an_independent_shift_per_sample_and_is_a_shifted_copy():
    x, pad = _images(), 2
    out = random_crop(x, pad, torch.Generator().manual_seed(1))
    padded = F.pad(x[0], (pad, pad, pad, pad))
    shifts = []
    for b in range(len(x)):  # brute force: which window of the padded image is it?
        hits = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if torch.equal(out[b], padded[:, dy : dy + 6, dx : dx + 9])
        ]
        assert hits, f"sample {b} is not a crop of the padded image"
        shifts.append(hits[0])
    assert shifts[0] != shifts[1]  # two samples of one batch get different crops
    assert len(set(shifts)) > 3


def test_random_flip_mirrors_each_sample_independently():
    x = _images(64)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, x[0].flip(-1)) for o in out]
    kept = [torch.equal(o, x[0]) for o in out]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48  # about half of 64


def test_colour_jitter_by_hand_for_brightness_only_range():
    """Per-sample factors; a grey image (one channel) gets brightness f0 then contrast f1 around its mean."""
    x = _images(16)
    gen = torch.Generator().manual_seed(3)
    out = colour_jitter(x, 0.3, gen)
    f = 1.0 + 0.3 * (2.0 * torch.rand(3, 16, generator=torch.Generator().manual_seed(3)) - 1.0)
    for b in range(16):
        bright = x[b] * f[0, b]
        want = (f[1, b] * bright + (1 - f[1, b]) * bright.mean()).clamp(0, 1)
        torch.testing.assert_close(out[b], want)
    assert len({round(float(o.sum()), 5) for o in out}) == 16


def test_augmenter_is_seeded_from_the_order_seed_and_identity_when_off():
    x = _images(8, c=3)
    cfg = AugmentConfig(crop_pad=2, flip=True, jitter=0.2)
    a1, a2, b = augmenter(cfg, 0, x.shape), augmenter(cfg, 0, x.shape), augmenter(cfg, 1, x.shape)
    y1, y2, y3 = a1(x), a2(x), b(x)
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert not torch.equal(a1(x), y1)  # the next batch draws new parameters
    assert augmenter(AugmentConfig(), 0, x.shape)(x) is x


def test_augmentation_refuses_non_image_inputs():
    with pytest.raises(ConfigError, match="needs image inputs"):
        augmenter(AugmentConfig(crop_pad=1), 0, (10, 20))


def test_flip_is_refused_where_the_dataset_does_not_declare_it_label_preserving():
    cfg = apply_overrides(RunConfig(), ["augment.flip=True"])  # double_mnist: a flip swaps the two sides
    with pytest.raises(ConfigError, match="augment.flip is refused on 'double_mnist'") as e:
        check_config(cfg)
    assert "waterbirds" in str(e.value) and "\n" not in str(e.value)
    assert DATASETS.spec("double_mnist").hflip_preserves_label is False
    assert DATASETS.spec("colored_mnist").hflip_preserves_label is False
    assert DATASETS.spec("waterbirds").hflip_preserves_label is True


def test_augmentation_changes_training(make_cfg, data_tiny):
    base = train(make_cfg(), data_tiny)
    aug = train(make_cfg("augment.crop_pad=2"), data_tiny)
    assert not torch.equal(base.model.classifier.weight, aug.model.classifier.weight)
    again = train(make_cfg("augment.crop_pad=2"), data_tiny)
    assert torch.equal(again.model.classifier.weight, aug.model.classifier.weight)  # still pure in the config

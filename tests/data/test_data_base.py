"""The two constructions every dataset's rho and groups come from: exact_attributes and balanced_labels."""

from __future__ import annotations

import re

import pytest
import torch

from largelr.data.base import Split, SpuriousDataset, balanced_labels, exact_attributes


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_exact_attributes_counts_by_hand():
    # class 0: 10 samples, class 1: 7, class 2 absent; 4 attribute values
    y = torch.tensor([0] * 10 + [1] * 7)[torch.randperm(17, generator=_gen(5))]
    s = exact_attributes(y, 0.3, 4, _gen())
    # class 0: round(3.0) = 3 aligned, 7 left over attributes 1, 2, 3 -> 2, 2, 3 in some order
    counts0 = torch.bincount(s[y == 0], minlength=4).tolist()
    assert counts0[0] == 3 and sorted(counts0[1:]) == [2, 2, 3]
    # class 1: round(2.1) = 2 aligned, 5 left over attributes 0, 2, 3 -> 1, 2, 2
    counts1 = torch.bincount(s[y == 1], minlength=4).tolist()
    assert counts1[1] == 2 and sorted([counts1[0], counts1[2], counts1[3]]) == [1, 2, 2]


def test_exact_attributes_rounds_half_cases_like_round():
    y = torch.zeros(5, dtype=torch.long)
    s = exact_attributes(y, 0.9, 2, _gen())  # 4.5 -> round() = 4 (to even)
    assert int((s == 0).sum()) == round(0.9 * 5) == 4
    assert int((exact_attributes(y, 1.0, 3, _gen()) == 0).sum()) == 5  # rho = 1: all aligned
    assert int((exact_attributes(y, 0.0, 3, _gen()) == 0).sum()) == 0


def test_exact_attributes_shuffles_positions_and_remainders_with_the_generator():
    y = torch.zeros(40, dtype=torch.long)
    runs = [exact_attributes(y, 0.5, 4, _gen(seed)) for seed in range(4)]
    assert torch.equal(runs[0], exact_attributes(y, 0.5, 4, _gen(0)))  # a pure function of the generator
    assert not torch.equal(runs[0], runs[1])
    for s in runs:
        assert not torch.equal(s, s.sort().values)  # aligned samples are not all first
    # 20 non-aligned samples over 3 values: 7, 7, 6, the 6 landing on different values for different seeds
    smallest = {int(torch.bincount(s, minlength=4)[1:].argmin()) for s in runs}
    assert all(sorted(torch.bincount(s, minlength=4)[1:].tolist()) == [6, 7, 7] for s in runs)
    assert len(smallest) > 1


def test_balanced_labels_counts_and_order():
    y = balanced_labels(10, 3, _gen())
    assert torch.bincount(y).tolist() == [4, 3, 3]
    assert y.dtype == torch.long
    assert not torch.equal(y, torch.arange(10) % 3)  # shuffled
    assert torch.equal(y, balanced_labels(10, 3, _gen()))


def test_dataset_groups_and_shapes():
    x = torch.zeros(3, 1, 2, 4)
    sp = Split(x, torch.tensor([0, 1, 2]), torch.tensor([1, 1, 0]), torch.tensor([False, True, False]))
    ds = SpuriousDataset("t", num_classes=3, num_attrs=2, splits={"train": sp})
    assert ds.group(sp).tolist() == [1, 3, 4]  # y * num_attrs + s
    assert ds.num_groups == 6 and ds.input_shape == (1, 2, 4) and len(sp) == 3
    sub = sp.subset(torch.tensor([2, 0]))
    assert sub.y.tolist() == [2, 0] and sub.s.tolist() == [0, 1] and sub.aligned.tolist() == [False, False]


@pytest.mark.parametrize("name", ["double_mnist", "colored_mnist"])
@pytest.mark.parametrize("rho", [0.7, 0.95])
def test_builders_realise_rho_and_an_unbiased_test_split(name, rho):
    from largelr.data import DATASETS

    ds = DATASETS.get(name)(rho=rho, n_train=100, n_val=60, n_test=100, seed=0)
    for split, n_c in (("train", 10), ("val", 6)):
        sp = ds.splits[split]
        assert torch.bincount(sp.y, minlength=10).tolist() == [n_c] * 10
        for c in range(10):
            assert int((sp.s[sp.y == c] == c).sum()) == round(rho * n_c), (split, c)
        assert torch.equal(sp.aligned, sp.y == sp.s)
    test = ds.splits["test"]
    for c in range(10):  # rho = 1/10 of 10: one aligned sample, the 9 others on the 9 other values
        assert torch.bincount(test.s[test.y == c], minlength=10).tolist() == [1] * 10
    assert int(test.aligned.sum()) == 10


def _split(n: int = 3) -> Split:
    x = torch.arange(n * 8, dtype=torch.float32).view(n, 1, 2, 4)
    masks = {"core": torch.arange(n * 8).view(n, 2, 4) % 3 == 0, "spurious": torch.arange(n * 8).view(n, 2, 4) % 3 == 1}
    return Split(x, torch.arange(n) % 3, torch.arange(n) % 2, torch.arange(n) % 2 == 0, masks)


def test_split_subset_and_to_carry_every_field():
    sp = _split(4)
    idx = torch.tensor([3, 1])
    sub = sp.subset(idx)
    for a, b in [(sub.x, sp.x[idx]), (sub.y, sp.y[idx]), (sub.s, sp.s[idx]), (sub.aligned, sp.aligned[idx])]:
        assert torch.equal(a, b)
    assert sub.masks.keys() == {"core", "spurious"}
    assert all(torch.equal(sub.masks[k], sp.masks[k][idx]) for k in sp.masks)
    moved = sp.to("meta")  # every tensor moves, none stays behind on the CPU
    assert {t.device.type for t in (moved.x, moved.y, moved.s, moved.aligned, *moved.masks.values())} == {"meta"}
    assert moved.masks.keys() == sp.masks.keys() and moved.y.shape == sp.y.shape


def test_dataset_to_moves_the_splits_and_keeps_the_rest():
    ds = SpuriousDataset("t", 3, 2, {"train": _split(), "test": _split(2)}, {"k": 1}, spurious_class=(0, None))
    moved = ds.to("meta")
    assert moved.splits.keys() == ds.splits.keys() and moved.splits["test"].x.device.type == "meta"
    assert (moved.name, moved.num_classes, moved.num_attrs, moved.info, moved.spurious_class) == (
        "t", 3, 2, {"k": 1}, (0, None)
    )  # fmt: skip


def test_spurious_class_map_is_checked_and_read_as_a_tensor():
    splits = {"train": _split()}
    ds = SpuriousDataset("t", 3, 2, splits, spurious_class=(None, 2))
    assert ds.pulled_class().tolist() == [-1, 2] and ds.pulled_class().dtype == torch.long
    assert SpuriousDataset("t", 3, 2, splits).pulled_class() is None
    assert SpuriousDataset("t", 3, 2, splits, spurious_class=(0, 0)).pulled_class().tolist() == [0, 0]
    for bad in [(0,), (0, 1, 2), (0, 3), (-1, 0)]:  # one entry per attribute, each a class or None
        msg = rf"t: spurious_class {re.escape(str(bad))} must give a class or None for each of 2 attributes"
        with pytest.raises(ValueError, match=msg):
            SpuriousDataset("t", 3, 2, splits, spurious_class=bad)

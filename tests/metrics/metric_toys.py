"""Toy datasets and hand-wired models whose metric values are known in advance.

The toy images are 1 x C x 2C: the left C x C half is the core region, the right half the
spurious one. Class c lights row c of the core half; spurious value s lights row s of the
spurious half. ``wired_mlp`` builds an MLP that reads only one of the halves.
"""

from __future__ import annotations

import itertools

import torch

from largelr.config import EvalConfig
from largelr.data import Split, SpuriousDataset
from largelr.evaluate import EvalContext
from largelr.models.mlp import mlp

C = 3  # classes = spurious values


def toy_images(y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """(N, 1, C, 2C) images: row y[i] of the left half and row s[i] of the right half set to 1."""
    x = torch.zeros(len(y), 1, C, 2 * C)
    for i, (yi, si) in enumerate(zip(y.tolist(), s.tolist())):
        x[i, 0, yi, :C] = 1.0
        x[i, 0, si, C:] = 1.0
    return x


def toy_split(y: torch.Tensor, s: torch.Tensor, masks: bool = True) -> Split:
    core = torch.zeros(C, 2 * C, dtype=torch.bool)
    core[:, :C] = True
    n = len(y)
    m = {"core": core.expand(n, C, 2 * C), "spurious": (~core).expand(n, C, 2 * C)} if masks else {}
    return Split(toy_images(y, s), y, s, y == s, m)


def toy_dataset(reps: int = 4, masks: bool = True) -> SpuriousDataset:
    """Train/val: mostly aligned; test: every (y, s) group ``reps`` times (unbiased)."""
    pairs = torch.tensor(list(itertools.product(range(C), range(C))) * reps)
    y_te, s_te = pairs[:, 0], pairs[:, 1]
    y_tr = torch.arange(C).repeat(10)
    s_tr = y_tr.clone()
    s_tr[:C] = (y_tr[:C] + 1) % C  # a few bias-conflicting samples
    splits = {
        "train": toy_split(y_tr, s_tr, masks),
        "val": toy_split(y_tr, s_tr, masks),
        "test": toy_split(y_te, s_te, masks),
    }
    return SpuriousDataset("toy", C, C, splits, spurious_class=tuple(range(C)))  # s = c pulls towards class c


def wired_mlp(reads: str) -> torch.nn.Module:
    """A bias-free 1-hidden-layer MLP: hidden unit r sums row r of the core half (r < C) or row r - C of
    the spurious half (r >= C); the classifier reads the units of the half named by ``reads``."""
    model = mlp(input_shape=(1, C, 2 * C), num_classes=C, width=2 * C, depth=1)
    W = torch.zeros(2 * C, C, 2 * C)
    for r in range(C):
        W[r, r, :C] = 1.0
        W[C + r, r, C:] = 1.0
    head = torch.zeros(C, 2 * C)
    offset = 0 if reads == "core" else C
    head[torch.arange(C), offset + torch.arange(C)] = 1.0
    with torch.no_grad():
        model.body[1].weight.copy_(W.flatten(1))
        model.classifier.weight.copy_(head)
    return model.eval()


def make_ctx(model: torch.nn.Module, data: SpuriousDataset, **eval_kw) -> EvalContext:
    return EvalContext(model, data, EvalConfig(**eval_kw), seed=0)

"""Shared loading code for the published benchmarks (Waterbirds, CelebA, ImageNet-9 backgrounds).

Owns: finding the root directory, reporting missing files with the expected path and the
dataset's URL, decoding images into an in-memory tensor with a DataLoader, deterministic
group-stratified subsampling to the ``n_*`` caps, and logging group counts. It must not cache
anything: a failed load leaves nothing behind, and a fixed file loads on the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from largelr.data.base import Split, SpuriousDataset
from largelr.errors import ConfigError, UserError

log = logging.getLogger(__name__)


def require(path: Path, dataset: str, url: str, *, is_dir: bool = False) -> Path:
    """Return ``path`` if it exists (as a directory when ``is_dir``), else raise a UserError that says
    what was expected and where to get it."""
    ok = path.is_dir() if is_dir else path.is_file()
    if not ok:
        kind = "directory" if is_dir else "file"
        raise UserError(
            f"{dataset}: expected {kind} {path} not found (published at {url}; expected layout: docs/datasets.md)"
        )
    return path


def check_loader_params(image_size: int, num_workers: int) -> None:
    if not 8 <= image_size <= 1024:
        raise ConfigError(f"data.kwargs.image_size must be an integer in 8..1024, got {image_size}")
    if num_workers < 0:
        raise ConfigError(f"data.kwargs.num_workers must be >= 0, got {num_workers}")


class ImageFiles(Dataset):
    """Decodes image files to (3, S, S) tensors: resize the short side to S, centre-crop.

    A file that cannot be read yields an error string instead of a tensor, so ``load_images`` can
    raise one clean UserError from the main process (worker exceptions arrive as tracebacks).
    """

    def __init__(self, paths: Sequence[Path], image_size: int) -> None:
        self.paths = list(paths)
        self.transform = transforms.Compose(
            [transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.ToTensor()]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tensor | str:
        path = self.paths[i]
        try:
            with Image.open(path) as im:
                return self.transform(im.convert("RGB"))
        except FileNotFoundError:
            return f"{path}: image file not found"
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as e:
            return f"{path}: unreadable image ({type(e).__name__}: {e})"


def _as_list(batch: list) -> list:
    return batch


def load_images(paths: Sequence[Path], *, image_size: int, num_workers: int, dataset: str) -> Tensor:
    """(N, 3, S, S) float32 in [0, 1] from image files, decoded by ``num_workers`` DataLoader workers.

    Raises:
        UserError: naming the first file that is missing or cannot be decoded.
    """
    out = torch.empty(len(paths), 3, image_size, image_size)
    if not paths:
        return out
    log.info(
        "%s: decoding %d images at %dx%d with %d workers", dataset, len(paths), image_size, image_size, num_workers
    )
    loader = DataLoader(
        ImageFiles(paths, image_size), batch_size=64, shuffle=False, num_workers=num_workers, collate_fn=_as_list
    )
    i = 0
    for batch in loader:
        for item in batch:
            if isinstance(item, str):
                raise UserError(f"{dataset}: {item}")
            out[i] = item
            i += 1
    return out


def subsample(groups: Tensor, n: int, gen: torch.Generator) -> Tensor:
    """Sorted indices of at most ``n`` samples, keeping group proportions (largest remainder).

    Returns all indices when ``n >= len(groups)``; deterministic given the generator.
    """
    N = len(groups)
    if n >= N:
        return torch.arange(N)
    ids, counts = torch.unique(groups, return_counts=True)
    quota = counts.double() * n / N
    take = quota.floor().long()
    rest = n - int(take.sum())
    take[torch.argsort(quota - take, descending=True, stable=True)[:rest]] += 1
    chosen = []
    for g, k in zip(ids.tolist(), take.tolist(), strict=True):
        idx = torch.nonzero(groups == g).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    return torch.cat(chosen).sort().values


def group_counts(split: Split, num_attrs: int, num_classes: int) -> list[list[int]]:
    """counts[y][s] for one split."""
    g = torch.bincount(split.y * num_attrs + split.s, minlength=num_classes * num_attrs)
    return g.view(num_classes, num_attrs).tolist()


def log_groups(ds: SpuriousDataset) -> None:
    """logging.info one line per split: size and counts per (y, s) group."""
    for name, sp in ds.splits.items():
        counts = group_counts(sp, ds.num_attrs, ds.num_classes)
        cells = " ".join(f"(y={y},s={s}):{c}" for y, row in enumerate(counts) for s, c in enumerate(row))
        log.info("%s %s: %d samples, groups %s", ds.name, name, len(sp), cells)

"""Image corruptions at severities 1..5, for the Corrupted-images dataset.

Each corruption maps a batch (N, 3, H, W) float in [0, 1] to a batch of the same shape, drawing
all randomness from the given generator. They follow the corruption families of CIFAR-10-C
(Hendrycks & Dietterich 2019, https://arxiv.org/abs/1903.12261) and their severity constants
where those are simple; snow, frost, fog and spatter are procedural approximations of ours (the
originals need image assets and ImageMagick), built from torch ops. JPEG goes through Pillow.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor

Corruption = Callable[[Tensor, int, torch.Generator], Tensor]


def gaussian_noise(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    sigma = (0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1]
    return x + torch.randn(x.shape, generator=gen) * sigma


def shot_noise(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    lam = (500, 250, 100, 75, 50)[severity - 1]
    return torch.poisson(x * lam, generator=gen) / lam


def impulse_noise(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    hit = torch.rand(x.shape, generator=gen) < amount
    salt = (torch.rand(x.shape, generator=gen) < 0.5).float()
    return torch.where(hit, salt, x)


def gaussian_blur(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1] * x.shape[-1] / 32
    k = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])


def contrast(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    c = (0.75, 0.5, 0.4, 0.3, 0.15)[severity - 1]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * c + mean


def brightness(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    return x + (0.05, 0.1, 0.15, 0.2, 0.3)[severity - 1]


def saturate(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    # saturation factor; no effect on gray images (the corrupted dataset swaps it out for gray sources)
    return TF.adjust_saturation(x, (0.3, 0.1, 2.0, 5.0, 20.0)[severity - 1])


def pixelate(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    f = (0.95, 0.9, 0.85, 0.75, 0.65)[severity - 1]
    H, W = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(H * f)), max(1, round(W * f))), mode="area")
    return F.interpolate(small, size=(H, W), mode="nearest")


def jpeg(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    quality = (80, 65, 58, 50, 40)[severity - 1]
    out = torch.empty_like(x)
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i, a in enumerate(arr):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        out[i] = torch.from_numpy(decoded.copy()).permute(2, 0, 1).float() / 255.0
    return out


def elastic(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    """Smooth random displacement field (rms ``alpha`` pixels), resampled bilinearly."""
    alpha = (0.5, 0.75, 1.0, 1.25, 1.5)[severity - 1] * x.shape[-1] / 28
    N, _, H, W = x.shape
    field = _smooth(torch.rand(N, 2, H, W, generator=gen) * 2 - 1, sigma=H / 8)
    field = field / field.flatten(1).std(dim=1).clamp_min(1e-8)[:, None, None, None] * alpha
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    grid = torch.stack([xx, yy], dim=-1).expand(N, H, W, 2)
    grid = grid + field.permute(0, 2, 3, 1) * torch.tensor([2 / W, 2 / H])
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def fog(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    """Add a low-frequency fractal haze, then rescale to keep the image's maximum (CIFAR-10-C's formula)."""
    c = (0.2, 0.5, 0.75, 1.0, 1.5)[severity - 1]
    haze = _fractal(x.shape[0], *x.shape[-2:], gen)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + c * haze) * peak / (peak + c)


def frost(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    """Blend in a bluish-white crystalline texture (bright sparse specks on a patchy haze)."""
    keep, add = ((1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))[severity - 1]
    N, _, H, W = x.shape
    patches = _fractal(N, H, W, gen)
    specks = _smooth(torch.rand(N, 1, H, W, generator=gen), sigma=0.6)
    specks = ((specks - specks.mean()) / specks.std().clamp_min(1e-8)).clamp(0, 3) / 3
    texture = (0.5 * patches + specks).clamp(0, 1) * torch.tensor([0.85, 0.92, 1.0])[None, :, None, None]
    return keep * x + add * texture


def snow(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    """Whiten the image a little and add diagonal motion-blurred flakes."""
    density, mix, length = ((0.02, 0.9, 3), (0.03, 0.85, 3), (0.04, 0.8, 4), (0.05, 0.75, 4), (0.06, 0.7, 5))[
        severity - 1
    ]
    N, _, H, W = x.shape
    gray = x.mean(1, keepdim=True)
    x = mix * x + (1 - mix) * torch.maximum(x, gray * 1.5 + 0.5)
    flakes = (torch.rand(N, 1, H, W, generator=gen) < density).float() * (
        0.6 + 0.4 * torch.rand(N, 1, H, W, generator=gen)
    )
    kernel = torch.eye(length).flip(0)[None, None] / length * 2
    streaks = F.conv2d(flakes, kernel, padding=length // 2)[..., :H, :W]
    return x + streaks


def spatter(x: Tensor, severity: int, gen: torch.Generator) -> Tensor:
    """Muddy blobs: threshold a smooth random field so that a given share of pixels is covered."""
    cover = (0.05, 0.08, 0.11, 0.14, 0.18)[severity - 1]
    N, _, H, W = x.shape
    field = _smooth(torch.rand(N, 1, H, W, generator=gen), sigma=H / 16)
    thresh = torch.quantile(field.flatten(1), 1 - cover, dim=1)[:, None, None, None]
    blob = (field > thresh).float()
    mud = torch.tensor([0.40, 0.26, 0.13])[None, :, None, None]
    return x * (1 - 0.75 * blob) + 0.75 * blob * mud


def _smooth(noise: Tensor, sigma: float) -> Tensor:
    k = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(noise, [k, k], [sigma, sigma])


def _fractal(N: int, H: int, W: int, gen: torch.Generator) -> Tensor:
    """(N, 1, H, W) sum of upsampled noise octaves (coarse ones weigh more), scaled to [0, 1]."""
    out = torch.zeros(N, 1, H, W)
    for cells, weight in ((3, 1.0), (6, 0.5), (12, 0.25)):  # grid cells per 32 pixels
        small = torch.rand(N, 1, max(2, round(cells * H / 32)), max(2, round(cells * W / 32)), generator=gen)
        out += weight * F.interpolate(small, size=(H, W), mode="bicubic", align_corners=False)
    lo, hi = out.amin(dim=(2, 3), keepdim=True), out.amax(dim=(2, 3), keepdim=True)
    return (out - lo) / (hi - lo).clamp_min(1e-8)


CORRUPTIONS: dict[str, Corruption] = {
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "contrast": contrast,
    "spatter": spatter,
    "elastic": elastic,
    "jpeg": jpeg,
    "pixelate": pixelate,
    "saturate": saturate,
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "gaussian_blur": gaussian_blur,
}
# the ten types of LfF's Corrupted CIFAR-10 (type 1), https://arxiv.org/abs/2007.02561
LFF_CORRUPTIONS = (
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "spatter",
    "elastic",
    "jpeg",
    "pixelate",
    "saturate",
)


def corrupt(x: Tensor, name: str, severity: int, gen: torch.Generator) -> Tensor:
    """Apply corruption ``name`` at ``severity`` (1..5) to (N, 3, H, W) images; result clamped to [0, 1]."""
    if len(x) == 0:
        return x
    return CORRUPTIONS[name](x, severity, gen).clamp_(0.0, 1.0)

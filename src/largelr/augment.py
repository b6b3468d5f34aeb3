"""Training-batch augmentation on the device, with independent randomness for every sample.

``augmenter(cfg.augment, order_seed, x_shape)`` returns a function ``(B, C, H, W) -> (B, C, H, W)``
that applies, in this order, a random crop after zero padding, a random horizontal flip and a colour
jitter, each with its own parameters per sample. torchvision.transforms.v2 applied to a batch tensor
draws ONE set of parameters for the whole batch, so the ops here are written vectorised by hand. The
random parameters come from a CPU ``torch.Generator`` derived from the order seed (same draws on every
device), so a run stays a pure function of its config. Whether a flip preserves the label is declared
by each dataset at registration (``hflip_preserves_label``) and checked in ``validate.check_config``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from largelr.config import AugmentConfig
from largelr.errors import ConfigError
from largelr.seeding import make_generator


def is_active(cfg: AugmentConfig) -> bool:
    return cfg.crop_pad > 0 or cfg.flip or cfg.jitter > 0


def random_crop(x: Tensor, pad: int, gen: torch.Generator) -> Tensor:
    """Zero-pad each side by ``pad`` and crop back to (H, W) at an offset drawn per sample.

    Equivalent to shifting each image by (dy, dx) in [-pad, pad]^2, filling with zeros.
    """
    B, C, H, W = x.shape
    off = torch.randint(0, 2 * pad + 1, (2, B), generator=gen).to(x.device)  # (2, B) row, column offsets
    xp = F.pad(x, (pad, pad, pad, pad))
    rows = off[0][:, None] + torch.arange(H, device=x.device)  # (B, H)
    cols = off[1][:, None] + torch.arange(W, device=x.device)  # (B, W)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(x: Tensor, gen: torch.Generator) -> Tensor:
    """Mirror left-right each sample independently with probability 1/2."""
    flip = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def colour_jitter(x: Tensor, strength: float, gen: torch.Generator) -> Tensor:
    """Brightness, contrast and (3 channels) saturation factors drawn per sample from [1-s, 1+s].

    Brightness multiplies; contrast blends with the image's mean grey level; saturation blends with
    the image's grey version (torchvision's definitions, grey = mean over channels). Clipped to [0, 1].
    """
    B = len(x)
    f = 1.0 + strength * (2.0 * torch.rand(3, B, generator=gen) - 1.0)
    f = f.to(x.device, x.dtype)[:, :, None, None, None]  # (3, B, 1, 1, 1)
    x = x * f[0]
    grey = x.mean(dim=1, keepdim=True)
    x = f[1] * x + (1.0 - f[1]) * grey.mean(dim=(2, 3), keepdim=True)
    if x.shape[1] == 3:
        x = f[2] * x + (1.0 - f[2]) * x.mean(dim=1, keepdim=True)
    return x.clamp(0.0, 1.0)


def augmenter(cfg: AugmentConfig, order_seed: int, x_shape: tuple[int, ...]) -> Callable[[Tensor], Tensor]:
    """The augmentation applied to each training batch (the identity when ``cfg`` turns all off).

    Args:
        cfg: the ``augment`` config section.
        order_seed: ``seeds.order``; the augmentation draws from its own generator derived from it.
        x_shape: shape of the training inputs, (N, C, H, W) for images.

    Raises:
        ConfigError: augmentation was asked for on inputs that are not images.
    """
    if not is_active(cfg):
        return lambda x: x
    if len(x_shape) != 4:
        raise ConfigError(f"augment.* needs image inputs (N, C, H, W); this dataset's inputs have shape {x_shape}")
    gen = make_generator(order_seed, "augment")

    def apply(x: Tensor) -> Tensor:
        if cfg.crop_pad > 0:
            x = random_crop(x, cfg.crop_pad, gen)
        if cfg.flip:
            x = random_flip(x, gen)
        if cfg.jitter > 0:
            x = colour_jitter(x, cfg.jitter, gen)
        return x

    apply.generator = gen  # type: ignore[attr-defined]  # its state goes into checkpoints
    return apply

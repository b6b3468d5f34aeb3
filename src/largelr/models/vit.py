"""A small Vision Transformer: torchvision's VisionTransformer on a non-square patch grid, any input channels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vision_transformer import VisionTransformer

from largelr.errors import ConfigError
from largelr.models.base import MODELS


class ViT(VisionTransformer):
    """torchvision's VisionTransformer for (C, H, W) inputs with H != W allowed.

    torchvision asserts square inputs of ``image_size``. Here the input is zero-padded at the bottom and
    right to multiples of ``patch_size`` and cut into an ``(H/p) x (W/p)`` patch grid with one learned
    position embedding per patch (no padding to a square, so a 28x56 Double MNIST image is 7x14
    patches of 4 px, not 14x14). ``conv_proj`` takes ``in_channels``. ``features(x)`` is the class
    token after the encoder's final LayerNorm; ``classifier`` is ``heads.head``.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, patch_size: int, **kw) -> None:
        c, h, w = input_shape
        self.grid = (math.ceil(h / patch_size), math.ceil(w / patch_size))
        # built square on the grid's longer side, then the position embedding is cut to the grid
        super().__init__(max(self.grid) * patch_size, patch_size, num_classes=num_classes, **kw)
        hidden = kw["hidden_dim"]
        self.conv_proj = nn.Conv2d(c, hidden, patch_size, patch_size)
        fan_in = c * patch_size * patch_size  # torchvision's conv_proj initialisation
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        self.seq_length = self.grid[0] * self.grid[1] + 1
        self.encoder.pos_embedding = nn.Parameter(torch.empty(1, self.seq_length, hidden).normal_(std=0.02))

    def _process_input(self, x: Tensor) -> Tensor:
        p = self.patch_size
        x = F.pad(x, (0, self.grid[1] * p - x.shape[-1], 0, self.grid[0] * p - x.shape[-2]))
        return self.conv_proj(x).flatten(2).permute(0, 2, 1)  # (N, patches, hidden)

    @property
    def classifier(self) -> nn.Linear:
        return self.heads.head

    def features(self, x: Tensor) -> Tensor:
        x = self._process_input(x)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.encoder(x)[:, 0]

    def forward(self, x: Tensor) -> Tensor:
        return self.heads(self.features(x))


@MODELS.register("vit", tiny={"hidden_dim": 8, "heads": 2, "mlp_dim": 8, "depth": 2})
def vit(
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    patch_size: int = 4,
    depth: int = 4,
    heads: int = 4,
    hidden_dim: int = 128,
    mlp_dim: int = 256,
    dropout: float = 0.0,
) -> ViT:
    """Vision Transformer (Dosovitskiy et al. 2021, https://arxiv.org/abs/2010.11929;
    torchvision.models.VisionTransformer), sized for 28-64 px inputs.

    Args:
        patch_size: side of the square patches (4 px: 7x7 patches for 28x28 inputs).
        depth: encoder blocks.
        heads: attention heads (must divide ``hidden_dim``).
        hidden_dim: token width.
        mlp_dim: hidden units of each block's MLP.
        dropout: dropout in the encoder (train mode only).

    >>> vit(input_shape=(1, 28, 56), num_classes=10, hidden_dim=16, heads=2).seq_length
    99
    """
    if len(input_shape) != 3:
        raise ConfigError(f"model 'vit' needs image inputs (C, H, W), got input shape {tuple(input_shape)}")
    if min(patch_size, depth, heads, hidden_dim, mlp_dim) < 1 or hidden_dim % heads:
        raise ConfigError(
            "model.kwargs patch_size, depth, heads, hidden_dim, mlp_dim must be >= 1 and heads must divide "
            f"hidden_dim, got patch_size={patch_size}, depth={depth}, heads={heads}, hidden_dim={hidden_dim}"
        )
    if not 0 <= dropout < 1:
        raise ConfigError(f"model.kwargs.dropout must be in [0, 1), got {dropout}")
    return ViT(
        tuple(input_shape), num_classes, patch_size, num_layers=depth, num_heads=heads, hidden_dim=hidden_dim,
        mlp_dim=mlp_dim, dropout=dropout,
    )  # fmt: skip

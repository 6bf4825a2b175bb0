"""Small building blocks shared by the generator and the discriminators (MONAI layers)."""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import Tensor, nn

TINY_MAP = 2  # voxels: maps this small along any spatial axis skip autocast (see AutocastSafeConvolution)


class AutocastSafeConvolution(Convolution):
    """MONAI's ``Convolution`` (conv → norm → dropout → activation), except that maps of at most
    :data:`TINY_MAP` voxels along an axis (the deepest levels of a U-Net, a PatchGAN's head on 16³
    patches) run in fp32 even under autocast: the CPU (oneDNN) bf16 weight gradient of a 3×3×3
    convolution on 2³ maps is nondeterministic in torch 2.13 and now and then non-finite, which turned
    whole training runs into NaN. Such maps cost nothing in fp32. Every convolution of mumap's networks is one.
    """

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[2:]) <= TINY_MAP and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def conv_bn_relu(in_channels: int, out_channels: int, dropout: float | None = None) -> AutocastSafeConvolution:
    """3×3×3 conv → batch norm → (dropout) → ReLU, same size: ``[B, C_in, D, H, W] → [B, C_out, D, H, W]``."""
    return AutocastSafeConvolution(3, in_channels, out_channels, kernel_size=3, act="RELU", norm="BATCH",
                                   dropout=dropout, adn_ordering="NDA")


def double_conv(in_channels: int, out_channels: int, dropout: float | None = None) -> nn.Sequential:
    """Two :func:`conv_bn_relu` in a row, the unit of every U-Net and discriminator level."""
    return nn.Sequential(conv_bn_relu(in_channels, out_channels, dropout),
                         conv_bn_relu(out_channels, out_channels, dropout))


def level_features(filters: int, depth: int, width: float = 1.0) -> list[int]:
    """Filters per level, doubling from ``filters`` × ``width`` (at least 1) over ``depth`` levels: how the
    configs size the paper's networks (unet4: 64 × 4 levels, unet5: 32 × 5) and shrink them for a CPU."""
    if depth < 1 or filters < 1 or width <= 0:
        raise ValueError(f"need depth ≥ 1, filters ≥ 1, width > 0; got {depth}, {filters}, {width}")
    base = max(1, round(filters * width))
    return [base * 2**level for level in range(depth)]

"""Small building blocks shared by the generator and the discriminators (MONAI layers)."""

from __future__ import annotations

from monai.networks.blocks import Convolution
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, dropout: float | None = None) -> Convolution:
    """3×3×3 conv → batch norm → (dropout) → ReLU, same size: ``[B, C_in, D, H, W] → [B, C_out, D, H, W]``."""
    return Convolution(3, in_channels, out_channels, kernel_size=3, act="RELU", norm="BATCH", dropout=dropout,
                       adn_ordering="NDA")


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

"""The generator: a 3D U-Net (Ronneberger et al.; Shi et al. 2020 as in the paper) built from MONAI blocks.

Each level is two 3×3×3 conv–batch-norm–ReLU units; the encoder halves the size with max pooling, the
decoder doubles it with a transposed convolution and concatenates the skip connection; dropout 0.15
only in the bottleneck. Sized like the configs size it (``conf/model``): ``depth`` levels, ``filters`` in
the first, doubling per level, all scaled by ``width`` — unet4 (the paper's best: 4 levels, 64→512 filters)
and unet5 (5 levels, 32→512).
"""

from __future__ import annotations

import torch
from monai.networks.blocks import UpSample
from torch import Tensor, nn

from mumap.models.blocks import AutocastSafeConvolution, double_conv, level_features


class UNet3D(nn.Module):
    """``[B, in_channels, D, H, W] → [B, out_channels, D, H, W]``; D, H, W divisible by 2^(depth−1).
    Filters per level: :func:`~mumap.models.blocks.level_features` of ``filters``, ``depth``, ``width``."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, depth: int = 4, filters: int = 64,
                 width: float = 1.0, bottleneck_dropout: float = 0.15):
        super().__init__()
        if depth < 2:
            raise ValueError(f"a U-Net needs at least 2 levels, got depth={depth}")
        features = level_features(filters, depth, width)
        self.features = tuple(features)
        self.encoders = nn.ModuleList()
        channels = in_channels
        for f in features[:-1]:
            self.encoders.append(double_conv(channels, f))
            channels = f
        self.pool = nn.MaxPool3d(2)
        self.bottleneck = double_conv(channels, features[-1], dropout=bottleneck_dropout)
        self.upsamplers, self.decoders = nn.ModuleList(), nn.ModuleList()
        channels = features[-1]
        for f in reversed(features[:-1]):
            self.upsamplers.append(UpSample(3, channels, f, scale_factor=2, mode="deconv"))
            self.decoders.append(double_conv(2 * f, f))
            channels = f
        self.head = AutocastSafeConvolution(3, channels, out_channels, kernel_size=1, conv_only=True)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2 ** (len(self.features) - 1)

    def forward(self, x: Tensor) -> Tensor:
        if any(s % self.divisor for s in x.shape[2:]):
            raise ValueError(f"U-Net input size {tuple(x.shape[2:])} is not divisible by {self.divisor}")
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips), strict=True):
            x = decoder(torch.cat([upsample(x), skip], dim=1))
        return self.head(x)

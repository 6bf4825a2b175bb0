"""Conditional discriminators: they judge a (SPECT image, μ-map) pair, concatenated as channels.

``ClassifierDiscriminator``: conv levels with max pooling, then fully connected layers down to one
score per pair (the paper's best: 3 levels 64/128/256, FC 512 → 128 → 1). ``PatchGANDiscriminator``
(Isola et al. 2017): strided conv levels ending in a 1-channel map, one score per overlapping patch.
Both output raw scores for the least-squares GAN losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mumap.models.blocks import AutocastSafeConvolution, double_conv, level_features


class ClassifierDiscriminator(nn.Module):
    """``([B, C, *patch], [B, 1, *patch]) → [B, 1]``; ``patch_size`` fixes the fully connected input. Conv
    filters per level: :func:`~mumap.models.blocks.level_features` of ``filters``, ``depth``, ``width``; the
    fully connected layers' units are scaled by ``width`` too (at least 1)."""

    def __init__(self, patch_size: Sequence[int], in_channels: int = 1, depth: int = 3, filters: int = 64,
                 width: float = 1.0, fully_connected: Sequence[int] = (512, 128)):
        super().__init__()
        features = level_features(filters, depth, width)
        fully_connected = [max(1, round(units * width)) for units in fully_connected]
        levels, channels = [], in_channels + 1
        for f in features:
            levels += [double_conv(channels, f), nn.MaxPool3d(2)]
            channels = f
        self.features = nn.Sequential(*levels)
        reduced = [s // 2 ** len(features) for s in patch_size]
        if min(reduced) < 1:
            raise ValueError(f"patch {list(patch_size)} is too small for {len(features)} pooling levels")
        layers, width = [nn.Flatten()], channels * int(torch.tensor(reduced).prod())
        for units in fully_connected:
            layers += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
            width = units
        layers.append(nn.Linear(width, 1))
        self.classifier = nn.Sequential(*layers)

    def forward(self, spect: Tensor, mu: Tensor) -> Tensor:
        return self.classifier(self.features(torch.cat([spect, mu], dim=1)))


class PatchGANDiscriminator(nn.Module):
    """``([B, C, D, H, W], [B, 1, D, H, W]) → [B, 1, D', H', W']`` patch scores (strided 4³ convolutions);
    filters per level: :func:`~mumap.models.blocks.level_features` of ``filters``, ``depth``, ``width``."""

    def __init__(self, in_channels: int = 1, depth: int = 3, filters: int = 64, width: float = 1.0):
        super().__init__()
        features = level_features(filters, depth, width)
        layers, channels = [], in_channels + 1
        for i, f in enumerate(features):
            layers.append(AutocastSafeConvolution(3, channels, f, strides=2, kernel_size=4, padding=1,
                                      act=("LEAKYRELU", {"negative_slope": 0.2}), norm=None if i == 0 else "BATCH"))
            channels = f
        layers.append(AutocastSafeConvolution(3, channels, 1, kernel_size=3, conv_only=True, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, spect: Tensor, mu: Tensor) -> Tensor:
        return self.net(torch.cat([spect, mu], dim=1))

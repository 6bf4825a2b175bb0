"""The U-Net generator: shapes, the paper's sizes, batch norm everywhere, dropout only in the bottleneck."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mumap.models.generator import UNet3D


def test_unet_keeps_the_shape_and_has_the_papers_levels():
    net = UNet3D(in_channels=2, depth=3, filters=8).eval()
    x = torch.rand(2, 2, 16, 24, 32)
    assert net(x).shape == (2, 1, 16, 24, 32)
    unet4, unet5 = UNet3D(depth=4, filters=64), UNet3D(depth=5, filters=32)
    assert unet4.features == (64, 128, 256, 512) and unet5.features == (32, 64, 128, 256, 512)
    assert unet4.divisor == 8 and unet5.divisor == 16
    assert UNet3D(depth=4, filters=64, width=0.25).features == (16, 32, 64, 128)
    with pytest.raises(ValueError, match="not divisible by 4"):
        net(torch.rand(1, 2, 10, 16, 16))


def test_unet_has_batch_norm_everywhere_and_dropout_only_in_the_bottleneck():
    net = UNet3D(depth=4, filters=64)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv3d)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
    assert len(norms) == len(convs) - 1  # every 3×3×3 conv, not the 1×1×1 head
    dropouts = [name for name, m in net.named_modules() if isinstance(m, nn.Dropout3d | nn.Dropout)]
    assert dropouts and all(name.startswith("bottleneck") for name in dropouts)
    assert all(m.p == pytest.approx(0.15) for m in net.modules() if isinstance(m, nn.Dropout3d | nn.Dropout))

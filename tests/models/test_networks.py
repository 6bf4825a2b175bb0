"""Generator and discriminators: shapes, the paper's sizes, dropout only in the bottleneck, gradients flow."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mumap.models.blocks import double_conv, level_features
from mumap.models.discriminators import ClassifierDiscriminator, PatchGANDiscriminator
from mumap.models.generator import UNet3D


def test_unet_keeps_the_shape_and_has_the_papers_levels():
    net = UNet3D(in_channels=2, features=(8, 16, 32)).eval()
    x = torch.rand(2, 2, 16, 24, 32)
    assert net(x).shape == (2, 1, 16, 24, 32)
    assert UNet3D.unet4().features == (64, 128, 256, 512) and UNet3D.unet5().features == (32, 64, 128, 256, 512)
    assert UNet3D.unet4().divisor == 8 and UNet3D.unet5().divisor == 16
    with pytest.raises(ValueError, match="not divisible by 4"):
        net(torch.rand(1, 2, 10, 16, 16))


def test_unet_has_batch_norm_everywhere_and_dropout_only_in_the_bottleneck():
    net = UNet3D.unet4()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv3d)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
    assert len(norms) == len(convs) - 1  # every 3×3×3 conv, not the 1×1×1 head
    dropouts = [name for name, m in net.named_modules() if isinstance(m, nn.Dropout3d | nn.Dropout)]
    assert dropouts and all(name.startswith("bottleneck") for name in dropouts)
    assert all(m.p == pytest.approx(0.15) for m in net.modules() if isinstance(m, nn.Dropout3d | nn.Dropout))


def test_classifier_scores_one_value_per_pair_and_learns():
    d = ClassifierDiscriminator((16, 16, 16), in_channels=1, features=(8, 16, 32), fully_connected=(32, 16))
    spect, mu = torch.rand(3, 1, 16, 16, 16), torch.rand(3, 1, 16, 16, 16)
    scores = d(spect, mu)
    assert scores.shape == (3, 1)
    scores.sum().backward()
    assert all(p.grad is not None for p in d.parameters())
    paper = ClassifierDiscriminator((64, 64, 64))
    linears = [m for m in paper.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [512, 128, 1]
    assert linears[0].in_features == 256 * 8**3
    with pytest.raises(ValueError, match="too small"):
        ClassifierDiscriminator((4, 4, 4))


def test_patchgan_scores_overlapping_patches():
    d = PatchGANDiscriminator(in_channels=2, features=(8, 16, 32))
    scores = d(torch.rand(2, 2, 32, 32, 32), torch.rand(2, 1, 32, 32, 32))
    assert scores.shape == (2, 1, 4, 4, 4)


def test_level_features_double_per_level_and_scale_with_width():

    assert level_features(64, 4) == [64, 128, 256, 512] and level_features(32, 5, 0.25) == [8, 16, 32, 64, 128]
    assert level_features(64, 2, 0.0625) == [4, 8] and level_features(3, 2, 0.1) == [1, 2]
    with pytest.raises(ValueError, match="depth"):
        level_features(64, 0)


@pytest.mark.parametrize("network", ["double_conv", "patchgan"])
def test_tiny_maps_train_reproducibly_under_bf16_autocast(network):
    """2³ maps (deepest U-Net level, a PatchGAN's head on 16³ patches): bf16 weight gradients on CPU were
    nondeterministic and sometimes NaN; these convolutions run in fp32, so repeated backward passes agree."""
    torch.manual_seed(0)
    if network == "double_conv":
        unit, inputs = double_conv(64, 128), (torch.randn(16, 64, 2, 2, 2),)
    else:
        unit = PatchGANDiscriminator(1, (16, 32, 64))
        inputs = (torch.randn(16, 1, 16, 16, 16), torch.rand(16, 1, 16, 16, 16))
    grads = []
    for _ in range(6):
        unit.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = unit(*inputs)
        assert y.dtype == torch.float32
        (y**2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in unit.parameters()]))
    assert all(torch.isfinite(g).all() and torch.equal(g, grads[0]) for g in grads)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert double_conv(64, 128)(torch.randn(2, 64, 4, 4, 4)).dtype == torch.bfloat16  # larger maps keep autocast

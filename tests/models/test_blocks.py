"""Building blocks: filters per level, and the convolutions of tiny maps kept in fp32 under bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from mumap.models.blocks import double_conv, level_features
from mumap.models.discriminators import PatchGANDiscriminator


def test_level_features_double_per_level_and_scale_with_width():
    assert level_features(64, 4) == [64, 128, 256, 512] and level_features(32, 5, 0.25) == [8, 16, 32, 64, 128]
    assert level_features(64, 2, 0.0625) == [4, 8] and level_features(3, 2, 0.1) == [1, 2]
    with pytest.raises(ValueError, match="depth"):
        level_features(64, 0)


@pytest.mark.slow
@pytest.mark.parametrize("network", ["double_conv", "patchgan"])
def test_tiny_maps_train_reproducibly_under_bf16_autocast(network):
    """2³ maps (deepest U-Net level, a PatchGAN's head on 16³ patches): bf16 weight gradients on CPU were
    nondeterministic and sometimes NaN; these convolutions run in fp32, so repeated backward passes agree."""
    torch.manual_seed(0)
    if network == "double_conv":
        unit, inputs = double_conv(64, 128), (torch.randn(16, 64, 2, 2, 2),)
    else:
        unit = PatchGANDiscriminator(1, depth=3, filters=16)
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

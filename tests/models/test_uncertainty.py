"""Monte Carlo dropout: the spread of a dropout layer's output against its analytic value, reproducibility,
and the generator left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mumap.models.generator import UNet3D
from mumap.models.uncertainty import dropout_active, mc_dropout_std, normalised_uncertainty


def _dropout_only(p: float) -> nn.Module:
    """Identity (a 1×1×1 convolution of weight 1) followed by element-wise dropout of rate ``p``."""
    conv = nn.Conv3d(1, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    return nn.Sequential(conv, nn.Dropout(p)).eval()


def test_the_spread_of_dropout_matches_its_analytic_value():
    # dropout keeps a value v with probability 1 − p, scaled to v / (1 − p): std v·√(p / (1 − p))
    p, shape = 0.2, (8, 8, 8)
    image = torch.full((1, *shape), 5.0)  # "mean" normalisation turns it into ones
    std = mc_dropout_std(_dropout_only(p), image, ["nac"], "mean", shape, passes=400)
    assert std.shape == shape
    assert float(std.mean()) == pytest.approx(np.sqrt(p / (1 - p)), rel=0.03)


def test_passes_are_reproducible_and_leave_the_generator_and_the_random_state_alone():
    torch.manual_seed(0)
    generator = UNet3D(1, 1, depth=2, filters=4, bottleneck_dropout=0.15).eval()
    image = torch.rand(1, 8, 8, 8) + 0.5
    state = torch.get_rng_state()
    first = mc_dropout_std(generator, image, ["nac"], "mean", (8, 8, 8), passes=4, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, mc_dropout_std(generator, image, ["nac"], "mean", (8, 8, 8), passes=4, seed=1))
    assert not torch.equal(first, mc_dropout_std(generator, image, ["nac"], "mean", (8, 8, 8), passes=4, seed=2))
    assert float(first.max()) > 0
    assert not any(module.training for module in generator.modules())  # batch norm and dropout back in eval


def test_a_generator_without_dropout_or_too_few_passes_is_refused():
    generator = UNet3D(1, 1, depth=2, filters=4, bottleneck_dropout=0.0).eval()
    with pytest.raises(ValueError, match="no dropout"), dropout_active(generator):
        pass
    with pytest.raises(ValueError, match="at least 2 passes"):
        mc_dropout_std(_dropout_only(0.2), torch.ones(1, 4, 4, 4), ["nac"], "mean", (4, 4, 4), passes=1)


def test_normalised_uncertainty_is_on_the_scale_of_nmae():
    mu = np.zeros((4, 4, 4), np.float32)
    mu[1:3, 1:3, 1:3] = 0.2
    assert normalised_uncertainty(np.full_like(mu, 0.01), mu) == pytest.approx(0.05)

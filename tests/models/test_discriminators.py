"""Discriminators: the classifier scores one value per (SPECT, μ) pair at the paper's sizes, PatchGAN a map."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mumap.models.discriminators import ClassifierDiscriminator, PatchGANDiscriminator


def test_classifier_scores_one_value_per_pair_and_learns():
    d = ClassifierDiscriminator((16, 16, 16), in_channels=1, depth=3, filters=8, fully_connected=(32, 16))
    spect, mu = torch.rand(3, 1, 16, 16, 16), torch.rand(3, 1, 16, 16, 16)
    scores = d(spect, mu)
    assert scores.shape == (3, 1)
    scores.sum().backward()
    assert all(p.grad is not None for p in d.parameters())
    paper = ClassifierDiscriminator((64, 64, 64))
    linears = [m for m in paper.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [512, 128, 1]
    assert linears[0].in_features == 256 * 8**3
    quarter = ClassifierDiscriminator((32, 32, 32), width=0.25)
    assert [m.out_features for m in quarter.modules() if isinstance(m, nn.Linear)] == [128, 32, 1]
    assert [m.out_channels for m in quarter.modules() if isinstance(m, nn.Conv3d)] == [16, 16, 32, 32, 64, 64]
    with pytest.raises(ValueError, match="too small"):
        ClassifierDiscriminator((4, 4, 4))


def test_patchgan_scores_overlapping_patches():
    d = PatchGANDiscriminator(in_channels=2, depth=3, filters=8)
    scores = d(torch.rand(2, 2, 32, 32, 32), torch.rand(2, 1, 32, 32, 32))
    assert scores.shape == (2, 1, 4, 4, 4)

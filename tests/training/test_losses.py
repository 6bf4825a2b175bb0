"""The paper's loss equations, checked on values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from mumap.training.losses import (
    adversarial_loss,
    discriminator_loss,
    distance_loss,
    gradient_difference,
    l1,
    l2_gdl,
)


def test_lsgan_losses_follow_the_equations():
    real, fake = torch.tensor([[1.0], [0.0]]), torch.tensor([[0.0], [1.0]])
    # L_D = 0.5 mean((real − 1)²) + 0.5 mean(fake²) = 0.5·0.5 + 0.5·0.5
    assert float(discriminator_loss(real, fake)) == pytest.approx(0.5)
    assert float(discriminator_loss(torch.ones(4, 1), torch.zeros(4, 1))) == 0.0
    assert float(adversarial_loss(torch.ones(4, 1))) == 0.0
    assert float(adversarial_loss(torch.zeros(4, 1))) == pytest.approx(0.5)


def test_distance_losses():
    target = torch.zeros(1, 1, 4, 4, 4)
    prediction = torch.full_like(target, 0.5)
    assert float(l1(prediction, target)) == pytest.approx(0.5)
    assert float(gradient_difference(prediction, target)) == 0.0  # constant offset: same gradients
    assert float(l2_gdl(prediction, target)) == pytest.approx(0.25)
    edge = target.clone()
    edge[..., 2:] = 1.0  # a step along x that the flat prediction misses
    assert float(gradient_difference(target, edge)) == pytest.approx((1 / 3) / 3)  # 1 step in 3 x-differences
    assert distance_loss("l1") is l1 and distance_loss("l2_gdl") is l2_gdl
    with pytest.raises(ValueError, match="unknown distance loss"):
        distance_loss("l3")

"""The paper's loss equations, checked on values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from mumap.training.losses import L1Loss, L2GradientDifferenceLoss, LeastSquaresGANLoss, gradient_difference


def test_lsgan_losses_follow_the_equations():
    lsgan = LeastSquaresGANLoss()
    real, fake = torch.tensor([[1.0], [0.0]]), torch.tensor([[0.0], [1.0]])
    # L_D = 0.5 mean((real − 1)²) + 0.5 mean(fake²) = 0.5·0.5 + 0.5·0.5
    assert float(lsgan.discriminator_loss(real, fake)) == pytest.approx(0.5)
    assert float(lsgan.discriminator_loss(torch.ones(4, 1), torch.zeros(4, 1))) == 0.0
    assert float(lsgan.generator_loss(torch.ones(4, 1))) == 0.0
    assert float(lsgan.generator_loss(torch.zeros(4, 1))) == pytest.approx(0.5)


def test_distance_losses():
    target = torch.zeros(1, 1, 4, 4, 4)
    prediction = torch.full_like(target, 0.5)
    assert float(L1Loss()(prediction, target)) == pytest.approx(0.5)
    assert float(gradient_difference(prediction, target)) == 0.0  # constant offset: same gradients
    assert float(L2GradientDifferenceLoss()(prediction, target)) == pytest.approx(0.25)
    edge = target.clone()
    edge[..., 2:] = 1.0  # a step along x that the flat prediction misses
    assert float(gradient_difference(target, edge)) == pytest.approx((1 / 3) / 3)  # 1 step in 3 x-differences
    # L2 + GDL of the flat prediction against the step: mse 0.5 plus the missed step
    assert float(L2GradientDifferenceLoss()(target, edge)) == pytest.approx(0.5 + 1 / 9)

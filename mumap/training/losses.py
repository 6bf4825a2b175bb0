"""Losses of the paper, as modules a config names by ``_target_`` (``conf/loss``, ``conf/training``).

    L_D = 0.5 (D(X, Y) − 1)² + 0.5 (D(X, G(X)) − 0)²        (discriminator)
    L_G = λ_adv · 0.5 (D(X, G(X)) − 1)² + λ_dist · L_dist    (generator: fool D, stay close to Y)

Scores are averaged over the batch (and over patches for a PatchGAN). L_dist is :class:`L1Loss` (mean
absolute error) or :class:`L2GradientDifferenceLoss` (mean squared error + the gradient difference loss of
Mathieu et al. 2016, which keeps edges sharp); any module ``(prediction, target) → scalar`` will do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class L1Loss(nn.Module):
    """Mean absolute error of ``[B, C, D, H, W]`` tensors."""

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return (prediction - target).abs().mean()


def gradient_difference(prediction: Tensor, target: Tensor, alpha: float = 1.0) -> Tensor:
    """GDL: mean over the three spatial axes of | |∂target| − |∂prediction| |^α (``[B, C, D, H, W]``)."""
    total = prediction.new_zeros(())
    for axis in (2, 3, 4):
        grad_t = target.diff(dim=axis).abs()
        grad_p = prediction.diff(dim=axis).abs()
        total = total + ((grad_t - grad_p).abs() ** alpha).mean()
    return total / 3


class L2GradientDifferenceLoss(nn.Module):
    """Mean squared error plus the gradient difference loss (equal weights), ``[B, C, D, H, W]``."""

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return torch.nn.functional.mse_loss(prediction, target) + gradient_difference(prediction, target)


class LeastSquaresGANLoss(nn.Module):
    """The least-squares GAN (LSGAN, Mao et al. 2017) terms of the paper, on raw discriminator scores."""

    def discriminator_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        """Real pairs towards 1, generated pairs towards 0."""
        return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()

    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        """Generated pairs towards 1 (the inverted discriminator target)."""
        return 0.5 * ((fake_scores - 1) ** 2).mean()

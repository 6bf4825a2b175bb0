"""Losses of the paper: least-squares GAN (LSGAN) terms and the distance losses L1 and L2 + GDL.

    L_D = 0.5 (D(X, Y) − 1)² + 0.5 (D(X, G(X)) − 0)²        (discriminator)
    L_G = λ_adv · 0.5 (D(X, G(X)) − 1)² + λ_dist · L_dist    (generator: fool D, stay close to Y)

Scores are averaged over the batch (and over patches for a PatchGAN). L_dist is ``l1`` (mean
absolute error) or ``l2_gdl`` (mean squared error + the gradient difference loss of Mathieu et al.
2016, which keeps edges sharp).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """LSGAN discriminator loss: real pairs towards 1, generated pairs towards 0."""
    return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def adversarial_loss(fake_scores: Tensor) -> Tensor:
    """LSGAN generator term: generated pairs towards 1 (the inverted discriminator target)."""
    return 0.5 * ((fake_scores - 1) ** 2).mean()


def l1(prediction: Tensor, target: Tensor) -> Tensor:
    return (prediction - target).abs().mean()


def gradient_difference(prediction: Tensor, target: Tensor, alpha: float = 1.0) -> Tensor:
    """GDL: mean over the three spatial axes of | |∂target| − |∂prediction| |^α (``[B, C, D, H, W]``)."""
    total = prediction.new_zeros(())
    for axis in (2, 3, 4):
        grad_t = target.diff(dim=axis).abs()
        grad_p = prediction.diff(dim=axis).abs()
        total = total + ((grad_t - grad_p).abs() ** alpha).mean()
    return total / 3


def l2_gdl(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error plus the gradient difference loss (equal weights)."""
    return torch.nn.functional.mse_loss(prediction, target) + gradient_difference(prediction, target)


DISTANCE_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"l1": l1, "l2_gdl": l2_gdl}


def distance_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The distance loss called ``name`` (``l1`` or ``l2_gdl``)."""
    if name not in DISTANCE_LOSSES:
        raise ValueError(f"unknown distance loss {name!r}: choose one of {', '.join(DISTANCE_LOSSES)}")
    return DISTANCE_LOSSES[name]

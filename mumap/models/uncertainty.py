"""What a trained generator can say about its own limits: a per-voxel uncertainty by Monte Carlo dropout
(Gal & Ghahramani, ICML 2016).

The U-Net's bottleneck dropout, which it was trained with, stays on at inference and the μ-map is predicted
``passes`` times; the per-voxel standard deviation over the passes (cm⁻¹) approximates the model's own
(epistemic) uncertainty. Batch normalisation stays in eval mode (its running statistics). Chosen over
test-time flips: a mirrored thorax puts the heart and the liver on the wrong side, anatomy the network never
saw, so the spread of flipped predictions measures the mirror rather than the model, while the dropout masks are
the very perturbations training drew from. How far an input lies outside the training cohort is the other
half of knowing the limits: :mod:`mumap.evaluation.ood`.

Written here because MONAI offers no Monte Carlo dropout over its sliding-window inference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from mumap.models.prediction import predict_mu_map

MC_PASSES = 8  # dropout passes per study: the std's relative error is ≈ 1/√(2·passes) = 25 %


def dropout_layers(generator: nn.Module) -> list[nn.Module]:
    """The generator's dropout layers with a non-zero rate."""
    return [m for m in generator.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


@contextmanager
def dropout_active(generator: nn.Module) -> Iterator[None]:
    """Dropout layers in training mode (everything else as it was) inside the block; restored after."""
    layers = dropout_layers(generator)
    if not layers:
        raise ValueError("this generator has no dropout (bottleneck_dropout 0): Monte Carlo dropout needs it")
    modes = [layer.training for layer in layers]
    try:
        for layer in layers:
            layer.train()
        yield
    finally:
        for layer, mode in zip(layers, modes, strict=True):
            layer.train(mode)


@torch.no_grad()
def mc_dropout_std(generator: nn.Module, image: Tensor, inputs: Sequence[str], normalization: str,
                   patch_size: Sequence[int], passes: int = MC_PASSES, seed: int = 0) -> Tensor:
    """Per-voxel standard deviation ``[z, y, x]`` (cm⁻¹) of ``passes`` μ-map predictions of ``image [C, z, y, x]``
    (counts) with dropout on; reproducible for a ``seed``, and the caller's random state is left as it was."""
    if passes < 2:
        raise ValueError(f"Monte Carlo dropout needs at least 2 passes, got {passes}")
    device = next(generator.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), dropout_active(generator):
        torch.manual_seed(seed)
        predictions = torch.stack([predict_mu_map(generator, image, inputs, normalization, patch_size)
                                   for _ in range(passes)])
    return predictions.std(dim=0)


def normalised_uncertainty(std: np.ndarray, mu: np.ndarray) -> float:
    """A study's uncertainty on the scale of its NMAE (:func:`mumap.training.metrics.nmae`): the mean of the
    per-voxel standard deviation over the whole volume, divided by the predicted μ-map's value range."""
    value_range = float(mu.max() - mu.min())
    return float(std.mean()) / value_range if value_range > 0 else float("nan")

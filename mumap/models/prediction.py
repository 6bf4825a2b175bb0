"""Applying a trained generator to whole images: the one way a μ-map is predicted — by the training modules'
validation and test, the evaluation report and ``mumap predict`` — here, below the training layer, so that
prediction needs neither Lightning nor a training config."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.inferers import sliding_window_inference
from torch import Tensor, nn

from mumap.data.normalization import normalize_channels


def predict_volume(generator: nn.Module, x: Tensor, patch_size: Sequence[int]) -> Tensor:
    """Whole-volume prediction ``[B, C, z, y, x] → [B, 1, z, y, x]`` (μ, cm⁻¹) from normalised inputs, by
    Gaussian-weighted overlapping patches of ``patch_size`` (MONAI zero-pads volumes smaller than a patch)."""
    return sliding_window_inference(x, tuple(patch_size), sw_batch_size=4, predictor=generator, overlap=0.25,
                                    mode="gaussian").float()


@torch.no_grad()
def predict_mu_map(generator: nn.Module, image: Tensor, inputs: Sequence[str], normalization: str,
                   patch_size: Sequence[int]) -> Tensor:
    """μ-map ``[z, y, x]`` (cm⁻¹, no bed) of one raw image ``[C, z, y, x]`` (counts; one channel per kind in
    ``inputs``), normalised per image with ``normalization`` as in training, on the generator's device. The
    one way a trained generator is applied: by the modules, the evaluation report and ``mumap predict``."""
    if image.shape[0] != len(inputs):
        raise ValueError(f"this model takes {len(inputs)} channels {list(inputs)}, got {image.shape[0]}")
    device = next(generator.parameters()).device
    x = normalize_channels(image.float(), normalization)[None].to(device)
    return predict_volume(generator, x, patch_size)[0, 0]

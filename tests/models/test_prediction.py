"""Applying a generator to whole images: overlapping patches give back what a patch-wise exact network gives
on the whole volume, a raw image is normalised as in training, and the channel count is checked."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mumap.models.prediction import predict_mu_map, predict_volume


def _linear(weights: list[float], bias: float = 0.0) -> nn.Module:
    """A 1×1×1 convolution: output = Σ weights[c] · channel c + bias, voxel by voxel (exact on any patch)."""
    conv = nn.Conv3d(len(weights), 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights).view(1, -1, 1, 1, 1))
        conv.bias.fill_(bias)
    return conv.eval()


@pytest.mark.parametrize("shape", [(12, 20, 17), (5, 6, 7)], ids=["larger than a patch", "smaller than a patch"])
def test_overlapping_patches_give_the_voxelwise_network_s_output(shape):
    # the Gaussian-weighted blend of overlapping patches of a voxel-wise map is that map, at the edges too,
    # and a volume smaller than a patch is padded and cropped back
    x = torch.rand(1, 2, *shape)
    with torch.no_grad():
        predicted = predict_volume(_linear([2.0, -1.0], 0.5), x, (8, 8, 8))
    assert predicted.shape == (1, 1, *shape)
    torch.testing.assert_close(predicted, 2.0 * x[:, :1] - x[:, 1:] + 0.5)


def test_a_raw_image_is_normalised_per_channel_as_in_training():
    # "mean" divides each channel by its own mean: channel 0 has mean 4, channel 1 mean 0.5
    image = torch.stack([torch.full((10, 10, 10), 4.0), torch.full((10, 10, 10), 0.5)])
    image[0, :5] = 2.0
    image[0, 5:] = 6.0
    mu = predict_mu_map(_linear([1.0, 10.0]), image, ["nac", "sc"], "mean", (8, 8, 8))
    assert mu.shape == (10, 10, 10)
    torch.testing.assert_close(mu[:5], torch.full((5, 10, 10), 0.5 + 10.0))
    torch.testing.assert_close(mu[5:], torch.full((5, 10, 10), 1.5 + 10.0))


def test_the_channel_count_must_match_the_model_s_inputs():
    with pytest.raises(ValueError, match=r"this model takes 1 channels \['nac'\], got 2"):
        predict_mu_map(_linear([1.0]), torch.ones(2, 8, 8, 8), ["nac"], "mean", (8, 8, 8))

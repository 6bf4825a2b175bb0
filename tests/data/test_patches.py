"""Padding, aligned random patches and the two normalisations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mumap.data.normalization import normalize, normalize_channels
from mumap.data.patches import pad_to, random_patches


def test_pad_to_32_slices_keeps_the_volume_centred():
    volume = np.ones((1, 23, 40, 40), np.float32)
    padded = pad_to(volume, (32, 32, 32))
    assert padded.shape == (1, 32, 40, 40)
    assert padded[0, :4].sum() == 0 and padded[0, 4:27].min() == 1 and padded[0, 27:].sum() == 0
    assert pad_to(volume, (16, 16, 16)) is volume


def test_patches_are_aligned_across_volumes_and_inside_the_padded_image():
    rng = np.random.default_rng(0)
    z, y, x = np.meshgrid(np.arange(23), np.arange(40), np.arange(48), indexing="ij")
    code = (z * 10000 + y * 100 + x)[None].astype(np.float64) + 1
    patches = random_patches([code, 2 * code], (32, 32, 32), 20, rng)
    assert len(patches) == 20
    for spect, mu in patches:
        assert spect.shape == mu.shape == (1, 32, 32, 32)
        np.testing.assert_array_equal(mu, 2 * spect)
        assert (spect > 0).any()
    starts = {int(p[0][0, 16, 0, 0] % 10000 // 100) for p in patches if p[0][0, 16, 0, 0] > 0}
    assert len(starts) > 3  # positions vary
    with pytest.raises(ValueError, match="share their spatial shape"):
        random_patches([code, code[:, :10]], (8, 8, 8), 1, rng)


def test_mean_and_gaussian_normalisation():
    image = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert float(normalize(image, "mean").mean()) == pytest.approx(1.0)
    g = normalize(image, "gaussian")
    assert float(g.mean()) == pytest.approx(0.0, abs=1e-6) and float(g.std()) == pytest.approx(1.0)
    two = normalize_channels(torch.stack([image, 10 * image]), "mean")
    torch.testing.assert_close(two[0], two[1])
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize(image, "minmax")

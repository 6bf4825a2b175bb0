"""Per-image input normalisation on known arrays: ``mean`` divides by the mean, ``gaussian`` standardises with
the sample (n − 1) standard deviation; each channel on its own."""

from __future__ import annotations

import math

import pytest
import torch

from mumap.data.normalization import normalize, normalize_channels


def test_mean_divides_by_the_image_mean():
    image = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # mean 3
    torch.testing.assert_close(normalize(image, "mean"), torch.tensor([[1 / 3, 2 / 3], [1.0, 2.0]]))


def test_gaussian_subtracts_the_mean_and_divides_by_the_sample_standard_deviation():
    image = torch.tensor([1.0, 2.0, 3.0, 6.0])  # mean 3, Σ(x − 3)² = 14, sample std √(14 / 3)
    expected = torch.tensor([-2.0, -1.0, 0.0, 3.0]) / math.sqrt(14 / 3)
    torch.testing.assert_close(normalize(image, "gaussian"), expected)
    normalized = normalize(10 * image + 7, "gaussian")  # invariant to scale and offset
    torch.testing.assert_close(normalized, expected)
    assert float(normalized.mean()) == pytest.approx(0.0, abs=1e-6) and float(normalized.std()) == pytest.approx(1.0)


def test_degenerate_images_are_left_finite():
    zeros, constant = torch.zeros(2, 3), torch.full((2, 3), 4.0)
    assert torch.equal(normalize(zeros, "mean"), zeros)  # mean 0: not divided
    assert torch.equal(normalize(constant, "gaussian"), torch.zeros(2, 3))  # std 0: only centred
    assert torch.equal(normalize(torch.tensor([-1.0, 1.0]), "mean"), torch.tensor([-1.0, 1.0]))  # mean ≤ 0


def test_each_channel_is_normalised_with_its_own_statistics():
    image = torch.stack([torch.tensor([[[1.0, 3.0]]]), torch.tensor([[[10.0, 50.0]]])])  # [C, z, y, x]
    torch.testing.assert_close(normalize_channels(image, "mean"), torch.tensor([[[[0.5, 1.5]]], [[[1 / 3, 5 / 3]]]]))
    half = 1 / math.sqrt(2)  # two values a ± d: sample std d √2
    assert normalize_channels(image, "gaussian").flatten().tolist() == pytest.approx([-half, half, -half, half])


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown normalisation 'max'"):
        normalize(torch.ones(3), "max")

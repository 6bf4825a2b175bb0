"""Training metrics: NMAE and the structure ratios that tell anatomy from flat or noisy maps."""

from __future__ import annotations

import pytest
import torch

from mumap.training.metrics import contrast_ratio, nmae, roughness_ratio


def test_nmae_is_the_mean_absolute_error_over_the_true_range():
    target = torch.tensor([0.0, 0.1, 0.2])
    assert float(nmae(target + 0.02, target)) == pytest.approx(0.1)
    assert float(nmae(target, target)) == 0.0
    with pytest.raises(ValueError, match="value range"):
        nmae(target, torch.zeros(3))


def _phantom() -> torch.Tensor:
    """A body (μ 0.15) with lungs (0.04) and a spine (0.25) in a 24³ volume of air."""
    _, y, x = torch.meshgrid(*(torch.arange(24.0),) * 3, indexing="ij")
    mu = torch.where((y - 12) ** 2 / 81 + (x - 12) ** 2 / 100 < 1, 0.15, 0.0)
    mu = torch.where(((x - 8) ** 2 + (y - 11) ** 2 < 9) | ((x - 16) ** 2 + (y - 11) ** 2 < 9), 0.04, mu)
    return torch.where((x - 12) ** 2 + (y - 17) ** 2 < 3, 0.25, mu)


def test_structure_ratios_tell_anatomy_from_flat_and_noisy_maps():
    truth = _phantom()
    assert float(contrast_ratio(truth, truth)) == pytest.approx(1) and float(roughness_ratio(truth, truth)) == 1
    flat = torch.where(truth > 0, 0.14, 0.0)
    assert float(contrast_ratio(flat, truth)) < 0.05
    noisy = truth + 0.05 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    assert float(roughness_ratio(noisy, truth)) > 4
    blurred = torch.nn.functional.avg_pool3d(truth[None, None], 3, stride=1, padding=1)[0, 0]
    assert 0.6 < float(contrast_ratio(blurred, truth)) < 1 and 0.7 < float(roughness_ratio(blurred, truth)) < 1.05


def test_structure_ratios_need_a_body():
    with pytest.raises(ValueError, match="no body"):
        contrast_ratio(torch.zeros(4, 4, 4), torch.zeros(4, 4, 4))

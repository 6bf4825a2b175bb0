"""The simulated acquisition: expected counts are the attenuated projections scaled to the requested total,
the measured counts are Poisson around them (checked within 5 σ of the Poisson statistics), and a seeded
generator reproduces the noise."""

from __future__ import annotations

import math

import pytest
import torch

from mumap.spect.scatter import ScatterModel
from mumap.spect.simulate import simulate_acquisition


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_expected_counts_are_the_attenuated_projections_scaled_to_the_total(acquisition_setup):
    activity, mu, projector = acquisition_setup
    attenuated = projector.with_attenuation(mu)
    data = simulate_acquisition(attenuated, activity, total_counts=1e6, generator=_seeded(0))
    projections = attenuated.forward(activity)
    torch.testing.assert_close(data.expected_primary, projections * (1e6 / projections.sum()))
    assert float(data.expected_primary.sum()) == pytest.approx(1e6, rel=1e-5)
    assert not data.expected_scatter.any() and not data.lower_window.any()  # no scatter model, no scatter
    doubled = simulate_acquisition(attenuated, 2 * activity, total_counts=1e6, generator=_seeded(0))
    torch.testing.assert_close(doubled.expected_primary, data.expected_primary)  # activity in relative units


def test_mean_counts_match_the_expected_in_both_windows(acquisition_setup):
    """A sum of independent Poisson bins is Poisson: each window's total is within 5 √N of its expectation N."""
    activity, mu, projector = acquisition_setup
    model = ScatterModel()
    data = simulate_acquisition(projector.with_attenuation(mu), activity, total_counts=1e6, scatter=model,
                                generator=_seeded(1))
    peak = float((data.expected_primary + data.expected_scatter).sum())
    lower = float(model.lower_window(data.expected_primary, projector.acquisition.pixel_vu_mm).sum())
    assert peak == pytest.approx(1e6, rel=1e-5) and lower > 0.1 * peak
    assert abs(float(data.photopeak.sum()) - peak) < 5 * math.sqrt(peak)
    assert abs(float(data.lower_window.sum()) - lower) < 5 * math.sqrt(lower)
    for counts in (data.photopeak, data.lower_window):
        assert counts.min() >= 0 and torch.equal(counts, counts.round())


def test_busy_bins_scatter_like_poisson(acquisition_setup):
    """Where ≥ 50 counts are expected, (measured − expected) / √expected has mean 0 and standard deviation 1."""
    activity, _, projector = acquisition_setup
    data = simulate_acquisition(projector, activity, total_counts=2e6, generator=_seeded(7))
    expected = data.expected_primary
    busy = expected > 50
    z = (data.photopeak[busy] - expected[busy]) / expected[busy].sqrt()
    assert int(busy.sum()) > 1000
    assert float(z.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(z.std()) == pytest.approx(1.0, abs=0.05)


def test_sparse_bins_are_empty_as_often_as_poisson_says(acquisition_setup):
    """At ~0.5 counts per bin (where rounding or a Gaussian would be wrong), a bin is empty with probability
    e^−λ: the number of empty bins is within 5 σ of Σ e^−λ."""
    activity, _, projector = acquisition_setup
    data = simulate_acquisition(projector, activity, total_counts=0.5 * math.prod(projector.projection_shape),
                                generator=_seeded(3))
    empty = torch.exp(-data.expected_primary.double())
    expected, sigma = float(empty.sum()), float((empty * (1 - empty)).sum().sqrt())
    assert abs(int((data.photopeak == 0).sum()) - expected) < 5 * sigma


def test_a_seeded_generator_reproduces_the_noise_and_another_seed_does_not(acquisition_setup):
    activity, mu, projector = acquisition_setup
    attenuated = projector.with_attenuation(mu)
    first, again, other = (simulate_acquisition(attenuated, activity, total_counts=1e5, scatter=ScatterModel(),
                                                generator=_seeded(seed)) for seed in (7, 7, 8))
    assert torch.equal(first.photopeak, again.photopeak) and torch.equal(first.lower_window, again.lower_window)
    assert not torch.equal(first.photopeak, other.photopeak)
    assert torch.equal(first.expected_primary, other.expected_primary)


def test_nothing_to_acquire_is_refused(acquisition_setup):
    activity, _, projector = acquisition_setup
    with pytest.raises(ValueError, match="total_counts must be > 0"):
        simulate_acquisition(projector, activity, total_counts=0)
    with pytest.raises(ValueError, match="projects to zero counts"):
        simulate_acquisition(projector, torch.zeros_like(activity), total_counts=1e6)

"""The simulated acquisition: expected counts are the attenuated projections scaled to the requested total,
the measured counts are Poisson around them (checked within 5 σ of the Poisson statistics), a seeded
generator reproduces the noise, and a supersampled simulation reconstructed on the clinical grid (no inverse
crime) still recovers a uniform cylinder's activity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mumap.spect.geometry import Acquisition, Collimator, ImageGrid, block_mean
from mumap.spect.operators import bin_rays, binned_rows
from mumap.spect.osem import osem
from mumap.spect.projector import SPECTProjector
from mumap.spect.scatter import ScatterModel, tew_scatter_estimate
from mumap.spect.simulate import simulate_acquisition


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_expected_counts_are_the_attenuated_projections_scaled_to_the_total(acquisition_setup):
    activity, mu, projector = acquisition_setup
    data = simulate_acquisition(projector, activity, mu, total_counts=1e6, generator=_seeded(0))
    projections = projector.with_attenuation(mu).forward(activity)
    torch.testing.assert_close(data.expected_primary, projections * (1e6 / projections.sum()))
    assert float(data.expected_primary.sum()) == pytest.approx(1e6, rel=1e-5)
    assert not data.expected_scatter.any() and not data.lower_window.any()  # no scatter model, no scatter
    assert data.scatter_fraction == 0.0
    doubled = simulate_acquisition(projector, 2 * activity, mu, total_counts=1e6, generator=_seeded(0))
    torch.testing.assert_close(doubled.expected_primary, data.expected_primary)  # activity in relative units


def test_mean_counts_match_the_expected_in_both_windows(acquisition_setup):
    """A sum of independent Poisson bins is Poisson: each window's total is within 5 √N of its expectation N."""
    activity, mu, projector = acquisition_setup
    model = ScatterModel()
    data = simulate_acquisition(projector, activity, mu, total_counts=1e6, scatter=model, generator=_seeded(1))
    peak = float((data.expected_primary + data.expected_scatter).sum())
    _, peak_scatter, lower_scatter = projector.forward_windows(activity, mu, model)
    scale = float(data.expected_scatter.sum() / peak_scatter.sum())
    lower = scale * float(lower_scatter.sum()) + model.primary_spill * float(data.expected_primary.sum())
    assert peak == pytest.approx(1e6, rel=1e-5) and lower > 0.1 * peak
    assert abs(float(data.photopeak.sum()) - peak) < 5 * math.sqrt(peak)
    assert abs(float(data.lower_window.sum()) - lower) < 5 * math.sqrt(lower)
    for counts in (data.photopeak, data.lower_window):
        assert counts.min() >= 0 and torch.equal(counts, counts.round())


def test_busy_bins_scatter_like_poisson(acquisition_setup):
    """Where ≥ 50 counts are expected, (measured − expected) / √expected has mean 0 and standard deviation 1."""
    activity, _, projector = acquisition_setup
    data = simulate_acquisition(projector, activity, None, total_counts=2e6, generator=_seeded(7))
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
    data = simulate_acquisition(projector, activity, None, total_counts=0.5 * math.prod(projector.projection_shape),
                                generator=_seeded(3))
    empty = torch.exp(-data.expected_primary.double())
    expected, sigma = float(empty.sum()), float((empty * (1 - empty)).sum().sqrt())
    assert abs(int((data.photopeak == 0).sum()) - expected) < 5 * sigma


def test_a_seeded_generator_reproduces_the_noise_and_another_seed_does_not(acquisition_setup):
    activity, mu, projector = acquisition_setup
    first, again, other = (simulate_acquisition(projector, activity, mu, total_counts=1e5, scatter=ScatterModel(),
                                                generator=_seeded(seed)) for seed in (7, 7, 8))
    assert torch.equal(first.photopeak, again.photopeak) and torch.equal(first.lower_window, again.lower_window)
    assert not torch.equal(first.photopeak, other.photopeak)
    assert torch.equal(first.expected_primary, other.expected_primary)


def test_nothing_to_acquire_is_refused(acquisition_setup):
    activity, _, projector = acquisition_setup
    with pytest.raises(ValueError, match="total_counts must be > 0"):
        simulate_acquisition(projector, activity, None, total_counts=0)
    with pytest.raises(ValueError, match="projects to zero counts"):
        simulate_acquisition(projector, torch.zeros_like(activity), None, total_counts=1e6)
    with pytest.raises(ValueError, match="takes μ itself"):
        simulate_acquisition(projector.with_attenuation(torch.zeros_like(activity)), activity, None, total_counts=1)


def test_binning_sums_blocks_of_pixels():
    fine = torch.arange(3 * 4 * 2 * 6, dtype=torch.float64).reshape(3, 4, 2, 6)  # rays [D, U, V, P]
    coarse = bin_rays(fine, 2)
    assert coarse.shape == (3, 2, 2, 3) and float(coarse[0, 0, 0, 0]) == float(fine[0, :2, 0, :2].sum())
    assert float(coarse.sum()) == float(fine.sum())
    blur = np.random.default_rng(0).random((2, 6, 6))
    assert binned_rows(blur, 3) == pytest.approx(np.stack([blur[:, :3].sum(1), blur[:, 3:].sum(1)], axis=1))


@pytest.mark.slow
def test_ctac_of_a_uniform_cylinder_recovers_its_activity_without_the_inverse_crime():
    """Render 2× finer, acquire with the IQ·SPECT model on a 2× finer detector, bin, reconstruct on the clinical
    grid with the block-averaged μ-map and the true scatter: the cylinder's mean within 5 % of the truth."""
    grid = ImageGrid((24, 48, 48), (6.4, 6.4, 6.4))
    fine = grid.refined(2)
    _, y, x = np.meshgrid(*(fine.centres_mm(i) for i in range(3)), indexing="ij")
    inside = (np.hypot(x, y) <= 100.0).astype(np.float32)  # a 20 cm water cylinder, uniform activity
    acquisition = Acquisition(collimator=Collimator(kind="multifocal"), detector_shape=(40, 60), pixel_vu_mm=(6.4, 6.4))
    simulator = SPECTProjector(fine, acquisition.supersampled(2), n_subsets=acquisition.n_views, depth_subsamples=2)
    model = ScatterModel()
    data = simulate_acquisition(simulator, inside, 0.153 * inside, total_counts=2e7, scatter=model, detector_binning=2)
    scanner = SPECTProjector(grid, acquisition, n_subsets=3).with_attenuation(block_mean(0.153 * inside, 2))
    truth = block_mean(inside, 2)
    ctac = osem(scanner, data.expected_primary + data.expected_scatter, additive=data.expected_scatter)
    # counts per clinical voxel ∝ activity: calibrate on the whole cylinder, compare its central part
    _, yc, xc = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    centre = torch.from_numpy((np.hypot(xc, yc) < 60.0) & (np.abs(grid.centres_mm(0))[:, None, None] < 40.0))
    ratio = ctac / (ctac.sum() / float(truth.sum()))
    assert float(ratio[centre].mean()) == pytest.approx(1.0, rel=0.05)
    tew = tew_scatter_estimate(data.lower_window, acquisition.pixel_vu_mm)
    assert float(tew.sum() / data.expected_scatter.sum()) == pytest.approx(1.0, rel=0.2)

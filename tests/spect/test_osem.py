"""OSEM: convergence on consistent data, positivity, scatter term, callback, input checks."""

from __future__ import annotations

import itertools

import pytest
import torch

from mumap.spect.geometry import Acquisition
from mumap.spect.osem import osem
from mumap.spect.projector import SPECTProjector
from tests.helpers import rel_l2, smooth_random


@pytest.fixture
def system(small_grid):
    truth = smooth_random(small_grid, radius_voxels=18).float()
    mu = 0.15 * (truth > 0).float()
    projector = SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), n_subsets=3).with_attenuation(mu)
    return projector, truth, projector.forward(truth)


def test_osem_converges_towards_the_truth_and_callback_sees_every_iteration(system):
    projector, truth, projections = system
    errors = []
    image = osem(projector, projections, n_iterations=8,
                 callback=lambda iteration, estimate: errors.append((iteration, rel_l2(estimate, truth))))
    assert [i for i, _ in errors] == list(range(1, 9))
    assert all(later < earlier for (_, earlier), (_, later) in itertools.pairwise(errors))
    assert errors[-1][1] < 0.15
    assert float(image.min()) >= 0.0
    assert rel_l2(projector.forward(image), projections) < 0.03


def test_osem_keeps_voxels_no_ray_sees_at_zero(small_grid):
    """Two orthogonal views through a 9.6 cm wide detector see only a cross; the corners stay 0."""
    acquisition = Acquisition(n_views=2, n_heads=1, start_deg=0.0, step_deg=90.0, detector_shape=(24, 10),
                              pixel_vu_mm=(9.6, 9.6), radius_cm=30)
    projector = SPECTProjector(small_grid, acquisition, n_subsets=2)
    image = osem(projector, torch.ones(projector.projection_shape), n_iterations=2)
    assert float(image[:, :8, :8].abs().max()) == 0.0
    assert float(image[:, 18:22, 22:26].min()) > 0.0


@pytest.mark.slow
def test_additive_scatter_is_modelled_not_reconstructed(system):
    projector, _, projections = system
    scatter = 0.3 * projections.mean() * torch.ones_like(projections)
    with_scatter = osem(projector, projections + scatter, additive=scatter, n_iterations=5)
    ignoring_scatter = osem(projector, projections + scatter, n_iterations=5)
    clean = osem(projector, projections, n_iterations=5)
    assert rel_l2(with_scatter, clean) < 0.06
    assert rel_l2(ignoring_scatter, clean) > 3 * rel_l2(with_scatter, clean)


def test_osem_rejects_bad_projections(system):
    projector, _, projections = system
    with pytest.raises(ValueError, match="negative counts"):
        osem(projector, -projections)
    with pytest.raises(ValueError, match="expected"):
        osem(projector, projections[:5])
    with pytest.raises(ValueError, match="n_iterations"):
        osem(projector, projections, n_iterations=0)

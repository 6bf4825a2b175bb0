"""Fixtures of the SPECT tests: a smooth activity in a water cylinder and its parallel-hole projector."""

from __future__ import annotations

import pytest
import torch

from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.projector import SPECTProjector
from tests.helpers import smooth_random


@pytest.fixture
def acquisition_setup(small_grid: ImageGrid) -> tuple[torch.Tensor, torch.Tensor, SPECTProjector]:
    """``(activity, mu, projector)``: float32 [z, y, x] activity (relative units) inside a 16-voxel-radius
    cylinder, μ = 0.15 cm⁻¹ where it is > 0, and a 3-subset parallel-hole projector without attenuation."""
    activity = smooth_random(small_grid, radius_voxels=16).float()
    mu = 0.15 * (activity > 0).float()
    return activity, mu, SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), n_subsets=3)

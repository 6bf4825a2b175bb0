"""Fixtures of the SPECT tests: a smooth activity in a water cylinder and its parallel-hole projector."""

from __future__ import annotations

import pytest
import torch

from mumap.spect.geometry import Acquisition
from mumap.spect.projector import SPECTProjector
from tests.helpers import SMALL_GRID, smooth_random


@pytest.fixture(scope="module")
def acquisition_setup() -> tuple[torch.Tensor, torch.Tensor, SPECTProjector]:
    """``(activity, mu, projector)`` on :data:`~tests.helpers.SMALL_GRID`, built once per module (none of
    them is changed in place): float32 [z, y, x] activity (relative units) inside a 16-voxel-radius
    cylinder, μ = 0.15 cm⁻¹ where it is > 0, and a 3-subset parallel-hole projector without attenuation."""
    activity = smooth_random(SMALL_GRID, radius_voxels=16).float()
    mu = 0.15 * (activity > 0).float()
    return activity, mu, SPECTProjector(SMALL_GRID, Acquisition.parallel_for(SMALL_GRID), n_subsets=3)

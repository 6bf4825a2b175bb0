"""Shared fixtures: tiny grids, so that the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

import pytest

from mumap.spect.geometry import ImageGrid


@pytest.fixture
def small_grid() -> ImageGrid:
    """Non-cubic, non-square 48 × 40 × 24 (x × y × z) grid of 9.6 mm voxels."""
    return ImageGrid((24, 40, 48), (9.6, 9.6, 9.6))

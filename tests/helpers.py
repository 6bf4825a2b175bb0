"""Test helpers: tiny objects and comparisons."""

from __future__ import annotations

import numpy as np
import torch

from mumap.spect.geometry import ImageGrid


def smooth_random(grid: ImageGrid, seed: int = 0, radius_voxels: float | None = None) -> torch.Tensor:
    """Blurred uniform noise (float64, ≥ 0), optionally inside a transaxial circle."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, *grid.shape, generator=generator, dtype=torch.float64)
    kernel = torch.ones(1, 1, 5, 5, 5, dtype=torch.float64) / 125
    image = torch.nn.functional.conv3d(noise, kernel, padding=2)[0, 0]
    if radius_voxels is not None:
        _, y, x = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in grid.shape), indexing="ij")
        image = image * torch.from_numpy(np.hypot(y, x) < radius_voxels)
    return image


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())

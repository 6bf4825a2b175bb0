"""Training patches: zero-padding to the patch size and random patches at the same place in all volumes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_to(volume: np.ndarray, minimum: Sequence[int]) -> np.ndarray:
    """Zero-pad the last three axes of ``[..., z, y, x]`` symmetrically to at least ``minimum`` voxels."""
    pads = [(0, 0)] * (volume.ndim - 3)
    for size, least in zip(volume.shape[-3:], minimum, strict=True):
        missing = max(least - size, 0)
        pads.append((missing // 2, missing - missing // 2))
    return np.pad(volume, pads) if any(p != (0, 0) for p in pads) else volume


def random_patches(volumes: Sequence[np.ndarray], size: Sequence[int], count: int,
                   rng: np.random.Generator) -> list[list[np.ndarray]]:
    """``count`` patches of ``size`` (z, y, x); patch k of every volume comes from the same place.

    Volumes are ``[C, z, y, x]`` with equal spatial shapes and are padded first (the paper pads to at
    least 32 slices), so any patch size fits.
    """
    shapes = {v.shape[-3:] for v in volumes}
    if len(shapes) != 1:
        raise ValueError(f"volumes must share their spatial shape, got {sorted(shapes)}")
    padded = [pad_to(v, size) for v in volumes]
    spatial = padded[0].shape[-3:]
    patches = []
    for _ in range(count):
        start = [int(rng.integers(0, s - p + 1)) for s, p in zip(spatial, size, strict=True)]
        window = tuple(slice(a, a + p) for a, p in zip(start, size, strict=True))
        patches.append([v[(..., *window)] for v in padded])
    return patches

"""Automatic patient-bed handling: remove the bed from a μ-map for training, reinsert it after prediction.

The paper removes the bed by hand and suggests automating it by thresholding the μ-map and taking
the lowest region. Here, per transaxial slice: the body is the filled outline of tissue
(μ ≥ ``body_mu`` cm⁻¹, holes such as lungs filled, then grown by ``margin_mm``); everything else above
``air_mu`` forms candidate regions, and the 3-D connected regions that lie below the body (posterior,
+y) are the bed. Bed-like voxels (``air_mu`` < μ < ``body_mu``) of the margin that touch the bed are
then added back, so a pallet lying against the skin is separated too: it is far less dense than
tissue.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def find_bed(mu: np.ndarray, voxel_mm: tuple[float, float, float], *, body_mu: float = 0.12,
             air_mu: float = 0.01, margin_mm: float = 5.0) -> np.ndarray:
    """Boolean mask ``[z, y, x]`` of the bed in the μ-map ``mu`` (cm⁻¹)."""
    tissue = mu >= body_mu
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in tissue])
    grow = max(round(margin_mm / voxel_mm[1]), 0)
    in_plane = np.ones((1, 3, 3), bool)
    body = ndimage.binary_dilation(filled, structure=in_plane, iterations=grow) if grow else filled
    candidates = (mu > air_mu) & ~body
    labels, n = ndimage.label(candidates)
    if n == 0 or not body.any():
        return np.zeros(mu.shape, bool)
    y = np.arange(mu.shape[1])[None, :, None]
    body_centre_y = np.broadcast_to(y, mu.shape)[body].mean()
    bed = np.zeros(mu.shape, bool)
    sizes = ndimage.sum_labels(np.ones(mu.shape), labels, index=np.arange(1, n + 1))
    centres_y = ndimage.mean(np.broadcast_to(y, mu.shape), labels, index=np.arange(1, n + 1))
    for label, (size, centre_y) in enumerate(zip(sizes, centres_y, strict=True), start=1):
        if centre_y > body_centre_y and size >= 10:  # below (posterior of) the body, not a speck
            bed |= labels == label
    # take back the bed-like voxels of the margin that touch the bed (a pallet lying against the skin)
    margin = (mu > air_mu) & (mu < body_mu) & ~filled
    for _ in range(grow):
        bed |= ndimage.binary_dilation(bed, structure=in_plane) & margin
    return bed


def remove_bed(mu: np.ndarray, voxel_mm: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``(μ without the bed, the bed's μ values elsewhere 0)``; their sum is the input."""
    bed = find_bed(mu, voxel_mm)
    return np.where(bed, 0.0, mu).astype(mu.dtype), np.where(bed, mu, 0.0).astype(mu.dtype)


def reinsert_bed(prediction: np.ndarray, bed: np.ndarray) -> np.ndarray:
    """Put the bed (μ values, 0 elsewhere) back into a predicted μ-map."""
    return np.where(bed > 0, bed, prediction).astype(prediction.dtype)

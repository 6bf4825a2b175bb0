"""The patient's body: its outline in an nAC image, the uniform μ-map baseline, and the μ thresholds that
tell body from air and bed in a μ-map.

``uniform_mu_map``: soft tissue (μ of water at 140.5 keV) inside the body outline found from the nAC
image itself, lungs ignored (Chang-style uniform attenuation), to put DLAC in perspective; the bed can
be reinserted afterwards with :func:`mumap.data.bed.reinsert_bed` like any prediction. The outline
threshold (10 % of the 99th percentile after a 1-voxel Gaussian) is the best of 0.02–0.3 on the quick
cohort's train split, chosen again for the cohort of mumap 0.3.0 (NMAE with the bed reinserted 0.0386,
against 0.0403 at 8 % and 12 %, 0.0445 at 6 %, 0.0483 at 15 %; docs/BENCHMARKS.md), so DLAC is compared
with the baseline at its best. A global threshold has a known weakness: a hot liver or bowel (rest
studies) raises it, and the outline then misses part of the upper thorax. :func:`body_outline` is also
where ``mumap predict`` anchors the bed template.

The two thresholds sit in the gaps of the μ table at 140.5 keV
(:data:`mumap.spect.attenuation.MU_140KEV`: air 0, lung 0.046, bed pallet 0.07, adipose 0.145, other
tissues higher), with room for the partial-volume and noise of a real CT's μ-map.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mumap.spect.attenuation import MU_WATER_140KEV

AIR_MU_MAX = 0.01
"""cm⁻¹: a μ-map voxel at or below this is air; above it, matter (lung, bed, tissue). Far below inflated
lung (0.046) and the bed pallet (0.07), far above the 0 of air, so that a CT's noise and the blur of
resampling it onto the SPECT grid stay air."""

TISSUE_MU_MIN = 0.12
"""cm⁻¹: a μ-map voxel at or above this is dense tissue (adipose 0.145, soft tissue, bone), below it
lung, bed pallet or air. Between the bed pallet (0.07) and the least dense tissue, adipose (0.145), so
that the bed is never taken for the body; lungs fall below it too, which is why the filled outline of
the tissue is the body."""


def body_outline(nac: np.ndarray, fraction: float = 0.1, smooth_voxels: float = 1.0) -> np.ndarray:
    """Boolean body mask ``[z, y, x]`` from an nAC image ``[z, y, x]`` (counts): smoothed counts above
    ``fraction`` of the 99th percentile, largest connected region, holes filled slice by slice."""
    smooth = ndimage.gaussian_filter(nac.astype(np.float64), smooth_voxels)
    mask = smooth > fraction * np.percentile(smooth, 99)
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    largest = 1 + int(np.argmax(ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))))
    body = labels == largest
    return np.stack([ndimage.binary_fill_holes(plane) for plane in body])


def uniform_mu_map(nac: np.ndarray, mu: float = MU_WATER_140KEV, **outline) -> np.ndarray:
    """μ-map ``[z, y, x]`` (float32): ``mu`` (cm⁻¹) inside :func:`body_outline` of ``nac``, 0 outside."""
    return np.where(body_outline(nac, **outline), mu, 0.0).astype(np.float32)

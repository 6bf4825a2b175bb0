"""Body masks: the nAC body outline and uniform μ-map find the body from the nAC image alone; the μ
thresholds sit in the gaps of the μ table."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage

from mumap.data import io
from mumap.data.body import AIR_MU_MAX, TISSUE_MU_MIN, body_outline, uniform_mu_map
from mumap.spect.attenuation import MU_140KEV, MU_WATER_140KEV


@pytest.mark.slow
def test_body_outline_matches_the_true_body(tiny_cohort):
    with open(tiny_cohort / "studies.csv") as f:
        rows = list(csv.DictReader(f))
    overlaps = []
    for row in rows:
        nac = io.load_nifti(tiny_cohort / row["nac"])[0]
        mu = io.load_nifti(tiny_cohort / row["mumap"])[0]
        bed = io.load_nifti(tiny_cohort / row["bed"])[0] > 0
        # the true body: voxels at least half tissue (partial volume), lungs filled in, the bed left out
        body = np.stack([ndimage.binary_fill_holes(plane) for plane in (mu >= MU_140KEV["adipose"] / 2) & ~bed])
        found = body_outline(nac)
        overlaps.append((found & body).sum() / (found | body).sum())
        uniform = uniform_mu_map(nac)
        assert set(np.unique(uniform).tolist()) == {0.0, np.float32(MU_WATER_140KEV)}
        assert uniform.dtype == np.float32 and np.array_equal(uniform > 0, found)
    # 9.6 mm voxels: the rim is a third of the body; a hot liver (rest) costs the upper thorax (the docstring)
    assert np.median(overlaps) > 0.85 and min(overlaps) > 0.6


def test_body_outline_of_a_blob_is_the_blob_with_holes_filled_and_specks_dropped():
    nac = np.zeros((8, 40, 40))
    y, x = np.mgrid[:40, :40]
    nac[2:6, (y - 20) ** 2 + (x - 18) ** 2 < 12**2] = 100.0  # the body
    nac[2:6, (y - 20) ** 2 + (x - 18) ** 2 < 4**2] = 0.0  # a cold hole inside (lungs in an nAC image)
    nac[3, 36:38, 36:38] = 100.0  # a hot speck outside
    found = body_outline(nac, smooth_voxels=0.5)
    assert found[3, 20, 18] and found[3, 20, 28]  # hole filled, body kept
    assert not found[3, 37, 37] and not found[0].any() and not found[:, 2, 2].any()


def test_thresholds_separate_air_lung_bed_and_tissue():
    assert MU_140KEV["air"] < AIR_MU_MAX < MU_140KEV["lung"] < MU_140KEV["bed"] < TISSUE_MU_MIN
    tissues = ("adipose", "water", "breast", "soft_tissue", "spongy_bone", "rib", "cortical_bone")
    assert min(MU_140KEV[t] for t in tissues) == MU_140KEV["adipose"] > TISSUE_MU_MIN

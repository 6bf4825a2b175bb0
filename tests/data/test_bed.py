"""Automatic bed removal and reinsertion, checked against the phantom's known bed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from mumap.data.bed import bed_profile, find_bed, place_bed, reinsert_bed, remove_bed
from mumap.data.phantom import Anatomy, Patient, Uptake, render, sample_anatomy
from mumap.spect.attenuation import MU_140KEV
from mumap.spect.geometry import ImageGrid

GRID = ImageGrid((32, 80, 80), (6.4, 6.4, 6.4))


@pytest.mark.parametrize("seed", range(4))
def test_finds_the_bed_of_varied_patients_even_touching_the_body(seed):
    rng = np.random.default_rng(seed)
    patient = Patient("P", "F" if seed % 2 else "M", 60, 170.0, float(rng.uniform(55, 120)))
    anatomy = replace(sample_anatomy(patient, rng), bed_gap_mm=0.0 if seed < 2 else 8.0)
    _, mu, _ = render(GRID, anatomy, Uptake())
    truth = np.isclose(mu, MU_140KEV["bed"])
    found = find_bed(mu, GRID.voxel_zyx_mm)
    assert (found & truth).sum() / (found | truth).sum() > 0.95


def test_remove_then_reinsert_is_the_identity():
    _, mu, _ = render(GRID, Anatomy(), Uptake())
    without, bed = remove_bed(mu, find_bed(mu, GRID.voxel_zyx_mm))
    assert not np.isclose(without, MU_140KEV["bed"]).any() and bed.max() == pytest.approx(MU_140KEV["bed"])
    np.testing.assert_array_equal(reinsert_bed(without, bed), mu)
    prediction = without + 0.001  # a prediction with small errors everywhere keeps its own body values
    restored = reinsert_bed(prediction, bed)
    assert np.array_equal(restored[bed > 0], bed[bed > 0]) and np.array_equal(restored[bed == 0], prediction[bed == 0])
    as_tensors = reinsert_bed(torch.from_numpy(prediction), torch.from_numpy(bed))  # the same on tensors
    np.testing.assert_array_equal(as_tensors.numpy(), restored)


def test_no_bed_no_mask():
    _, mu, _ = render(GRID, Anatomy(), Uptake())
    without, _ = remove_bed(mu, find_bed(mu, GRID.voxel_zyx_mm))
    assert not find_bed(without, GRID.voxel_zyx_mm).any()
    assert not find_bed(np.zeros(GRID.shape, np.float32), GRID.voxel_zyx_mm).any()


def _patient_mu(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    patient = Patient("P", "F" if seed % 2 else "M", 60, 170.0, float(rng.uniform(55, 120)))
    anatomy = replace(sample_anatomy(patient, rng), bed_thickness_mm=15.0)  # one scanner's pallet
    return render(GRID, anatomy, Uptake())[1]


def test_a_bed_template_from_other_patients_attenuates_like_the_true_bed():
    profiles = []
    for seed in range(4):
        mu = _patient_mu(seed)
        bed = np.isclose(mu, MU_140KEV["bed"])
        profiles.append(bed_profile(np.where(bed, mu, 0.0), (mu >= 0.05) & ~bed, GRID.voxel_zyx_mm))
    template = np.nanmean(profiles, axis=0)
    mu = _patient_mu(11)
    true_bed = np.where(np.isclose(mu, MU_140KEV["bed"]), mu, 0.0)
    body = (mu - true_bed) >= 0.05
    placed = place_bed(body, template, GRID.voxel_zyx_mm)
    # the template's top row is the mean of the other patients' flat backs: where it reaches into this body
    # it is faint (and a prediction combined by the voxel-wise maximum keeps its tissue)
    overlap = (placed > 0) & body
    assert overlap.sum() < 0.15 * (placed > 0).sum() and placed[overlap].mean() < 0.3 * MU_140KEV["bed"]
    body_columns = body.any(axis=(0, 1))
    # the bed's attenuation along the AP rays under the body (cm⁻¹ · voxels), true vs template
    true_path, placed_path = true_bed.sum(axis=1)[:, body_columns], placed.sum(axis=1)[:, body_columns]
    assert placed_path.mean() == pytest.approx(true_path.mean(), rel=0.2)
    assert np.abs(placed_path - true_path).mean() < 0.35 * true_path.mean()
    assert not place_bed(np.zeros(mu.shape, bool), template, GRID.voxel_zyx_mm).any()

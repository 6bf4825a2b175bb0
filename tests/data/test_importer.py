"""Importing NIfTI studies listed in a CSV into the contract, HU → μ conversion; bad input writes nothing."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from mumap.data import io
from mumap.data.bed import read_bed_mask
from mumap.data.importer import hu_to_mu, import_nifti_csv
from mumap.data.io import DatasetError
from mumap.spect.attenuation import MU_WATER_140KEV
from tests.helpers import SPECT_ORIGIN, SPECT_VOXEL, cylinder


@pytest.mark.slow
def test_import_writes_the_bed_mask_it_finds_once(tiny_cohort, tmp_path):
    """The importer detects the bed once and writes it as the dataset's bed mask (its one source of truth):
    on a synthetic study, the phantom's true bed but for partial-volume voxels at its edges."""
    row = io.read_split(tiny_cohort, "test")[0]
    listing = tmp_path / "studies.csv"
    listing.write_text(f"id,patient_id,nac,mumap\nS1,P1,{tiny_cohort / row['nac']},{tiny_cohort / row['mumap']}\n")
    studies = import_nifti_csv(listing, tmp_path / "out")
    [imported] = io.read_studies(studies)
    found, true = read_bed_mask(studies.parent, imported), read_bed_mask(tiny_cohort, row)
    # Dice: a pallet 10–20 mm thick on the tiny grid's 9.6 mm voxels is one or two voxels deep, so its partial-volume
    # edges weigh (this study's, 11.3 mm thick: 0.89); the next line checks that only those differ
    assert true.sum() > 100 and 2 * (found & true).sum() / (found.sum() + true.sum()) > 0.85
    mu = io.load_nifti(tiny_cohort / row["mumap"])[0]
    assert mu[found != true].max() < 0.8 * MU_WATER_140KEV  # only mixed voxels differ (the back lies on the pallet)


def test_hu_to_mu_is_the_documented_bilinear_model():
    np.testing.assert_allclose(hu_to_mu(np.array([-1000.0, 0.0, 1900.0])), [0.0, MU_WATER_140KEV, 0.291], atol=1e-3)


def test_nifti_csv_import_with_hu_and_non_finite_values(tmp_path):
    body = cylinder((20, 32, 32), SPECT_VOXEL, SPECT_ORIGIN)
    io.save_nifti(tmp_path / "nac.nii.gz", 5.0 * body, SPECT_VOXEL, SPECT_ORIGIN)
    io.save_nifti(tmp_path / "ct.nii.gz", np.where(body, 0.0, -1000.0), SPECT_VOXEL, SPECT_ORIGIN)
    listing = tmp_path / "studies.csv"
    listing.write_text("id,patient_id,sex,nac,mumap,mumap_units\nS1,P1,F,nac.nii.gz,ct.nii.gz,HU\n")
    studies = import_nifti_csv(listing, tmp_path / "out")
    mu, _, _ = io.load_nifti(studies.parent / "S1" / "mumap.nii.gz")
    assert mu.max() == pytest.approx(MU_WATER_140KEV, rel=1e-3) and mu.min() == 0.0
    with open(studies) as f:
        assert next(csv.DictReader(f))["sex"] == "F"

    bad = 5.0 * body
    bad[3, 3, 3] = np.nan
    io.save_nifti(tmp_path / "nan.nii.gz", bad, SPECT_VOXEL, SPECT_ORIGIN)
    listing.write_text("id,patient_id,nac,mumap,mumap_units\nS1,P1,nan.nii.gz,ct.nii.gz,HU\n")
    with pytest.raises(DatasetError, match=r"nan\.nii\.gz: contains non-finite values"):
        import_nifti_csv(listing, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
    listing.write_text("id,nac\nS1,nac.nii.gz\n")
    with pytest.raises(DatasetError, match=r"studies\.csv: missing column\(s\) mumap, patient_id"):
        import_nifti_csv(listing, tmp_path / "out3")

"""The DICOM μ-map mumap writes: a valid NM Image (dciodvfy finds no error) that reads back exactly."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from mumap.data.dicom import find_series, mu_map_volume, patient_position
from mumap.data.dicom_writer import MU_SLOPE, write_mu_map_series
from mumap.spect.attenuation import MU_WATER_140KEV
from tests.dicom_habits import NM_MARKER, marker_study, write_nm_habit
from tests.helpers import SPECT_ORIGIN, SPECT_VOXEL, dciodvfy_errors, dicom_uids


@pytest.mark.parametrize("habit", [{}, {"position": "FFP", "position_codes": True, "mapping": "rwvm"}],
                         ids=["PatientPosition HFS", "NM codes FFP"])
def test_the_written_mu_map_is_valid_dicom_and_reads_back(habit, tmp_path):
    nac, _ = marker_study()
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    reference_path = write_nm_habit(tmp_path / "in" / "nac.dcm", nac, "stress NAC", dicom_uids("PW"), **habit)
    reference = pydicom.dcmread(reference_path, stop_before_pixels=True)
    mu = MU_WATER_140KEV * (nac > 0).astype(np.float32)
    mu[NM_MARKER] = 0.3
    path = write_mu_map_series(tmp_path / "out" / "mumap.dcm", mu, SPECT_VOXEL, SPECT_ORIGIN, reference)
    assert dciodvfy_errors(path) == []
    written = pydicom.dcmread(path)
    assert written.StudyInstanceUID == reference.StudyInstanceUID
    assert written.FrameOfReferenceUID == reference.FrameOfReferenceUID
    assert "PatientPosition" not in written and patient_position(written) == habit.get("position", "HFS")
    [series] = find_series(tmp_path / "out")
    volume = mu_map_volume(series)
    assert volume.voxel_zyx_mm == pytest.approx(SPECT_VOXEL) and volume.origin_zyx_mm == pytest.approx(SPECT_ORIGIN)
    np.testing.assert_allclose(volume.data, mu, atol=MU_SLOPE / 2 + 1e-7)


def test_values_outside_the_stored_range_are_refused(tmp_path):
    nac, _ = marker_study()
    reference = pydicom.dcmread(write_nm_habit(tmp_path / "nac.dcm", nac, "NAC", dicom_uids("PW")))
    with pytest.raises(ValueError, match=r"mumap\.dcm: μ values .* do not fit"):
        write_mu_map_series(tmp_path / "mumap.dcm", -np.ones((2, 2, 2)), SPECT_VOXEL, SPECT_ORIGIN, reference)
    assert not (tmp_path / "mumap.dcm").exists()

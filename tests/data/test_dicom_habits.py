"""Vendor habits: every way of writing the same study (:mod:`tests.dicom_habits`) imports to the same volumes,
with the marker at its true patient position, or is refused with one error naming the file and the field."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mumap.data import io
from mumap.data.dicom import find_series, import_dicom, series_volume
from mumap.data.io import DatasetError
from mumap.spect.attenuation import MU_WATER_140KEV
from tests.dicom_habits import (
    CT_MARKER,
    CT_ORIGIN,
    CT_VOXEL,
    NAC_BODY,
    NAC_MARKER,
    NM_MARKER,
    marker_centre_xyz_mm,
    marker_study,
    write_ct_habit,
    write_localizer,
    write_nm_habit,
)
from tests.helpers import SPECT_ORIGIN, SPECT_VOXEL, dicom_uids

HALF_VOXEL_MM = SPECT_VOXEL[0] / 2


def _study(root: Path, *, nm: dict | None = None, ct: dict | None = None, mu: str = "ct") -> Path:
    """One study with the marker: the nAC written with the ``nm`` habits, the μ-map a CT with the ``ct`` habits
    (or, with ``mu="nm"``, an NM μ-map in cm⁻¹ written with the ``nm`` habits and a RWVM to /cm)."""
    root.mkdir(parents=True, exist_ok=True)
    nac, hu = marker_study()
    uids = dicom_uids("PM")
    write_nm_habit(root / "nac.dcm", nac, "MPI rest IRNC", uids, **(nm or {}))
    if mu == "ct":
        write_ct_habit(root / "ct", hu, uids, **(ct or {}))
    else:
        mu_map = MU_WATER_140KEV * (nac > 0) * (1 + (nac == NAC_MARKER))
        habits = {**(nm or {}), "mapping": "rwvm", "units": "/cm", "slope": 1e-5}
        write_nm_habit(root / "mu.dcm", mu_map, "AC map MUMAP", uids, **habits)
    return root


def _centre_xyz_mm(volume: np.ndarray, voxel: tuple, origin: tuple, above: float) -> np.ndarray:
    """Centre of mass (x, y, z) in mm of ``volume − above`` where positive."""
    weight = np.clip(volume - above, 0, None)
    zyx = [o + h * (np.arange(n) * weight.sum(axis=tuple(a for a in range(3) if a != k))).sum() / weight.sum()
           for k, (n, h, o) in enumerate(zip(volume.shape, voxel, origin, strict=True))]
    return np.array(zyx[::-1])


def _imported(root: Path, out: Path) -> dict:
    studies = import_dicom(root, out)
    with open(studies) as f:
        [row] = list(csv.DictReader(f))
    volumes = {kind: io.load_nifti(out / row[kind]) for kind in ("nac", "mumap")}
    return {"row": row, **volumes}


HABITS = {  # name: (nAC habits, CT habits)
    "standard HFS": ({}, {}),
    "GE: frames head→feet, negative SpacingBetweenSlices": ({"frame_direction": -1}, {}),
    "frames stored last slice first (SliceVector N…1)": ({"slices_reversed": True}, {}),
    "NM values through RealWorldValueMapping, no RescaleSlope": ({"mapping": "rwvm", "slope": 0.5}, {}),
    "NM geometry only in DetectorInformationSequence": ({"geometry": "detector"}, {}),
    "feet first supine (FFS)": ({"position": "FFS"}, {"position": "FFS"}),
    "head first prone (HFP), NM position as code sequences": ({"position": "HFP", "position_codes": True},
                                                             {"position": "HFP"}),
    "feet first prone (FFP), negative spacing": ({"position": "FFP", "frame_direction": -1}, {"position": "FFP"}),
    "Enhanced CT (per-frame functional groups)": ({}, {"enhanced": True}),
    "Enhanced CT, feet first": ({"position": "FFS"}, {"enhanced": True, "position": "FFS"}),
}


@pytest.mark.parametrize("habit", HABITS)
def test_every_habit_puts_the_markers_at_their_true_position(habit, tmp_path):
    nm, ct = HABITS[habit]
    got = _imported(_study(tmp_path / "in", nm=nm, ct=ct), tmp_path / "out")
    nac, voxel, origin = got["nac"]
    assert voxel == pytest.approx(SPECT_VOXEL) and nac.shape == (10, 32, 32)  # cropped to the CT's z extent
    centre = _centre_xyz_mm(nac, voxel, origin, above=NAC_BODY * 2)
    np.testing.assert_allclose(centre, marker_centre_xyz_mm(NM_MARKER, SPECT_VOXEL, SPECT_ORIGIN),
                               atol=HALF_VOXEL_MM)
    assert nac.max() == pytest.approx(NAC_MARKER, rel=1e-3) and np.median(nac[nac > 0]) == pytest.approx(NAC_BODY)
    mu, mu_voxel, mu_origin = got["mumap"]
    assert mu_origin == pytest.approx(origin)
    centre = _centre_xyz_mm(mu, mu_voxel, mu_origin, above=MU_WATER_140KEV * 1.01)
    np.testing.assert_allclose(centre, marker_centre_xyz_mm(CT_MARKER, CT_VOXEL, CT_ORIGIN), atol=HALF_VOXEL_MM)
    assert got["row"]["position"] == (nm.get("position") or "HFS")


def test_an_nm_mu_map_scaled_to_per_cm_by_rwvm_is_read_in_cm_1(tmp_path):
    """The NM IOD's way to scale a μ-map (RWVM with UCUM /cm, no RescaleSlope) — once refused as 'looks like HU'."""
    got = _imported(_study(tmp_path / "in", nm={"frame_direction": -1}, mu="nm"), tmp_path / "out")
    mu, voxel, origin = got["mumap"]
    assert mu.shape == (20, 32, 32) and mu.max() == pytest.approx(2 * MU_WATER_140KEV, rel=1e-3)
    np.testing.assert_allclose(_centre_xyz_mm(mu, voxel, origin, above=MU_WATER_140KEV * 1.5),
                               marker_centre_xyz_mm(NM_MARKER, SPECT_VOXEL, SPECT_ORIGIN), atol=HALF_VOXEL_MM)


def test_a_localizer_is_skipped_and_the_ct_covering_the_spect_is_chosen(tmp_path, caplog):
    root = _study(tmp_path / "in")
    uids = _uids_of(root / "nac.dcm")
    write_localizer(root / "topogram.dcm", uids)
    _, hu = marker_study()
    write_ct_habit(root / "ct_short", hu[:4], uids, description="CT short scout region")  # z −30 … −21 mm only
    with caplog.at_level(logging.INFO, logger="mumap.data.dicom"):
        got = _imported(root, tmp_path / "out")
    assert "CT series" in caplog.text and "'CT lowdose', the one covering most of the SPECT" in caplog.text
    mu, voxel, origin = got["mumap"]
    np.testing.assert_allclose(_centre_xyz_mm(mu, voxel, origin, above=MU_WATER_140KEV * 1.01),
                               marker_centre_xyz_mm(CT_MARKER, CT_VOXEL, CT_ORIGIN), atol=HALF_VOXEL_MM)


def _uids_of(path: Path) -> dict:
    """The :func:`tests.helpers.dicom_uids` of the study ``path`` belongs to."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return {"patient": str(ds.PatientID), "study": str(ds.StudyInstanceUID), "frame": str(ds.FrameOfReferenceUID)}


def test_two_ct_series_that_both_cover_the_spect_are_refused_with_both_listed(tmp_path):
    root = _study(tmp_path / "in")
    uids = _uids_of(root / "nac.dcm")
    _, hu = marker_study()
    write_ct_habit(root / "ct_diagnostic", hu, uids, description="CT thorax diagnostic")
    with pytest.raises(DatasetError, match=r"2 μ-map series cover the SPECT's axial extent .* equally well, so "
                                           r".* 'CT lowdose' .* 'CT thorax diagnostic'"):
        import_dicom(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


REFUSED = {  # name: (study arguments, the file and field the one error must name)
    "oblique NM (10° about z)": ({"nm": {"orientation": (0.9848, 0.1736, 0, -0.1736, 0.9848, 0)}},
                                 r"nac\.dcm: ImageOrientationPatient .* is oblique \(10\.0° from the patient axes\)"),
    "CT with x/y drift along z": ({"ct": {"drift_y_mm": 3.0}}, r"ct: ImagePositionPatient drifts 45\.0 mm"),
    "CT with GantryDetectorTilt": ({"ct": {"tilt_deg": 15.0}}, r"ct\d+\.dcm: GantryDetectorTilt is 15°"),
    "NM μ-map whose RWVM says counts": ({"nm": {"units": "{counts}"}, "mu": "nm"},
                                        r"mu\.dcm: a μ-map series, but RealWorldValueMappingSequence .*'\{counts\}'"
                                        r"\) gives its values in counts, not cm⁻¹ or HU"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_be_read_right_is_refused_naming_file_and_field(case, tmp_path):
    arguments, message = REFUSED[case]
    root = tmp_path / "in"
    if case.startswith("NM μ-map"):  # write the μ-map with the wrong units on top of a normal study
        root = _study(root, mu="nm")
        mu_path = root / "mu.dcm"
        ds = pydicom.dcmread(mu_path)
        ds.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "{counts}"
        ds.save_as(mu_path)
    else:
        _study(root, **arguments)
    with pytest.raises(DatasetError, match=message):
        import_dicom(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_units_stated_in_rescale_type_decide_and_a_contradiction_names_the_field(tmp_path):
    root = _study(tmp_path / "in", mu="nm")
    ds = pydicom.dcmread(root / "mu.dcm")
    del ds.RealWorldValueMappingSequence
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1e-5, 0, "HU"
    ds.save_as(root / "mu.dcm")
    with pytest.raises(DatasetError, match=r"mu\.dcm: μ-map expected in HU \(from RescaleType 'HU'\) .* looks like cm"):
        import_dicom(root, tmp_path / "out")


def test_series_volume_reorients_every_position_to_the_same_array(tmp_path):
    """The four patient positions, with either frame direction, give one canonical array, voxel and origin."""
    nac, _ = marker_study()
    uids = dicom_uids("PO")
    for position in ("HFS", "FFS", "HFP", "FFP"):
        for direction in (1, -1):
            write_nm_habit(tmp_path / f"{position}{direction}.dcm", nac, "NAC", uids, position=position,
                           frame_direction=direction)
    for series in find_series(tmp_path):
        volume = series_volume(series)
        assert volume.voxel_zyx_mm == pytest.approx(SPECT_VOXEL) and volume.origin_zyx_mm == pytest.approx(SPECT_ORIGIN)
        np.testing.assert_allclose(volume.data, nac, atol=1e-3, err_msg=str(series.files[0]))


PEER_AGREES = {  # the habits dcm2niix, an independent reader, reads: (NM habits, CT habits)
    "NM HFP": ({"position": "HFP"}, None),
    "NM geometry in DetectorInformationSequence": ({"geometry": "detector"}, None),
    "CT FFS": (None, {"position": "FFS"}), "CT HFP": (None, {"position": "HFP"}),
    "Enhanced CT FFP": (None, {"enhanced": True, "position": "FFP"}),
}


@pytest.mark.parametrize("case", PEER_AGREES)
def test_dcm2niix_reads_the_same_volume(case, tmp_path):
    """dcm2niix (Rorden's converter) on the same files gives the same voxels, voxel size and origin. It is no
    peer for a negative SpacingBetweenSlices (it stacks NM frames along +z whatever the sign) or for RWVM (it
    keeps the stored values): those are checked by the marker tests above."""
    dcm2niix = shutil.which("dcm2niix", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if dcm2niix is None:
        pytest.skip("dcm2niix not installed (pip install dcm2niix; in the test extras)")
    nm, ct = PEER_AGREES[case]
    nac, hu = marker_study()
    folder = tmp_path / "series"
    folder.mkdir()
    if nm is not None:
        write_nm_habit(folder / "nac.dcm", nac, "NAC", dicom_uids("PD"), **nm)
    else:
        write_ct_habit(folder, hu, dicom_uids("PD"), **ct)
    out = tmp_path / "nifti"
    out.mkdir()
    subprocess.run([dcm2niix, "-z", "y", "-f", "peer", "-o", str(out), str(folder)], capture_output=True,
                   check=True, timeout=120)
    peer, peer_voxel, peer_origin = io.load_nifti(out / "peer.nii.gz")
    [series] = find_series(folder)
    ours = series_volume(series)
    assert ours.voxel_zyx_mm == pytest.approx(peer_voxel, abs=1e-3)
    assert ours.origin_zyx_mm == pytest.approx(peer_origin, abs=1e-2)
    np.testing.assert_allclose(ours.data, peer, atol=1e-2)

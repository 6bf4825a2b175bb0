"""Importing DICOM NM/CT series into the contract (CT μ resampled onto the SPECT grid); bad input writes nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from mumap.cli import main as cli
from mumap.data import io
from mumap.data.dicom import import_dicom
from mumap.data.io import DatasetError
from mumap.spect.attenuation import MU_WATER_140KEV
from tests.helpers import SPECT_ORIGIN, SPECT_VOXEL, cylinder, dicom_uids, write_ct, write_nm


@pytest.fixture
def dicom_folder(tmp_path) -> Path:
    """Patient A: nAC + SC (stress) and a CT μ-map on a finer, shorter grid; patient B: nAC, vendor AC, NM μ-map."""
    root = tmp_path / "dicom"
    root.mkdir()
    body = cylinder((20, 32, 32), SPECT_VOXEL, SPECT_ORIGIN).astype(float)
    a = dicom_uids("PA")
    write_nm(root / "a_nac.dcm", 5.0 * body, "MPI stress IRNC", a)
    write_nm(root / "a_sc.dcm", 4.0 * body, "MPI stress IRNC SC", a)
    hu = np.where(cylinder((16, 64, 64), (3.0, 2.4, 2.4), (-30.0, -76.8, -76.8)), 0.0, -1000.0)
    write_ct(root / "a_ct", hu, a)
    b = dicom_uids("PB")
    write_nm(root / "b_nac.dcm", 3.0 * body, "rest NAC", b)
    write_nm(root / "b_ac.dcm", 9.0 * body, "rest IRAC", b)
    write_nm(root / "b_mu.dcm", MU_WATER_140KEV * body, "mumap", b, slope=1e-4)
    (root / "notes.txt").write_text("not DICOM")
    return root


def test_dicom_import_writes_the_contract(dicom_folder, tmp_path):
    studies = import_dicom(dicom_folder, tmp_path / "out")
    with open(studies) as f:
        rows = {row["patient_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"PA", "PB"}
    a, b = rows["PA"], rows["PB"]
    assert (a["sex"], a["age"], a["height_cm"], a["weight_kg"], a["protocol"]) == ("M", "64", "178.0", "85.0", "stress")
    assert a["sc"] and not a["ctac"] and b["ctac"] and not b["sc"]
    root = studies.parent
    nac, voxel, origin = io.load_nifti(root / a["nac"])
    mu, mu_voxel, mu_origin = io.load_nifti(root / a["mumap"])
    # cropped to the CT's axial extent (−30 … +15 mm), μ resampled onto the SPECT grid
    assert nac.shape == mu.shape == (10, 32, 32)
    assert mu_voxel == pytest.approx(SPECT_VOXEL) and voxel == pytest.approx(SPECT_VOXEL)
    assert origin[0] == pytest.approx(-28.8) and mu_origin == pytest.approx(origin)
    assert mu[5, 16, 16] == pytest.approx(MU_WATER_140KEV, rel=1e-3) and mu[5, 0, 0] == 0.0
    assert nac[5, 16, 16] == pytest.approx(5.0, rel=1e-3)
    mu_b, _, _ = io.load_nifti(root / b["mumap"])
    assert mu_b.shape == (20, 32, 32) and mu_b.max() == pytest.approx(MU_WATER_140KEV, rel=1e-3)


def test_cli_import_reports_errors(dicom_folder, tmp_path, capsys):
    assert cli(["import", str(dicom_folder), "--out", str(tmp_path / "ok")]) == 0
    assert cli(["import", str(dicom_folder), "--out", str(tmp_path / "ok")]) == 2
    assert "already exists" in capsys.readouterr().err


def _broken(root: Path, problem: str) -> None:
    body = cylinder((20, 32, 32), SPECT_VOXEL, SPECT_ORIGIN).astype(float)
    uids = dicom_uids("PX")
    if problem != "missing nac":
        write_nm(root / "nac.dcm", (0 if problem == "empty" else 5.0) * body, "stress NAC", uids)
    if problem == "hu where cm-1":
        write_nm(root / "mu.dcm", 1000.0 * body, "MUMAP", uids, slope=1.0)
    elif problem == "frame of reference":
        write_nm(root / "mu.dcm", MU_WATER_140KEV * body, "MUMAP", {**uids, "frame": generate_uid()}, slope=1e-4)
    elif problem == "cm-1 where hu":
        ds_folder = write_ct(root / "ct", np.zeros((16, 64, 64)), uids)
        for path in ds_folder.iterdir():  # RescaleIntercept 0 and tiny values: this "CT" holds cm⁻¹
            import pydicom

            ds = pydicom.dcmread(path)
            ds.RescaleIntercept, ds.RescaleSlope = 0, 1e-4
            ds.PixelData = np.full((64, 64), 1500, dtype=np.uint16).tobytes()
            ds.save_as(path)
    else:
        write_nm(root / "mu.dcm", MU_WATER_140KEV * body, "MUMAP", uids, slope=1e-4)


@pytest.mark.parametrize(("problem", "message"), [
    ("missing nac", "no nAC reconstruction series"),
    ("hu where cm-1", r"mu\.dcm: μ-map expected in cm⁻¹ .* looks like HU"),
    ("cm-1 where hu", r"ct: μ-map expected in HU .* looks like cm⁻¹"),
    ("frame of reference", r"mu\.dcm: FrameOfReferenceUID .* differs"),
    ("empty", r"nac\.dcm: nac is empty"),
])
def test_bad_dicom_gets_one_clear_error_and_writes_nothing(tmp_path, problem, message):
    root = tmp_path / "in"
    root.mkdir()
    _broken(root, problem)
    with pytest.raises(DatasetError, match=message):
        import_dicom(root, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()

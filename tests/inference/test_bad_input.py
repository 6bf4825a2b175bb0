"""Malformed input, generated: ``mumap predict`` and ``mumap import`` give one clear error that names the
file and the problem, exit 2, and write nothing — or, for a corruption that leaves a valid file, succeed."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mumap.cli import main as cli
from mumap.data import io
from tests.helpers import dicom_uids, write_ct, write_nm

pytestmark = pytest.mark.slow  # on the tiny cohort, most with the smoke run's model
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good(tiny_cohort, test_study) -> tuple[np.ndarray, tuple, tuple, bytes]:
    """A valid nAC image (array, voxel mm, origin mm) and its NIfTI file's bytes."""
    path = tiny_cohort / test_study["nac"]
    return (*io.load_nifti(path), path.read_bytes())


def _run(command: list[str], capsys) -> tuple[int, str]:
    code = cli(command)
    err = capsys.readouterr().err
    return code, " ".join(err.split())  # rich wraps long lines


def _predict(source: Path, model_file: Path, folder: Path, capsys) -> tuple[int, str]:
    out = folder / "out"
    code, err = _run(["predict", str(source), "--model", str(model_file), "-o", str(out)], capsys)
    if code != 0:
        assert not out.exists(), "a failed prediction left output"
    assert not list(folder.glob(".tmp-*")), "a temporary file was left behind"
    return code, err


def _import(source: Path, mu: Path, folder: Path, capsys) -> tuple[int, str]:
    listing = folder / "studies.csv"
    listing.write_text(f"id,patient_id,nac,mumap\nS1,P1,{source.name},{mu.name}\n")
    code, err = _run(["import", str(listing), "--out", str(folder / "dataset")], capsys)
    if code != 0:
        assert not (folder / "dataset").exists() and not list(folder.glob(".tmp-*"))
    return code, err


def _fresh(tmp_path: Path) -> Path:
    folder = tmp_path / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@SETTINGS
@given(cut=st.floats(0.0, 0.99))
def test_truncated_nifti(cut, good, model_file, tmp_path, capsys):
    folder = _fresh(tmp_path)
    source = folder / "nac.nii.gz"
    source.write_bytes(good[3][: int(cut * len(good[3]))])
    code, err = _predict(source, model_file, folder, capsys)
    assert code == 2 and err.startswith(f"error: {source}: not a readable NIfTI file")


@SETTINGS
@given(offset=st.integers(0, 10_000), value=st.integers(0, 255))
def test_corrupted_nifti_bytes_fail_clearly_or_pass_validation(offset, value, good, model_file, tmp_path, capsys):
    """A changed byte of the uncompressed file: header fields (dimensions, voxel size, data type, affine)
    or voxels. Either the result passes every check, or one error names the file."""
    folder = _fresh(tmp_path)
    raw = bytearray(gzip.decompress(good[3]))
    raw[offset % len(raw)] = value
    source = folder / "nac.nii"
    source.write_bytes(bytes(raw))
    code, err = _predict(source, model_file, folder, capsys)
    assert code in (0, 2)
    if code == 2:
        assert err.startswith(f"error: {source}") and err.count("error:") == 1 and "Traceback" not in err
    else:
        assert (folder / "out" / "mumap.nii.gz").is_file()


PROBLEMS = {
    # name: (how to make the [z, y, x] image, voxel, origin) from a good one, the expected error)
    "nan": (lambda a, v, o, r: (np.where(r < 0.001, np.nan, a), v, o), "contains non-finite values"),
    "inf": (lambda a, v, o, r: (np.where(r < 0.001, np.inf, a), v, o), "contains non-finite values"),
    "all zero": (lambda a, v, o, r: (np.zeros_like(a), v, o), "is empty (all zeros)"),
    "CT in HU": (lambda a, v, o, r: (np.where(a > 0.05 * a.max(), 40.0, -1000.0), v, o), "looks like a CT in HU"),
    "negative counts": (lambda a, v, o, r: (a - 0.01 * a.max(), v, o), "negative counts"),
    "too few slices": (lambda a, v, o, r: (a[:3], v, o), "implausible size"),
    "absurd voxel size": (lambda a, v, o, r: (a, (v[0], 150.0, 150.0), o), "implausible voxel size"),
}


@SETTINGS
@given(problem=st.sampled_from(sorted(PROBLEMS)), seed=st.integers(0, 2**16),
       entry=st.sampled_from(["predict", "import"]))
def test_bad_voxels_and_grids(problem, seed, entry, good, model_file, tmp_path, capsys):
    folder = _fresh(tmp_path)
    make, message = PROBLEMS[problem]
    image, voxel, origin, _ = good
    random = np.random.default_rng(seed).random(image.shape)
    data, voxel, origin = make(image.astype(np.float32), voxel, origin, random[: image.shape[0]])
    source = folder / "nac.nii.gz"
    io.save_nifti(source, data, voxel, origin)
    if entry == "predict":
        code, err = _predict(source, model_file, folder, capsys)
    else:
        mu = folder / "mu.nii.gz"
        io.save_nifti(mu, np.where(data > 0, 0.15, 0.0) if problem != "all zero" else np.full(data.shape, 0.15),
                      voxel, origin)
        code, err = _import(source, mu, folder, capsys)
    assert code == 2 and f"{source}: " in err and message in err, err


def test_mu_map_in_hu_is_named(good, tmp_path, capsys):
    image, voxel, origin, _ = good
    source, mu = tmp_path / "nac.nii.gz", tmp_path / "mu.nii.gz"
    io.save_nifti(source, image, voxel, origin)
    io.save_nifti(mu, np.where(image > 0.05 * image.max(), 40.0, -1000.0), voxel, origin)
    code, err = _import(source, mu, tmp_path, capsys)
    assert code == 2 and f"{mu}: μ-map expected in cm⁻¹" in err and "looks like HU" in err


def test_four_d_and_oblique_nifti(good, model_file, tmp_path, capsys):
    import nibabel as nib

    image = nib.load(io.save_nifti(tmp_path / "ok.nii.gz", *good[:3]))
    four_d = tmp_path / "four_d.nii.gz"
    nib.save(nib.Nifti1Image(np.stack([image.get_fdata()] * 2, -1), image.affine), four_d)
    code, err = _predict(four_d, model_file, _fresh(tmp_path), capsys)
    assert code == 2 and f"{four_d}: expected a 3-D volume" in err
    oblique = tmp_path / "oblique.nii.gz"
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]
    nib.save(nib.Nifti1Image(image.get_fdata(), rotation @ image.affine), oblique)
    code, err = _predict(oblique, model_file, _fresh(tmp_path), capsys)
    assert code == 2 and f"{oblique}: the affine is oblique" in err


def _dicom_study(folder: Path, good) -> tuple[Path, Path]:
    """A one-series DICOM study folder holding the good nAC image; returns (folder, its file)."""
    study = folder / "study"
    study.mkdir()
    image, voxel, origin, _ = good
    path = write_nm(study / "nac.dcm", image, "stress NAC", dicom_uids("PX"), slope=float(image.max()) / 60000,
                    voxel=voxel, origin=origin)
    return study, path


# in the order the reader checks them (the first missing one is named)
DICOM_FIELDS = ["ImagePositionPatient", "ImageOrientationPatient", "SpacingBetweenSlices", "PixelSpacing",
                "Modality", "SeriesDescription"]


@SETTINGS
@given(drop=st.sets(st.sampled_from(DICOM_FIELDS), min_size=1, max_size=2))
def test_dicom_with_missing_fields(drop, good, model_file, tmp_path, capsys):
    folder = _fresh(tmp_path)
    study, path = _dicom_study(folder, good)
    ds = pydicom.dcmread(path)
    for field in drop:
        delattr(ds, field)
    if "SpacingBetweenSlices" in drop:
        delattr(ds, "SliceThickness")
    ds.save_as(path)
    code, err = _predict(study, model_file, folder, capsys)
    assert code == 2 and str(study) in err
    if {"Modality", "SeriesDescription"} & drop:  # the series is no longer recognisable as an nAC
        assert "no nac reconstruction series" in err
    else:
        field = next(f for f in DICOM_FIELDS if f in drop)
        assert f"missing DICOM field {field}" in err


@SETTINGS
@given(cut=st.floats(0.05, 0.99))
def test_truncated_dicom(cut, good, model_file, tmp_path, capsys):
    folder = _fresh(tmp_path)
    study, path = _dicom_study(folder, good)
    data = path.read_bytes()
    path.write_bytes(data[: int(cut * len(data))])
    code, err = _predict(study, model_file, folder, capsys)
    assert code == 2 and str(study) in err
    assert "no nac reconstruction series" in err or "no DICOM files found" in err or f"{path}:" in err


def test_wrong_modality(good, model_file, tmp_path, capsys):
    study = tmp_path / "study"
    write_ct(study, np.zeros((10, 32, 32)), dicom_uids("PX"))
    code, err = _predict(study, model_file, tmp_path, capsys)
    assert code == 2 and f"{study}: no nac reconstruction series" in err and "found CT" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not DICOM")
    code, err = _predict(empty, model_file, tmp_path, capsys)
    assert code == 2 and f"{empty}: no DICOM files found" in err


@pytest.mark.parametrize("passes", ["1", "-3", "eight"])
def test_impossible_uncertainty_passes_are_refused_before_anything_runs(passes, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["predict", str(tmp_path / "in.nii.gz"), "--model", str(tmp_path / "m.mumap.pt"), "-o",
             str(tmp_path / "out"), "--uncertainty-passes", passes])
    assert exit_info.value.code == 2
    assert "argument --uncertainty-passes" in capsys.readouterr().err and not (tmp_path / "out").exists()

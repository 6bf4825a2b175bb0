"""DICOM input: find NM reconstructions and μ-maps (NM in cm⁻¹ or CT in HU) in a folder, as volumes.

Series are grouped by SeriesInstanceUID and studies by (PatientID, StudyInstanceUID). A series'
role comes from its modality and the words of its SeriesDescription: CT → μ-map in HU; NM with
MUMAP/UMAP/ATTMAP → μ-map in cm⁻¹; NM with NAC/NC/IRNC/NOAC → nAC, or SC when it also says SC or
SCATTER; NM with AC/IRAC/CTAC → the vendor's AC reconstruction. NM reconstructions are one
multi-frame file (frames along +z from ImagePositionPatient, spaced by SpacingBetweenSlices);
CT is one file per slice. Only axial, axis-aligned images are accepted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from mumap.data.importer import ImportedStudy, Volume, check_mu_map, write_dataset
from mumap.data.io import DatasetError
from mumap.utils.atomic import atomic_path

NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
ROLE_WORDS = {
    "mumap": {"MUMAP", "UMAP", "ATTMAP", "MU"},
    "nac": {"NAC", "NC", "IRNC", "NOAC", "UNCORRECTED"},
    "sc": {"SC", "SCATTER"},
    "ctac": {"AC", "IRAC", "CTAC"},
}


@dataclass
class Series:
    uid: str
    files: list[Path]
    header: pydicom.Dataset

    @property
    def words(self) -> set[str]:
        return set(re.split(r"[^A-Z0-9]+", str(self.header.get("SeriesDescription", "")).upper())) - {""}

    @property
    def role(self) -> str | None:
        modality, words = self.header.get("Modality", ""), self.words
        if modality == "CT":
            return "mumap"
        if modality != "NM":
            return None
        if words & ROLE_WORDS["mumap"]:
            return "mumap"
        if words & ROLE_WORDS["nac"]:
            return "sc" if words & ROLE_WORDS["sc"] else "nac"
        if words & ROLE_WORDS["ctac"]:
            return "ctac"
        return None


def find_series(folder: Path) -> list[Series]:
    """Every DICOM series under ``folder`` (non-DICOM files are skipped)."""
    groups: dict[str, list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if "SeriesInstanceUID" in header:
            groups[str(header.SeriesInstanceUID)].append((path, header))
    return [Series(uid, [p for p, _ in members], members[0][1]) for uid, members in groups.items()]


def series_volume(series: Series) -> Volume:
    """The series as a ``[z, y, x]`` volume with real-world values (RescaleSlope/Intercept applied)."""
    if len(series.files) == 1 and int(series.header.get("NumberOfFrames", 1)) > 1:
        return _multiframe_volume(series.files[0])
    return _slice_stack_volume(series.files)


def _multiframe_volume(path: Path) -> Volume:
    ds = _read(path)
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if (position is None or orientation is None) and "DetectorInformationSequence" in ds:
        detector = ds.DetectorInformationSequence[0]
        position, orientation = detector.get("ImagePositionPatient"), detector.get("ImageOrientationPatient")
    _require(path, position is not None, "ImagePositionPatient")
    _check_axial(path, orientation)
    spacing = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    _require(path, spacing is not None, "SpacingBetweenSlices/SliceThickness")
    _require(path, "PixelSpacing" in ds, "PixelSpacing")
    data = _real_world(ds, _pixels(path, ds))
    if data.ndim == 2:
        data = data[None]
    dy, dx = (float(v) for v in ds.PixelSpacing)
    x0, y0, z0 = (float(v) for v in position)
    return Volume(data, (float(spacing), dy, dx), (z0, y0, x0), str(path), _frame_of_reference(ds))


def _slice_stack_volume(paths: list[Path]) -> Volume:
    slices = [_read(p) for p in paths]
    for path, ds in zip(paths, slices, strict=True):
        _require(path, "ImagePositionPatient" in ds, "ImagePositionPatient")
        _require(path, "PixelSpacing" in ds, "PixelSpacing")
        _check_axial(path, ds.get("ImageOrientationPatient"))
    order = np.argsort([float(ds.ImagePositionPatient[2]) for ds in slices])
    slices, paths = [slices[i] for i in order], [paths[i] for i in order]
    z = np.array([float(ds.ImagePositionPatient[2]) for ds in slices])
    steps = np.diff(z)
    if len(z) > 1 and (steps.min() <= 0 or np.ptp(steps) > 0.01 * steps.mean()):
        raise DatasetError(f"{paths[0].parent}: slices are not evenly spaced along z (ImagePositionPatient)")
    data = np.stack([_real_world(ds, _pixels(path, ds)) for path, ds in zip(paths, slices, strict=True)])
    spacing = float(steps.mean()) if len(z) > 1 else float(slices[0].get("SliceThickness", 1.0))
    dy, dx = (float(v) for v in slices[0].PixelSpacing)
    x0, y0, _ = (float(v) for v in slices[0].ImagePositionPatient)
    return Volume(data, (spacing, dy, dx), (float(z[0]), y0, x0), str(paths[0].parent), _frame_of_reference(slices[0]))


def _read(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path)
    except Exception as err:  # a file whose header parsed but whose body is truncated or corrupt
        raise DatasetError(f"{path}: not a readable DICOM file ({type(err).__name__}: {err})") from err


def _pixels(path: Path, ds: pydicom.Dataset) -> np.ndarray:
    try:
        return ds.pixel_array.astype(np.float64)
    except Exception as err:  # truncated or inconsistent pixel data raise many types
        raise DatasetError(f"{path}: pixel data unreadable ({type(err).__name__}: {err})") from err


def _real_world(ds: pydicom.Dataset, pixels: np.ndarray) -> np.ndarray:
    return pixels * float(ds.get("RescaleSlope", 1.0)) + float(ds.get("RescaleIntercept", 0.0))


def _frame_of_reference(ds: pydicom.Dataset) -> str | None:
    return str(ds.FrameOfReferenceUID) if "FrameOfReferenceUID" in ds else None


def _check_axial(path: Path, orientation) -> None:
    _require(path, orientation is not None, "ImageOrientationPatient")
    if not np.allclose([float(v) for v in orientation], [1, 0, 0, 0, 1, 0], atol=1e-3):
        raise DatasetError(f"{path}: ImageOrientationPatient {list(orientation)} is not axial and axis-aligned")


def _require(path: Path, present: bool, field: str) -> None:
    if not present:
        raise DatasetError(f"{path}: missing DICOM field {field}")


def _demographics(header: pydicom.Dataset, words: set[str]) -> dict:
    age = str(header.get("PatientAge", "")).rstrip("Y").lstrip("0")
    size, weight = header.get("PatientSize"), header.get("PatientWeight")
    return {
        "sex": str(header.get("PatientSex", "")),
        "age": int(age) if age.isdigit() else "",
        "height_cm": round(float(size) * 100, 1) if size else "",
        "weight_kg": float(weight) if weight else "",
        "protocol": "stress" if "STRESS" in words else "rest" if "REST" in words else "",
    }


def import_dicom(folder: str | Path, out: str | Path, *, seed: int = 0) -> Path:
    """Import every study found under ``folder`` into the dataset contract at ``out``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    studies: dict[tuple[str, str], dict[str, Series]] = defaultdict(dict)
    for series in find_series(folder):
        role = series.role
        if role is None:
            continue
        key = (str(series.header.get("PatientID", "")), str(series.header.get("StudyInstanceUID", "")))
        if role in studies[key]:
            raise DatasetError(f"{series.files[0]}: a second {role} series in study {key[1]} "
                               f"(also {studies[key][role].files[0]})")
        studies[key][role] = series
    imported = []
    for (patient_id, study_uid), roles in sorted(studies.items()):
        where = next(iter(roles.values())).files[0].parent
        if "nac" not in roles:
            raise DatasetError(f"{where}: study {study_uid} has no nAC reconstruction series (SeriesDescription "
                               f"with one of {sorted(ROLE_WORDS['nac'])})")
        if "mumap" not in roles:
            raise DatasetError(f"{where}: study {study_uid} has no μ-map series (CT, or NM described as "
                               f"{sorted(ROLE_WORDS['mumap'])})")
        mu_series = roles["mumap"]
        units = "HU" if mu_series.header.get("Modality") == "CT" else "cm-1"
        mu = check_mu_map(series_volume(mu_series), units)
        images = {role: series_volume(s) for role, s in roles.items() if role != "mumap"}
        nac_header = roles["nac"].header
        study_id = f"{patient_id}_{study_uid.rsplit('.', 1)[-1]}"
        imported.append(ImportedStudy(study_id, patient_id, images, mu, _demographics(nac_header, roles["nac"].words)))
    return write_dataset(imported, out, seed=seed, source=str(folder))


MU_SLOPE = 1e-5  # cm⁻¹ per stored unit of a written μ-map (uint16: 0 … 0.655 cm⁻¹)
REFERENCE_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientSize",
                  "PatientWeight", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
                  "ReferringPhysicianName", "FrameOfReferenceUID", "PositionReferenceIndicator")


def write_mu_map_series(path: str | Path, mu: np.ndarray, voxel_zyx_mm: tuple[float, float, float],
                        origin_zyx_mm: tuple[float, float, float], reference: pydicom.Dataset,
                        description: str = "MUMAP predicted (mumap)") -> Path:
    """A μ-map ``[z, y, x]`` (cm⁻¹) as a new NM multi-frame series of ``reference``'s patient and study,
    in its Frame of Reference (so viewers overlay it), citing it as the source image; written atomically.
    Our importer reads it back as a μ-map in cm⁻¹ (its description says MUMAP)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path = Path(path)
    if mu.min() < 0 or mu.max() > np.iinfo(np.uint16).max * MU_SLOPE:
        raise ValueError(f"{path}: μ values {mu.min():.3g}…{mu.max():.3g} cm⁻¹ do not fit the stored range")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = NM_IMAGE_STORAGE, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    for key in REFERENCE_KEYS:
        if key in reference:
            setattr(ds, key, reference.data_element(key).value)
    ds.SOPClassUID, ds.SOPInstanceUID = NM_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesDescription, ds.SeriesInstanceUID = "NM", description, generate_uid()
    ds.SeriesNumber = int(reference.get("SeriesNumber", 0) or 0) + 1000
    ds.ImageType = ["DERIVED", "SECONDARY", "RECON TOMO", "EMISSION"]
    source = pydicom.Dataset()
    source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = reference.SOPClassUID, reference.SOPInstanceUID
    ds.SourceImageSequence = [source]
    ds.NumberOfFrames, ds.Rows, ds.Columns = mu.shape
    ds.PixelSpacing = [voxel_zyx_mm[1], voxel_zyx_mm[2]]
    ds.SpacingBetweenSlices = ds.SliceThickness = voxel_zyx_mm[0]
    ds.ImagePositionPatient = [origin_zyx_mm[2], origin_zyx_mm[1], origin_zyx_mm[0]]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = MU_SLOPE, 0, "1/CM"
    ds.PixelData = np.round(mu / MU_SLOPE).astype("<u2").tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path

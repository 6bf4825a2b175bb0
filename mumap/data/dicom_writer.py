"""DICOM output: a μ-map as an NM Image (NM Image IOD, DICOM PS3.3 A.5) in the study of its SPECT input.

The series is a RECON TOMO multi-frame in the reference's patient, study and Frame of Reference (so viewers
overlay it), citing it as its source image. Geometry as the NM IOD puts it: ImagePositionPatient and
ImageOrientationPatient inside DetectorInformationSequence, frames along +z indexed by SliceVector
(FrameIncrementPointer), SpacingBetweenSlices > 0. Values: uint16 with a RealWorldValueMappingSequence to
cm⁻¹ (UCUM ``/cm``), the NM IOD's way to scale values (it has no RescaleSlope). Type 2 attributes the
reference lacks are written empty, as the standard allows. ``dciodvfy`` (dicom3tools) finds no error in it
(tests/data/test_dicom_writer.py). Written with pydicom because highdicom has no NM Image class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

import mumap
from mumap.utils.atomic import atomic_path

NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
MU_SLOPE = 1e-5  # cm⁻¹ per stored unit of a written μ-map (uint16: 0 … 0.655 cm⁻¹)
COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientSize",
          "PatientWeight", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
          "ReferringPhysicianName", "FrameOfReferenceUID", "PositionReferenceIndicator",
          "PatientOrientationCodeSequence", "PatientGantryRelationshipCodeSequence",
          "RadiopharmaceuticalInformationSequence", "EnergyWindowInformationSequence")
EMPTY_IF_ABSENT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                   "StudyID", "AccessionNumber", "ReferringPhysicianName", "PositionReferenceIndicator",
                   "PatientOrientationCodeSequence", "PatientGantryRelationshipCodeSequence",
                   "RadiopharmaceuticalInformationSequence", "EnergyWindowInformationSequence",
                   "CountsAccumulated", "RotationInformationSequence")


def write_mu_map_series(path: str | Path, mu: np.ndarray, voxel_zyx_mm: tuple[float, float, float],
                        origin_zyx_mm: tuple[float, float, float], reference: pydicom.Dataset,
                        description: str = "MUMAP predicted (mumap)") -> Path:
    """A μ-map ``[z, y, x]`` (cm⁻¹, LPS) as a new NM series of ``reference``'s patient and study, written
    atomically. mumap's importer reads it back as a μ-map in cm⁻¹ (its description says MUMAP)."""
    path = Path(path)
    if mu.min() < 0 or mu.max() > np.iinfo(np.uint16).max * MU_SLOPE:
        raise ValueError(f"{path}: μ values {mu.min():.3g}…{mu.max():.3g} cm⁻¹ do not fit the stored range")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = NM_IMAGE_STORAGE, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    for key in COPIED:
        if key in reference:
            ds[key] = reference[key]
    if "PatientOrientationCodeSequence" not in ds and reference.get("PatientPosition"):
        _position_codes(ds, str(reference.PatientPosition))
    for key in EMPTY_IF_ABSENT:
        if key not in ds:
            setattr(ds, key, [] if key.endswith("Sequence") else "")
    ds.SOPClassUID, ds.SOPInstanceUID = NM_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesDescription, ds.SeriesInstanceUID = "NM", description, generate_uid()
    ds.SeriesNumber = int(reference.get("SeriesNumber", 0) or 0) + 1000
    ds.InstanceNumber = 1
    ds.BodyPartExamined = reference.get("BodyPartExamined", "HEART")  # unpaired: Laterality stays absent
    ds.Manufacturer, ds.SoftwareVersions = "mumap", mumap.__version__
    ds.ImageType = ["DERIVED", "PRIMARY", "RECON TOMO", "TRANSMISSION"]
    source = pydicom.Dataset()
    source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = reference.SOPClassUID, reference.SOPInstanceUID
    ds.SourceImageSequence = [source]
    n_slices = mu.shape[0]
    ds.NumberOfFrames, ds.Rows, ds.Columns = mu.shape
    ds.FrameIncrementPointer = Tag("SliceVector")
    ds.SliceVector, ds.NumberOfSlices = list(range(1, n_slices + 1)), n_slices
    ds.NumberOfEnergyWindows = ds.NumberOfDetectors = ds.NumberOfRotations = 1
    ds.PixelSpacing = [_ds(voxel_zyx_mm[1]), _ds(voxel_zyx_mm[2])]
    ds.SpacingBetweenSlices = ds.SliceThickness = _ds(voxel_zyx_mm[0])
    detector = pydicom.Dataset()
    reference_detectors = reference.get("DetectorInformationSequence") or [pydicom.Dataset()]
    detector.CollimatorType = reference_detectors[0].get("CollimatorType", "")
    detector.ImagePositionPatient = [_ds(origin_zyx_mm[2]), _ds(origin_zyx_mm[1]), _ds(origin_zyx_mm[0])]
    detector.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.DetectorInformationSequence = [detector]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RealWorldValueMappingSequence = [_mu_mapping()]
    ds.PixelData = np.round(mu / MU_SLOPE).astype("<u2").tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


def _code(value: str, meaning: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "SCT", meaning
    return item


def _position_codes(ds: pydicom.Dataset, position: str) -> None:
    """PatientPosition (HFS, FFP, …) as the NM IOD states it: PatientOrientationCodeSequence (recumbent, with a
    supine/prone modifier; CID 19, 20) and PatientGantryRelationshipCodeSequence (CID 21), SNOMED CT codes."""
    if position[:2] not in ("HF", "FF") or position[2:] not in ("S", "P"):
        return  # decubitus and unknown positions: the sequences stay empty
    lying = _code("102538003", "recumbent")
    lying.PatientOrientationModifierCodeSequence = [
        _code("40199007", "supine") if position.endswith("S") else _code("1240000", "prone")]
    ds.PatientOrientationCodeSequence = [lying]
    ds.PatientGantryRelationshipCodeSequence = [
        _code("102540008", "headfirst") if position.startswith("HF") else _code("102541007", "feet-first")]


def _mu_mapping() -> pydicom.Dataset:
    """Stored value × :data:`MU_SLOPE` → linear attenuation coefficient in cm⁻¹ (UCUM ``/cm``)."""
    units = pydicom.Dataset()
    units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = "/cm", "UCUM", "/cm"
    mapping = pydicom.Dataset()
    mapping.RealWorldValueFirstValueMapped, mapping.RealWorldValueLastValueMapped = 0, int(np.iinfo(np.uint16).max)
    mapping.RealWorldValueIntercept, mapping.RealWorldValueSlope = 0.0, MU_SLOPE
    mapping.LUTExplanation, mapping.LUTLabel = "linear attenuation coefficient at 140.5 keV", "MU_140KEV"
    mapping.MeasurementUnitsCodeSequence = [units]
    return mapping


def _ds(value: float) -> DSfloat:
    """A decimal string of at most 16 characters (the DS value representation's limit), as close as it allows."""
    return DSfloat(float(value), auto_format=True)

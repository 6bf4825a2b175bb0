"""DICOM written as scanners and workstations write it, for the importer's tests (issue: vendor habits).

Each writer takes a volume on mumap's canonical grid (``[z, y, x]`` LPS, voxel and origin in mm) and writes
it the vendor's way with pydicom; a correct reader gets the canonical volume back. The geometry here is
derived forwards (canonical index → plane, row, column) and independently of ``mumap.data.dicom``, which
inverts it. A study holds an asymmetric marker (:func:`marker_study`) so that a flip or shift is caught.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from tests.helpers import CT_STORAGE, NM_STORAGE, SPECT_ORIGIN, SPECT_VOXEL, _dataset, cylinder

# ImageOrientationPatient as scanners write it per PatientPosition (row, then column direction cosines, LPS)
ORIENTATION = {"HFS": (1, 0, 0, 0, 1, 0), "FFS": (-1, 0, 0, 0, 1, 0), "HFP": (-1, 0, 0, 0, -1, 0),
               "FFP": (1, 0, 0, 0, -1, 0)}
CT_VOXEL, CT_ORIGIN = (3.0, 2.4, 2.4), (-30.0, -76.8, -76.8)
NM_SHAPE, CT_SHAPE = (20, 32, 32), (16, 64, 64)
NM_MARKER = (slice(7, 10), slice(8, 11), slice(22, 25))  # anterior, left, superior of centre: asymmetric
CT_MARKER = (slice(10, 13), slice(16, 20), slice(44, 48))
NAC_BODY, NAC_MARKER, MARKER_HU = 5.0, 50.0, 1000.0


def marker_study() -> tuple[np.ndarray, np.ndarray]:
    """nAC counts on the SPECT grid and CT HU on the CT grid: a body cylinder with a hot (nAC) and a dense
    (CT) block off every symmetry plane."""
    nac = NAC_BODY * cylinder(NM_SHAPE, SPECT_VOXEL, SPECT_ORIGIN)
    nac[NM_MARKER] = NAC_MARKER
    hu = np.where(cylinder(CT_SHAPE, CT_VOXEL, CT_ORIGIN), 0.0, -1000.0)
    hu[CT_MARKER] = MARKER_HU
    return nac, hu


def marker_centre_xyz_mm(marker: tuple[slice, ...], voxel_zyx: tuple, origin_zyx: tuple) -> np.ndarray:
    """The LPS position (x, y, z) in mm of a marker block's centre."""
    zyx = [o + h * (s.start + s.stop - 1) / 2 for s, h, o in zip(marker, voxel_zyx, origin_zyx, strict=True)]
    return np.array(zyx[::-1])


def planes(volume: np.ndarray, voxel_zyx: tuple, origin_zyx: tuple, orientation: tuple, frame_direction: int = 1):
    """``volume`` as planes ``[n, rows, columns]`` with rows along the column cosines and columns along the row
    cosines of ``orientation``, planes along ``frame_direction`` × (row × column); also each plane's first-pixel
    position (x, y, z) mm, (row spacing, column spacing) and the plane step (mm, > 0)."""
    row, column = np.array(orientation[:3], float), np.array(orientation[3:], float)
    directions = (frame_direction * np.cross(row, column), column, row)
    world = [int(np.argmax(np.abs(d))) for d in directions]  # 0: x, 1: y, 2: z
    signs = [int(np.sign(d[w])) for d, w in zip(directions, world, strict=True)]
    data = volume.transpose([2 - w for w in world])
    for axis, sign in enumerate(signs):
        if sign < 0:
            data = np.flip(data, axis)
    positions = []
    for k in range(data.shape[0]):
        xyz = np.array(origin_zyx[::-1], float)
        for axis, (w, sign) in enumerate(zip(world, signs, strict=True)):
            index = (k, 0, 0)[axis]
            xyz[w] += (index if sign > 0 else data.shape[axis] - 1 - index) * voxel_zyx[2 - w]
        positions.append(xyz)
    sizes = [voxel_zyx[2 - w] for w in world]
    return np.ascontiguousarray(data), np.array(positions), (sizes[1], sizes[2]), sizes[0]


def _units_code(code: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "UCUM", code
    return item


def _rwvm(slope: float, units: str) -> pydicom.Dataset:
    mapping = pydicom.Dataset()
    mapping.RealWorldValueFirstValueMapped, mapping.RealWorldValueLastValueMapped = 0, 65535
    mapping.RealWorldValueIntercept, mapping.RealWorldValueSlope = 0.0, slope
    mapping.LUTExplanation, mapping.LUTLabel = units, units
    mapping.MeasurementUnitsCodeSequence = [_units_code(units)]
    return mapping


def _position(ds: pydicom.Dataset, position: str, as_codes: bool) -> None:
    """PatientPosition, or (as NM scanners write it) the NM/PET patient orientation code sequences."""
    if not as_codes:
        ds.PatientPosition = position
        return
    lying, gantry, modifier = pydicom.Dataset(), pydicom.Dataset(), pydicom.Dataset()
    lying.CodeValue, lying.CodingSchemeDesignator, lying.CodeMeaning = "F-10450", "SRT", "recumbent"
    prone = position.endswith("P")
    modifier.CodeValue, modifier.CodingSchemeDesignator = ("F-10310" if prone else "F-10340"), "SRT"
    modifier.CodeMeaning = "prone" if prone else "supine"
    lying.PatientOrientationModifierCodeSequence = [modifier]
    head = position.startswith("HF")
    gantry.CodeValue, gantry.CodingSchemeDesignator = ("F-10470" if head else "F-10480"), "SRT"
    gantry.CodeMeaning = "headfirst" if head else "feet-first"
    ds.PatientOrientationCodeSequence, ds.PatientGantryRelationshipCodeSequence = [lying], [gantry]


def write_nm_habit(path: Path, volume: np.ndarray, description: str, uids: dict, *, position: str = "HFS",
                   frame_direction: int = 1, slices_reversed: bool = False, mapping: str = "rescale",
                   units: str = "{counts}", slope: float = 1e-3, geometry: str = "top", position_codes: bool = False,
                   orientation: tuple | None = None, voxel=SPECT_VOXEL, origin=SPECT_ORIGIN) -> Path:
    """A multi-frame NM reconstruction of ``volume`` (canonical grid) written the vendor's way:

    ``position``: its ImageOrientationPatient (:data:`ORIENTATION`) and PatientPosition (or, with
    ``position_codes``, the NM code sequences); ``frame_direction`` −1: frames against the slice normal with a
    negative SpacingBetweenSlices (GE); ``slices_reversed``: frames stored last slice first, SliceVector N…1;
    ``mapping``: ``rescale`` (RescaleSlope) or ``rwvm`` (RealWorldValueMappingSequence with ``units``, no
    RescaleSlope); ``geometry``: ``top`` or ``detector`` (position and orientation only in
    DetectorInformationSequence); ``orientation`` overrides the position's (an oblique one, say)."""
    orientation = orientation or ORIENTATION[position]
    data, positions, spacing_rc, step = planes(volume, voxel, origin, ORIENTATION[position], frame_direction)
    slice_vector = np.arange(1, data.shape[0] + 1)
    if slices_reversed:
        data, slice_vector = data[::-1], slice_vector[::-1]
    ds = _dataset(path, "NM", NM_STORAGE, uids, description)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.NumberOfFrames, ds.Rows, ds.Columns = data.shape
    ds.SliceVector, ds.NumberOfSlices = [int(v) for v in slice_vector], data.shape[0]
    ds.PixelSpacing, ds.SliceThickness = list(spacing_rc), step
    ds.SpacingBetweenSlices = frame_direction * step
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [float(v) for v in positions[0]], list(orientation)
    if geometry == "detector":
        detector = pydicom.Dataset()
        detector.ImagePositionPatient, detector.ImageOrientationPatient = ds.ImagePositionPatient, list(orientation)
        ds.DetectorInformationSequence = [detector]
        del ds.ImagePositionPatient, ds.ImageOrientationPatient
    _position(ds, position, position_codes)
    if mapping == "rwvm":
        ds.RealWorldValueMappingSequence = [_rwvm(slope, units)]
    else:
        ds.RescaleSlope, ds.RescaleIntercept = slope, 0
    ds.PixelData = np.round(data / slope).astype("<u2").tobytes()
    ds.save_as(path)
    return path


def write_ct_habit(folder: Path, hu: np.ndarray, uids: dict, *, position: str = "HFS", enhanced: bool = False,
                   tilt_deg: float = 0.0, drift_y_mm: float = 0.0, description: str = "CT lowdose",
                   voxel=CT_VOXEL, origin=CT_ORIGIN) -> Path:
    """A CT of ``hu`` (canonical grid) written the vendor's way: one file per slice, in the order the scanner
    moves (feet-first: head→feet), or with ``enhanced`` one Enhanced CT file (per-frame
    PlanePositionSequence, shared orientation, spacing and rescale); ``tilt_deg``: GantryDetectorTilt with the
    axial orientation kept; ``drift_y_mm``: each slice's ImagePositionPatient y shifted by this × its index."""
    folder.mkdir(parents=True, exist_ok=True)
    direction = -1 if position.startswith("FF") else 1
    data, positions, spacing_rc, step = planes(hu, voxel, origin, ORIENTATION[position], direction)
    positions[:, 1] += drift_y_mm * np.arange(len(positions))
    stored = np.round(data + 1024).astype("<u2")
    series = generate_uid()
    if enhanced:
        ds = _dataset(folder / "ct.dcm", "CT", "1.2.840.10008.5.1.4.1.1.2.1", uids, description)
        ds.SeriesInstanceUID = series
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
        del ds.ImageOrientationPatient
        ds.NumberOfFrames, ds.Rows, ds.Columns = data.shape
        shared = pydicom.Dataset()
        orientation, measures, rescale = pydicom.Dataset(), pydicom.Dataset(), pydicom.Dataset()
        orientation.ImageOrientationPatient = list(ORIENTATION[position])
        measures.PixelSpacing, measures.SliceThickness = list(spacing_rc), step
        rescale.RescaleIntercept, rescale.RescaleSlope, rescale.RescaleType = -1024, 1, "HU"
        shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = [orientation], [measures]
        shared.PixelValueTransformationSequence = [rescale]
        ds.SharedFunctionalGroupsSequence = [shared]
        frames = []
        for xyz in positions:
            frame, plane = pydicom.Dataset(), pydicom.Dataset()
            plane.ImagePositionPatient = [float(v) for v in xyz]
            frame.PlanePositionSequence = [plane]
            frames.append(frame)
        ds.PerFrameFunctionalGroupsSequence = frames
        ds.PatientPosition = position
        ds.PixelData = stored.tobytes()
        ds.save_as(folder / "ct.dcm")
        return folder
    for k, plane in enumerate(stored):
        ds = _dataset(folder / f"ct{k:03d}.dcm", "CT", CT_STORAGE, uids, description)
        ds.SeriesInstanceUID, ds.ImageType = series, ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Rows, ds.Columns = plane.shape
        ds.PixelSpacing, ds.SliceThickness = list(spacing_rc), step
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [float(v) for v in positions[k]], \
            list(ORIENTATION[position])
        ds.PatientPosition, ds.GantryDetectorTilt = position, tilt_deg
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = plane.tobytes()
        ds.save_as(folder / f"ct{k:03d}.dcm")
    return folder


def write_localizer(path: Path, uids: dict) -> Path:
    """A CT topogram (ImageType LOCALIZER, coronal), as routine exports include."""
    ds = _dataset(path, "CT", CT_STORAGE, uids, "Topogram 0.6 T20f")
    ds.SeriesInstanceUID, ds.ImageType = generate_uid(), ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 0, -1], [-250.0, 0.0, 200.0]
    ds.Rows, ds.Columns, ds.PixelSpacing = 64, 64, [8.0, 8.0]
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = np.full((64, 64), 1024, dtype="<u2").tobytes()
    ds.save_as(path)
    return path

"""DICOM input: find NM reconstructions and μ-maps (NM in cm⁻¹ or CT in HU) in a folder, as volumes.

Series are grouped by SeriesInstanceUID and studies by (PatientID, StudyInstanceUID). A series'
role comes from its modality and the words of its SeriesDescription: CT → μ-map in HU (localizers,
ImageType LOCALIZER, are skipped); NM with MUMAP/UMAP/ATTMAP → μ-map in cm⁻¹; NM with
NAC/NC/IRNC/NOAC → nAC, or SC when it also says SC or SCATTER; NM with AC/IRAC/CTAC → the vendor's AC
reconstruction.

Geometry, as the DICOM standard (PS3.3) defines it and as vendors write it:

- every series becomes a stack of planes, each with its ImagePositionPatient, one
  ImageOrientationPatient and PixelSpacing; single-frame files (CT) give one plane each;
- NM multi-frame (NM Image IOD, C.8.4): position and orientation at the top level or in
  DetectorInformationSequence; frame *k* holds slice ``SliceVector[k]`` (1-based, default k + 1), and
  slice *s* lies at ``ImagePositionPatient + (s − 1)·SpacingBetweenSlices·(row × column cosines)``: a
  negative SpacingBetweenSlices (GE and others store frames head→feet) reverses the order;
- Enhanced multi-frame (Enhanced CT, and any file with PerFrameFunctionalGroupsSequence): per-frame
  PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence from the per-frame or shared
  functional groups;
- planes are sorted along the slice normal and must be evenly spaced with no in-plane drift and no
  GantryDetectorTilt; any axis-aligned orientation (head or feet first, supine or prone:
  PatientPosition HFS/FFS/HFP/FFP) is reoriented to mumap's ``[z, y, x]`` LPS arrays (x → patient left,
  y → posterior, z → head); an orientation more than :data:`ANGLE_TOLERANCE_DEG` off the axes is refused
  with its angle.

Values: RealWorldValueMappingSequence (slope, intercept and MeasurementUnitsCodeSequence, UCUM) when
present, else RescaleSlope/RescaleIntercept (per frame in Enhanced files, with RescaleType); a μ-map's
units come from those fields (RWVM units, RescaleType) and only without them from the modality (CT → HU,
NM → cm⁻¹). Written here from the standard (PS3.3 C.7.6.2 Image Plane, C.8.4 NM, C.7.6.16 functional
groups) rather than taken from a library: pydicom reads the fields and leaves the geometry to the caller,
and mumap needs the NM IOD's SliceVector/SpacingBetweenSlices rules and one error per problem naming the
field.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from mumap.data.importer import ImportedStudy, Volume, check_mu_map, write_dataset
from mumap.data.io import DatasetError

log = logging.getLogger(__name__)

ROLE_WORDS = {
    "mumap": {"MUMAP", "UMAP", "ATTMAP", "MU"},
    "nac": {"NAC", "NC", "IRNC", "NOAC", "UNCORRECTED"},
    "sc": {"SC", "SCATTER"},
    "ctac": {"AC", "IRAC", "CTAC"},
}
ANGLE_TOLERANCE_DEG = 0.25  # image axes further than this from the patient axes: oblique, refused
DRIFT_TOLERANCE = 0.1  # in-plane drift of the plane positions allowed, as a fraction of the pixel spacing
FULL_COVERAGE = 0.99  # μ-maps spanning this fraction of the SPECT's axial extent cover it: ambiguous if several
UNITS = {  # units words (UCUM codes of RWVM, RescaleType terms) → mumap's units
    "/CM": "cm-1", "1/CM": "cm-1", "CM-1": "cm-1", "[HNSF'U]": "HU", "HU": "HU",
    "{COUNTS}": "counts", "COUNTS": "counts", "CNTS": "counts", "{COUNTS}/S": "counts/s", "BQML": "Bq/ml",
    "BQ/ML": "Bq/ml", "US": None,
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
    def is_localizer(self) -> bool:
        return "LOCALIZER" in [str(v).upper() for v in self.header.get("ImageType", [])]

    @property
    def role(self) -> str | None:
        modality, words = self.header.get("Modality", ""), self.words
        if modality == "CT":
            return None if self.is_localizer else "mumap"
        if modality != "NM":
            return None
        if words & ROLE_WORDS["mumap"]:
            return "mumap"
        if words & ROLE_WORDS["nac"]:
            return "sc" if words & ROLE_WORDS["sc"] else "nac"
        if words & ROLE_WORDS["ctac"]:
            return "ctac"
        return None

    def describe(self) -> str:
        h, number = self.header, self.header.get("SeriesNumber")
        return f"{h.get('Modality', '?')} series{'' if number in (None, '') else f' {number}'} " \
               f"'{h.get('SeriesDescription', '')}'"


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


@dataclass
class ValueMapping:
    """Stored value → real-world value: ``slope · stored + intercept``, in ``units`` (None: not stated),
    and the field that said so (for error messages)."""

    slope: float
    intercept: float
    units: str | None
    read_from: str


@dataclass
class Planes:
    """A series as read: ``values`` ``[n, rows, columns]`` (real-world), each plane's LPS position (mm) of its
    first pixel ``[n, 3]`` (x, y, z), the shared row and column direction cosines and PixelSpacing (mm between
    rows, between columns)."""

    values: np.ndarray
    positions_xyz_mm: np.ndarray
    row_cosines: np.ndarray
    column_cosines: np.ndarray
    spacing_rc_mm: tuple[float, float]
    mapping: ValueMapping
    source: str
    frame_of_reference: str | None


def series_volume(series: Series) -> Volume:
    """The series as a ``[z, y, x]`` LPS volume with real-world values (see the module docstring)."""
    return _volume(_planes(series))


def mu_map_volume(series: Series) -> Volume:
    """A μ-map series in cm⁻¹, its units read from the DICOM (RWVM units, RescaleType, else the modality)."""
    planes = _planes(series)
    units, read_from = planes.mapping.units, planes.mapping.read_from
    if units is None:
        units = "HU" if series.header.get("Modality") == "CT" else "cm-1"
        read_from = f"{read_from}, so units from Modality {series.header.get('Modality')}"
    elif units not in ("cm-1", "HU"):
        raise DatasetError(f"{planes.source}: a μ-map series, but {read_from} gives its values in {units}, "
                           f"not cm⁻¹ or HU")
    return check_mu_map(_volume(planes), units, units_from=read_from)


def _planes(series: Series) -> Planes:
    if len(series.files) == 1:
        ds = _read(series.files[0])
        if "PerFrameFunctionalGroupsSequence" in ds:
            return _enhanced_planes(series.files[0], ds)
        if "NumberOfFrames" in ds:
            return _nm_planes(series.files[0], ds)
        return _slice_planes(series.files, [ds])
    return _slice_planes(series.files, [_read(p) for p in series.files])


def _nm_planes(path: Path, ds: pydicom.Dataset) -> Planes:
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if (position is None or orientation is None) and "DetectorInformationSequence" in ds:
        detector = ds.DetectorInformationSequence[0]
        position, orientation = detector.get("ImagePositionPatient"), detector.get("ImageOrientationPatient")
    _require(path, position is not None, "ImagePositionPatient (top level or DetectorInformationSequence)")
    _require(path, orientation is not None, "ImageOrientationPatient (top level or DetectorInformationSequence)")
    _require(path, "PixelSpacing" in ds, "PixelSpacing")
    spacing = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    _require(path, spacing is not None, "SpacingBetweenSlices/SliceThickness")
    n_frames = int(ds.NumberOfFrames)
    slices = np.array([int(v) for v in ds.get("SliceVector", range(1, n_frames + 1))])
    if sorted(slices) != list(range(1, n_frames + 1)):
        raise DatasetError(f"{path}: SliceVector {slices.tolist()} is not a permutation of the slices 1…{n_frames}")
    row, column = _cosines(path, orientation)
    normal = np.cross(row, column)
    positions = np.array([float(v) for v in position]) + np.outer((slices - 1) * float(spacing), normal)
    mapping = _value_mapping(path, _rwvm(ds), ds)
    values = _pixels(path, ds).reshape(n_frames, int(ds.Rows), int(ds.Columns))
    return Planes(mapping.slope * values + mapping.intercept, positions, row, column, _pixel_spacing(ds), mapping,
                  str(path), _frame_of_reference(ds))


def _enhanced_planes(path: Path, ds: pydicom.Dataset) -> Planes:
    shared = ds.get("SharedFunctionalGroupsSequence", [pydicom.Dataset()])[0]
    frames = ds.PerFrameFunctionalGroupsSequence

    def group(k: int, name: str) -> pydicom.Dataset | None:
        item = frames[k] if name in frames[k] else shared
        return item[name][0] if name in item and len(item[name].value) else None

    positions, orientations, mappings = [], set(), []
    for k in range(len(frames)):
        plane = group(k, "PlanePositionSequence")
        _require(path, plane is not None and "ImagePositionPatient" in plane,
                 f"PlanePositionSequence ImagePositionPatient of frame {k + 1}")
        positions.append([float(v) for v in plane.ImagePositionPatient])
        orientation = group(k, "PlaneOrientationSequence")
        _require(path, orientation is not None, f"PlaneOrientationSequence of frame {k + 1}")
        orientations.add(tuple(round(float(v), 6) for v in orientation.ImageOrientationPatient))
        detail = group(k, "CTAcquisitionDetailsSequence")
        _check_tilt(path, detail)
        rwvm = frames[k] if "RealWorldValueMappingSequence" in frames[k] else shared
        mappings.append(_value_mapping(path, _rwvm(rwvm), group(k, "PixelValueTransformationSequence")))
    if len(orientations) > 1:
        raise DatasetError(f"{path}: frames have {len(orientations)} different ImageOrientationPatient values "
                           f"(PlaneOrientationSequence); one stack of parallel planes is needed")
    measures = group(0, "PixelMeasuresSequence")
    _require(path, measures is not None and "PixelSpacing" in measures, "PixelMeasuresSequence PixelSpacing")
    row, column = _cosines(path, next(iter(orientations)))
    _check_same_units(path, mappings)
    values = _pixels(path, ds).reshape(len(frames), int(ds.Rows), int(ds.Columns))
    values = np.stack([m.slope * v + m.intercept for m, v in zip(mappings, values, strict=True)])
    return Planes(values, np.array(positions), row, column, _pixel_spacing(measures), mappings[0], str(path),
                  _frame_of_reference(ds))


def _slice_planes(paths: list[Path], slices: list[pydicom.Dataset]) -> Planes:
    orientations = set()
    for path, ds in zip(paths, slices, strict=True):
        _require(path, "ImagePositionPatient" in ds, "ImagePositionPatient")
        _require(path, "ImageOrientationPatient" in ds, "ImageOrientationPatient")
        _require(path, "PixelSpacing" in ds, "PixelSpacing")
        _check_tilt(path, ds)
        orientations.add(tuple(round(float(v), 6) for v in ds.ImageOrientationPatient))
    where = paths[0] if len(paths) == 1 else paths[0].parent
    if len(orientations) > 1:
        raise DatasetError(f"{where}: slices have {len(orientations)} different ImageOrientationPatient values")
    row, column = _cosines(paths[0], next(iter(orientations)))
    mappings = [_value_mapping(path, _rwvm(ds), ds) for path, ds in zip(paths, slices, strict=True)]
    _check_same_units(where, mappings)
    values = np.stack([m.slope * _pixels(path, ds).reshape(int(ds.Rows), int(ds.Columns)) + m.intercept
                       for m, path, ds in zip(mappings, paths, slices, strict=True)])
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in slices])
    return Planes(values, positions, row, column, _pixel_spacing(slices[0]), mappings[0], str(where),
                  _frame_of_reference(slices[0]))


def _volume(planes: Planes) -> Volume:
    """Sort the planes along their normal, check the stack, and reorient it to ``[z, y, x]`` LPS."""
    where = planes.source
    normal = np.cross(planes.row_cosines, planes.column_cosines)
    depth = planes.positions_xyz_mm @ normal
    order = np.argsort(depth, kind="stable")
    values, positions, depth = planes.values[order], planes.positions_xyz_mm[order], depth[order]
    offsets = positions - positions[0]
    drift = float(np.max(np.linalg.norm(offsets - np.outer(offsets @ normal, normal), axis=1)))
    if drift > DRIFT_TOLERANCE * min(planes.spacing_rc_mm):
        raise DatasetError(f"{where}: ImagePositionPatient drifts {drift:.1f} mm within the image plane from slice "
                           f"to slice (a tilted or sheared stack); only straight stacks are read")
    steps = np.diff(depth)
    if len(depth) > 1 and (steps.min() <= 0 or np.ptp(steps) > 0.01 * steps.mean()):
        raise DatasetError(f"{where}: slices are not evenly spaced along the slice normal (ImagePositionPatient: "
                           f"steps {steps.min():.2f}…{steps.max():.2f} mm)")
    step = float(steps.mean()) if len(depth) > 1 else float(planes.spacing_rc_mm[0])
    # array axes (plane, row, column) run along (normal, column cosines, row cosines) with these sizes (mm)
    directions = (normal, planes.column_cosines, planes.row_cosines)
    sizes = (step, *planes.spacing_rc_mm)
    world = [int(np.argmax(np.abs(d))) for d in directions]  # 0: x, 1: y, 2: z
    order_zyx = [world.index(2), world.index(1), world.index(0)]
    data = values.transpose(order_zyx)
    origin_xyz = positions[0].copy()
    for out_axis, axis in enumerate(order_zyx):
        w = world[axis]
        if directions[axis][w] < 0:
            data = np.flip(data, out_axis)
            origin_xyz[w] -= (values.shape[axis] - 1) * sizes[axis]
    voxel = tuple(float(sizes[a]) for a in order_zyx)
    return Volume(np.ascontiguousarray(data), voxel, (origin_xyz[2], origin_xyz[1], origin_xyz[0]), where,
                  planes.frame_of_reference)


def _cosines(path: Path, orientation) -> tuple[np.ndarray, np.ndarray]:
    """Row and column direction cosines, each snapped to its patient axis; oblique ones are refused."""
    values = np.array([float(v) for v in orientation])
    if values.size != 6:
        raise DatasetError(f"{path}: ImageOrientationPatient {list(orientation)} does not hold 6 values")
    snapped = []
    for cosines in (values[:3], values[3:]):
        cosines = cosines / np.linalg.norm(cosines)
        axis = int(np.argmax(np.abs(cosines)))
        angle = float(np.degrees(np.arccos(min(1.0, abs(cosines[axis])))))
        if angle > ANGLE_TOLERANCE_DEG:
            raise DatasetError(f"{path}: ImageOrientationPatient {[round(float(v), 4) for v in values]} is oblique "
                               f"({angle:.1f}° from the patient axes); only axis-aligned images are read "
                               f"(reslice it axially first)")
        snapped.append(np.eye(3)[axis] * np.sign(cosines[axis]))
    if snapped[0] @ snapped[1] != 0:
        raise DatasetError(f"{path}: ImageOrientationPatient {list(orientation)} has parallel row and column axes")
    return snapped[0], snapped[1]


def _check_tilt(path: Path, ds: pydicom.Dataset | None) -> None:
    tilt = float(ds.get("GantryDetectorTilt", 0) or 0) if ds is not None else 0.0
    if abs(tilt) > 1e-3:
        raise DatasetError(f"{path}: GantryDetectorTilt is {tilt:g}°; a tilted CT is sheared along z and would "
                           f"misplace the μ-map: reconstruct it without tilt (or resample it axially) first")


def _rwvm(ds: pydicom.Dataset) -> pydicom.Dataset | None:
    return ds.RealWorldValueMappingSequence[0] if len(ds.get("RealWorldValueMappingSequence", [])) else None


def _value_mapping(path: Path, rwvm: pydicom.Dataset | None, rescale: pydicom.Dataset | None) -> ValueMapping:
    """Real-world values from RealWorldValueMappingSequence (first item) if given, else RescaleSlope/Intercept."""
    if rwvm is not None:
        if "RealWorldValueSlope" not in rwvm:
            raise DatasetError(f"{path}: RealWorldValueMappingSequence maps values through a table "
                               f"(RealWorldValueLUTData), which mumap does not read; only slope and intercept")
        code = ""
        if len(rwvm.get("MeasurementUnitsCodeSequence", [])):
            code = str(rwvm.MeasurementUnitsCodeSequence[0].get("CodeValue", ""))
        return ValueMapping(float(rwvm.RealWorldValueSlope), float(rwvm.get("RealWorldValueIntercept", 0) or 0),
                            _units(code), f"RealWorldValueMappingSequence (MeasurementUnitsCodeSequence '{code}')")
    if rescale is not None and ("RescaleSlope" in rescale or "RescaleIntercept" in rescale):
        kind = str(rescale.get("RescaleType", "") or "")
        read_from = f"RescaleType '{kind}'" if kind else "RescaleSlope/RescaleIntercept (no RescaleType)"
        return ValueMapping(float(rescale.get("RescaleSlope", 1) or 1), float(rescale.get("RescaleIntercept", 0) or 0),
                            _units(kind), read_from)
    return ValueMapping(1.0, 0.0, None, "no RescaleSlope or RealWorldValueMappingSequence (stored values as they are)")


def _units(word: str) -> str | None:
    return UNITS.get(word.strip().upper(), word.strip()) if word.strip() else None


def _check_same_units(where, mappings: list[ValueMapping]) -> None:
    units = {m.units for m in mappings}
    if len(units) > 1:
        raise DatasetError(f"{where}: frames or slices state different units {sorted(map(str, units))}")


def _pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float]:
    dy, dx = (float(v) for v in ds.PixelSpacing)
    return dy, dx


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


def _frame_of_reference(ds: pydicom.Dataset) -> str | None:
    return str(ds.FrameOfReferenceUID) if "FrameOfReferenceUID" in ds else None


def _require(path: Path, present: bool, field: str) -> None:
    if not present:
        raise DatasetError(f"{path}: missing DICOM field {field}")


def patient_position(header: pydicom.Dataset) -> str:
    """HFS, FFS, HFP, FFP, … from PatientPosition, else from the NM/PET PatientOrientationCodeSequence (its
    PatientOrientationModifierCodeSequence: supine/prone) and PatientGantryRelationshipCodeSequence
    (headfirst/feet-first); "" when neither says."""
    position = str(header.get("PatientPosition", "") or "").strip().upper()
    if position:
        return position

    def meaning(item: pydicom.Dataset | None) -> str:
        return str(item.get("CodeMeaning", "")).lower() if item is not None else ""

    orientation = header.get("PatientOrientationCodeSequence") or [None]
    modifier = orientation[0].get("PatientOrientationModifierCodeSequence") if orientation[0] is not None else None
    lying = meaning((modifier or [None])[0])
    gantry = meaning((header.get("PatientGantryRelationshipCodeSequence") or [None])[0])
    head = "HF" if "head" in gantry else "FF" if "feet" in gantry or "foot" in gantry else ""
    lie = "S" if "supine" in lying else "P" if "prone" in lying else ""
    return head + lie if head and lie else ""


def _demographics(header: pydicom.Dataset, words: set[str]) -> dict:
    age = str(header.get("PatientAge", "")).rstrip("Y").lstrip("0")
    size, weight = header.get("PatientSize"), header.get("PatientWeight")
    return {
        "sex": str(header.get("PatientSex", "")),
        "age": int(age) if age.isdigit() else "",
        "height_cm": round(float(size) * 100, 1) if size else "",
        "weight_kg": float(weight) if weight else "",
        "protocol": "stress" if "STRESS" in words else "rest" if "REST" in words else "",
        "position": patient_position(header),
    }


def choose_mu_map(candidates: list[Series], nac: Volume) -> Volume:
    """The μ-map of a study from its candidate series: an NM μ-map (the vendor's, already on the SPECT) before
    CTs; among several, the one covering most of the nAC image's axial extent (logged); refused, with the
    candidates listed, when two cover it (nearly) equally."""
    nm = [s for s in candidates if s.header.get("Modality") == "NM"]
    group = nm or candidates
    if len(group) == 1:
        chosen = group[0]
        if len(candidates) > 1:
            log.info("%s: μ-map from %s; ignored %s", chosen.files[0].parent, chosen.describe(),
                     ", ".join(s.describe() for s in candidates if s is not chosen))
        return mu_map_volume(chosen)
    lo, hi = nac.z_range()
    volumes = [mu_map_volume(s) for s in group]
    coverage = [max(0.0, min(hi, v.z_range()[1]) - max(lo, v.z_range()[0])) / max(hi - lo, 1e-6) for v in volumes]
    best = int(np.argmax(coverage))
    rivals = [k for k, c in enumerate(coverage) if k != best and c >= min(coverage[best], FULL_COVERAGE) - 0.01]
    if rivals or coverage[best] == 0:
        listed = "; ".join(f"{s.describe()} ({s.files[0].parent}) z {v.z_range()[0]:.0f}…{v.z_range()[1]:.0f} mm"
                           for s, v in zip(group, volumes, strict=True))
        if coverage[best] == 0:
            raise DatasetError(f"{group[0].files[0].parent}: none of the {len(group)} μ-map series overlaps the "
                               f"SPECT's axial extent {lo:.0f}…{hi:.0f} mm: {listed}")
        raise DatasetError(f"{group[0].files[0].parent}: {1 + len(rivals)} μ-map series cover the SPECT's axial extent "
                           f"{lo:.0f}…{hi:.0f} mm equally well, so which one to use is ambiguous: {listed}; keep one")
    chosen = group[best]
    log.info("%s: μ-map from %s, the one covering most of the SPECT (z %.0f…%.0f mm); ignored %s",
             chosen.files[0].parent, chosen.describe(), lo, hi,
             ", ".join(s.describe() for s in candidates if s is not chosen))
    return volumes[best]


def import_dicom(folder: str | Path, out: str | Path, *, seed: int = 0) -> Path:
    """Import every study found under ``folder`` into the dataset contract at ``out``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    studies: dict[tuple[str, str], dict[str, list[Series]]] = defaultdict(lambda: defaultdict(list))
    for series in find_series(folder):
        role = series.role
        if role is None:
            continue
        key = (str(series.header.get("PatientID", "")), str(series.header.get("StudyInstanceUID", "")))
        if role != "mumap" and studies[key][role]:
            raise DatasetError(f"{series.files[0]}: a second {role} series in study {key[1]} "
                               f"(also {studies[key][role][0].files[0]})")
        studies[key][role].append(series)
    imported = []
    for (patient_id, study_uid), roles in sorted(studies.items()):
        where = next(iter(roles.values()))[0].files[0].parent
        if not roles["nac"]:
            raise DatasetError(f"{where}: study {study_uid} has no nAC reconstruction series (SeriesDescription "
                               f"with one of {sorted(ROLE_WORDS['nac'])})")
        if not roles["mumap"]:
            raise DatasetError(f"{where}: study {study_uid} has no μ-map series (CT, or NM described as "
                               f"{sorted(ROLE_WORDS['mumap'])})")
        images = {role: series_volume(s[0]) for role, s in roles.items() if role != "mumap" and s}
        mu = choose_mu_map(roles["mumap"], images["nac"])
        nac = roles["nac"][0]
        study_id = f"{patient_id}_{study_uid.rsplit('.', 1)[-1]}"
        imported.append(ImportedStudy(study_id, patient_id, images, mu, _demographics(nac.header, nac.words)))
    return write_dataset(imported, out, seed=seed, source=str(folder))

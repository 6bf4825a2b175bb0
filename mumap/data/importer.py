"""Import real studies into the dataset contract: DICOM series or NIfTI files listed in a CSV.

Both ways end in :func:`write_dataset`: every study's SPECT images (nAC, optional SC and vendor
CTAC) are cropped to the axial extent of its μ-map, the μ-map is resampled onto the SPECT grid
when the grids differ, a CT in HU becomes μ at 140.5 keV, patients are split 70:15:15, and the
dataset is written to a temporary folder that is renamed to ``out`` only when every study passed:
bad input writes nothing.

HU → μ (cm⁻¹ at 140.5 keV), bilinear: ``μ = μ_w·(1 + HU/1000)`` for HU ≤ 0 (air–water mixture)
and ``μ = μ_w·(1 + b·HU/1000)`` above (water–bone mixture) with μ_w the NIST water value at 140.5 keV
(:data:`mumap.spect.attenuation.MU_WATER_140KEV`, 0.153 cm⁻¹, which the synthetic phantoms use too) and
b = 0.474, which maps cortical bone (≈ 1900 HU at 120 kVp) to NIST cortical bone, 0.291 cm⁻¹.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import mumap
from mumap.data import io
from mumap.data.bed import find_bed
from mumap.data.io import DatasetError
from mumap.spect.attenuation import MU_WATER_140KEV
from mumap.utils.atomic import atomic_path, write_csv_atomic

BONE_SLOPE = 0.474
SPECT_KINDS = ("nac", "sc", "ctac")


def hu_to_mu(hu: np.ndarray) -> np.ndarray:
    """CT numbers (HU) → linear attenuation at 140.5 keV (cm⁻¹), bilinear, clipped at 0."""
    hu = np.asarray(hu, dtype=np.float64)
    mu = np.where(hu <= 0, MU_WATER_140KEV * (1 + hu / 1000.0), MU_WATER_140KEV * (1 + BONE_SLOPE * hu / 1000.0))
    return np.clip(mu, 0.0, None).astype(np.float32)


@dataclass
class Volume:
    """An axis-aligned volume ``[z, y, x]`` with voxel size (mm) and LPS origin (mm) of voxel [0, 0, 0]."""

    data: np.ndarray
    voxel_zyx_mm: tuple[float, float, float]
    origin_zyx_mm: tuple[float, float, float]
    source: str  # the file (or series) it came from, for error messages
    frame_of_reference: str | None = None

    def z_range(self) -> tuple[float, float]:
        z0 = self.origin_zyx_mm[0]
        return z0, z0 + (self.data.shape[0] - 1) * self.voxel_zyx_mm[0]


@dataclass
class ImportedStudy:
    """One study's volumes (``mumap`` in cm⁻¹) and demographics, as the importer found them."""

    study_id: str
    patient_id: str
    images: dict[str, Volume]
    mumap: Volume
    demographics: dict = field(default_factory=dict)


def check_mu_map(volume: Volume, units: str, units_from: str = "its stated units") -> Volume:
    """Validate a μ-map given in ``units`` ('cm-1' or 'HU') and return it in cm⁻¹; ``units_from`` names where the
    units were read (a CSV column, a DICOM field) so that a contradiction says what to fix."""
    if units not in ("cm-1", "HU"):
        raise DatasetError(f"{volume.source}: unknown μ-map units {units!r} (cm-1 or HU)")
    data = volume.data
    _check_finite_nonempty(volume, "μ-map")
    looks_like_hu = data.min() < -200 or data.max() > 5
    if units == "cm-1" and looks_like_hu:
        raise DatasetError(f"{volume.source}: μ-map expected in cm⁻¹ (from {units_from}) but values span "
                           f"{data.min():.0f}…{data.max():.0f}, which looks like HU")
    if units == "HU" and not looks_like_hu:
        raise DatasetError(f"{volume.source}: μ-map expected in HU (from {units_from}) but values span "
                           f"{data.min():.3g}…{data.max():.3g}, which looks like cm⁻¹")
    if units == "cm-1" and data.min() < 0:
        raise DatasetError(f"{volume.source}: μ-map has negative attenuation {data.min():.3g} cm⁻¹")
    mu = hu_to_mu(data) if units == "HU" else data.astype(np.float32)
    return Volume(mu, volume.voxel_zyx_mm, volume.origin_zyx_mm, volume.source, volume.frame_of_reference)


def prepare(study: ImportedStudy) -> dict[str, Volume]:
    """Cropped SPECT images and the μ-map on the SPECT grid, all sharing one grid."""
    nac = study.images.get("nac")
    if nac is None:
        raise DatasetError(f"study {study.study_id}: no nAC reconstruction found")
    for kind, volume in study.images.items():
        check_spect_image(volume, kind)
        if volume.data.shape != nac.data.shape or not np.allclose(volume.voxel_zyx_mm, nac.voxel_zyx_mm) \
                or not np.allclose(volume.origin_zyx_mm, nac.origin_zyx_mm, atol=0.5):
            raise DatasetError(f"{volume.source}: {kind} is not on the grid of the nAC image {nac.source}")
        if volume.frame_of_reference and nac.frame_of_reference \
                and volume.frame_of_reference != nac.frame_of_reference:
            raise DatasetError(f"{volume.source}: FrameOfReferenceUID differs from the nAC image's")
    mu = study.mumap
    if mu.frame_of_reference and nac.frame_of_reference and mu.frame_of_reference != nac.frame_of_reference:
        raise DatasetError(f"{mu.source}: FrameOfReferenceUID {mu.frame_of_reference} differs from the SPECT "
                           f"images' {nac.frame_of_reference}: register the μ-map to the SPECT first")
    lo, hi = mu.z_range()
    z = nac.origin_zyx_mm[0] + np.arange(nac.data.shape[0]) * nac.voxel_zyx_mm[0]
    keep = np.flatnonzero((z >= lo - nac.voxel_zyx_mm[0] / 2) & (z <= hi + nac.voxel_zyx_mm[0] / 2))
    if keep.size == 0:
        raise DatasetError(f"{mu.source}: the μ-map's axial extent {lo:.0f}…{hi:.0f} mm misses the SPECT images")
    first, last = int(keep[0]), int(keep[-1]) + 1
    origin = (float(z[first]), nac.origin_zyx_mm[1], nac.origin_zyx_mm[2])
    shape = (last - first, *nac.data.shape[1:])
    out = {kind: Volume(v.data[first:last], v.voxel_zyx_mm, origin, v.source) for kind, v in study.images.items()}
    out["mumap"] = Volume(resample(mu, shape, nac.voxel_zyx_mm, origin), nac.voxel_zyx_mm, origin, mu.source)
    return out


def resample(volume: Volume, shape: tuple[int, int, int], voxel_zyx_mm: tuple[float, float, float],
             origin_zyx_mm: tuple[float, float, float]) -> np.ndarray:
    """Trilinear resampling of ``volume`` onto an axis-aligned grid (zero outside)."""
    same = volume.data.shape == shape and np.allclose(volume.voxel_zyx_mm, voxel_zyx_mm) \
        and np.allclose(volume.origin_zyx_mm, origin_zyx_mm, atol=1e-3)
    if same:
        return volume.data.astype(np.float32)
    axes = []
    for axis in (2, 1, 0):  # grid_sample wants (x, y, z) order in the last dimension
        target = origin_zyx_mm[axis] + np.arange(shape[axis]) * voxel_zyx_mm[axis]
        index = (target - volume.origin_zyx_mm[axis]) / volume.voxel_zyx_mm[axis]
        axes.append(torch.from_numpy(2 * index / max(volume.data.shape[axis] - 1, 1) - 1))
    gx, gy, gz = axes
    grid = torch.stack(torch.meshgrid(gz, gy, gx, indexing="ij")[::-1], dim=-1)[None].float()
    source = torch.from_numpy(np.ascontiguousarray(volume.data, dtype=np.float32))[None, None]
    return torch.nn.functional.grid_sample(source, grid, align_corners=True)[0, 0].numpy()


def write_dataset(studies: list[ImportedStudy], out: str | Path, *, seed: int = 0, source: str = "") -> Path:
    """Validate every study, then write the contract to ``out`` atomically; returns studies.csv."""
    out = Path(out)
    if out.exists():
        raise DatasetError(f"{out}: already exists; import into a new folder")
    if not studies:
        raise DatasetError(f"{source or out}: no studies found")
    prepared = [prepare(study) for study in studies]  # all errors surface before anything is written
    patients = sorted({s.patient_id for s in studies})
    order = np.random.default_rng(seed).permutation(len(patients))
    n_train, n_val = round(0.70 * len(patients)), round(0.15 * len(patients))
    split = {patients[i]: "train" if r < n_train else "val" if r < n_train + n_val else "test"
             for r, i in enumerate(order)}
    with atomic_path(out) as tmp:  # renamed to out only when every study is written
        tmp.mkdir()
        rows = []
        for study, volumes in zip(studies, prepared, strict=True):
            folder = tmp / study.study_id
            folder.mkdir()
            row = {"id": study.study_id, "patient_id": study.patient_id, "protocol": "", "sex": "", "age": "",
                   "height_cm": "", "weight_kg": "", "position": ""}
            row.update({k: v for k, v in study.demographics.items() if k in row})
            row["split"] = split[study.patient_id]
            for kind in (*SPECT_KINDS, "mumap"):
                if kind in volumes:
                    v = volumes[kind]
                    io.save_nifti(folder / f"{kind}.nii.gz", v.data.astype(np.float32), v.voxel_zyx_mm, v.origin_zyx_mm)
                row[kind] = f"{study.study_id}/{kind}.nii.gz" if kind in volumes else ""
            mu = volumes["mumap"]
            io.save_nifti(folder / "bed.nii.gz", find_bed(mu.data, mu.voxel_zyx_mm).astype(np.uint8), mu.voxel_zyx_mm,
                          mu.origin_zyx_mm)  # detected once here: the dataset's bed is its one source of truth
            row["bed"] = f"{study.study_id}/bed.nii.gz"
            sources = {kind: v.source for kind, v in volumes.items()}
            (folder / "source.json").write_text(json.dumps(sources, indent=1))
            rows.append(row)
        voxel = prepared[0]["nac"].voxel_zyx_mm
        (tmp / "dataset.json").write_text(json.dumps({
            "generator": f"mumap {mumap.__version__} import", "source": str(source), "seed": seed,
            "voxel_zyx_mm": list(voxel), "energy_keV": 140.5,
            "units": {"nac": "counts", "sc": "counts", "ctac": "counts", "mumap": "cm^-1", "bed": "mask"},
            "hu_to_mu": {"water_cm-1": MU_WATER_140KEV, "bone_slope": BONE_SLOPE},
            "axis_order": "NIfTI (x, y, z) on disk, RAS affine in mm; mumap arrays are [z, y, x]",
        }, indent=1))
        write_csv_atomic(tmp / "studies.csv", rows)
    return out / "studies.csv"


def import_nifti_csv(csv_path: str | Path, out: str | Path, *, seed: int = 0) -> Path:
    """Import studies listed in a CSV: columns ``id, patient_id, nac, mumap`` (paths relative to the CSV),
    optional ``sc, ctac, mumap_units`` (cm-1 or HU, default cm-1) and demographics
    (``protocol, sex, age, height_cm, weight_kg``, and ``position``: HFS, FFS, HFP or FFP)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: file not found")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    required = {"id", "patient_id", "nac", "mumap"}
    missing = required - set(rows[0] if rows else {})
    if missing:
        raise DatasetError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
    studies = []
    for line, row in enumerate(rows, start=2):
        images = {}
        for kind in SPECT_KINDS:
            if row.get(kind):
                images[kind] = _nifti_volume(csv_path.parent / row[kind])
        if not row.get("mumap"):
            raise DatasetError(f"{csv_path}:{line}: study {row['id']} has no mumap file")
        mu = check_mu_map(_nifti_volume(csv_path.parent / row["mumap"]), row.get("mumap_units") or "cm-1",
                          units_from=f"{csv_path}'s mumap_units column (cm-1 or HU; default cm-1)")
        studies.append(ImportedStudy(row["id"], row["patient_id"], images, mu, row))
    return write_dataset(studies, out, seed=seed, source=str(csv_path))


def _nifti_volume(path: Path) -> Volume:
    data, voxel, origin = io.load_nifti(path)
    return Volume(data, voxel, origin, str(path))


def check_spect_image(volume: Volume, kind: str) -> None:
    """A SPECT reconstruction (``kind``: nac, sc, ctac) must be counts: finite, not all zero, not negative
    (a CT in HU is named as such), with a plausible grid (8–1024 voxels and 0.5–20 mm per axis)."""
    _check_finite_nonempty(volume, kind)
    low = float(volume.data.min())
    if low < -100:
        raise DatasetError(f"{volume.source}: {kind} has values down to {low:.0f}, which looks like a CT in HU, "
                           f"not a SPECT reconstruction in counts")
    if low < 0:
        raise DatasetError(f"{volume.source}: {kind} has negative counts ({low:.3g})")
    if not all(8 <= n <= 1024 for n in volume.data.shape):
        raise DatasetError(f"{volume.source}: {kind} has an implausible size {volume.data.shape} (z, y, x) voxels; "
                           f"expected 8–1024 per axis")
    if not all(0.5 <= v <= 20 for v in volume.voxel_zyx_mm):
        raise DatasetError(f"{volume.source}: {kind} has an implausible voxel size {volume.voxel_zyx_mm} mm (z, y, x); "
                           f"expected 0.5–20 mm (check the spacing fields)")


def _check_finite_nonempty(volume: Volume, what: str) -> None:
    if not np.all(np.isfinite(volume.data)):
        raise DatasetError(f"{volume.source}: {what} contains non-finite values (NaN or inf)")
    if volume.data.size == 0 or not np.any(volume.data):
        raise DatasetError(f"{volume.source}: {what} is empty (all zeros)")

"""Files of the dataset contract: NIfTI volumes with mm affines (written atomically), studies.csv.

mumap arrays are ``[z, y, x]`` in DICOM LPS patient axes (x left, y posterior, z head); NIfTI
stores ``(i, j, k) = (x, y, z)`` with an RAS affine, so saving flips the sign of the x and y axes
in the affine, not the data. ``origin_zyx_mm`` is the LPS position (z, y, x) of voxel ``[0, 0, 0]``.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from mumap.utils.atomic import atomic_path


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or breaks the contract; the message names the file."""


def save_nifti(path: str | Path, image: np.ndarray, voxel_zyx_mm: tuple[float, float, float],
               origin_zyx_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Path:
    """Write ``image [z, y, x]`` with voxel sizes (dz, dy, dx) mm as NIfTI (atomically)."""
    path = Path(path)
    image = np.asarray(image)
    if image.ndim != 3:
        raise DatasetError(f"{path}: a volume must be 3-D [z, y, x], got shape {image.shape}")
    dz, dy, dx = voxel_zyx_mm
    z0, y0, x0 = origin_zyx_mm
    affine = np.array([[-dx, 0, 0, -x0], [0, -dy, 0, -y0], [0, 0, dz, z0], [0, 0, 0, 1]], dtype=np.float64)
    nifti = nib.Nifti1Image(np.ascontiguousarray(image.transpose(2, 1, 0)), affine)
    return _save_atomic(nifti, path)


def save_nifti_like(path: str | Path, image: np.ndarray, reference: str | Path) -> Path:
    """Write ``image [z, y, x]`` — on the grid :func:`load_nifti` gives for ``reference`` — with the
    reference's own affine and axis directions, so that it overlays the reference exactly (atomically)."""
    path = Path(path)
    nifti = nib.load(reference)
    if not _axis_aligned(nifti.affine):
        nifti = nib.as_closest_canonical(nifti)  # as load_nifti reads it
    flip = np.sign(np.diag(nifti.affine)[:3]) != np.array([-1, -1, 1])
    data = np.flip(np.asarray(image, dtype=np.float32).transpose(2, 1, 0), tuple(np.flatnonzero(flip)))
    if data.shape != nifti.shape[:3]:
        raise DatasetError(f"{path}: image shape {image.shape} is not the grid of {reference}")
    return _save_atomic(nib.Nifti1Image(np.ascontiguousarray(data), nifti.affine), path)


def _save_atomic(nifti: nib.Nifti1Image, path: Path) -> Path:
    """Save with mm units, so that ``path`` is never half-written (:func:`~mumap.utils.atomic.atomic_path`)."""
    nifti.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(nifti, tmp)
    return path


def load_nifti(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float], tuple[float, float, float]]:
    """``(image [z, y, x], voxel_zyx_mm (dz, dy, dx), origin_zyx_mm (z, y, x))`` of a NIfTI volume."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        nibabel_log = logging.getLogger("nibabel.global")  # it logs header repairs; our error says it once
        level, nibabel_log.level = nibabel_log.level, logging.CRITICAL + 1
        try:
            nifti = nib.load(path)
        finally:
            nibabel_log.level = level
        if not _axis_aligned(nifti.affine):
            nifti = nib.as_closest_canonical(nifti)  # permuted axes → RAS+ (oblique stays oblique)
        data = np.asarray(nifti.dataobj)
    except Exception as err:  # nibabel raises many types for corrupt files
        raise DatasetError(f"{path}: not a readable NIfTI file ({err})") from err
    if data.ndim != 3:
        raise DatasetError(f"{path}: expected a 3-D volume, got shape {data.shape}")
    affine = nifti.affine
    if not _axis_aligned(affine):
        raise DatasetError(f"{path}: the affine is oblique; resample to an axis-aligned grid first")
    if not np.all(np.isfinite(data)):
        raise DatasetError(f"{path}: contains non-finite values (NaN or inf)")
    diagonal = np.diag(affine)[:3]
    flip = np.sign(diagonal) != np.array([-1, -1, 1])  # mumap's NIfTI axes: −x, −y, +z in RAS
    data = np.flip(data, tuple(np.flatnonzero(flip)))
    corner = affine @ np.append(np.where(flip, np.array(data.shape) - 1, 0), 1.0)  # RAS of the new [0, 0, 0]
    spacing = np.abs(diagonal)
    return (np.ascontiguousarray(data.transpose(2, 1, 0)), (float(spacing[2]), float(spacing[1]), float(spacing[0])),
            (float(corner[2]), float(-corner[1]), float(-corner[0])))


def _axis_aligned(affine: np.ndarray) -> bool:
    rotation = affine[:3, :3]
    return bool(np.allclose(rotation, np.diag(np.diag(rotation)), atol=1e-4 * np.abs(rotation).max()))


def read_studies(listing: str | Path) -> list[dict]:
    """The rows of a dataset's ``studies.csv``."""
    listing = Path(listing)
    if not listing.is_file():
        raise DatasetError(f"{listing}: not found — build a cohort (make data) or import one (mumap import)")
    with open(listing, newline="") as f:
        return list(csv.DictReader(f))


def cohort_description(root: str | Path) -> dict:
    """What built the dataset at ``root``, from its ``dataset.json``: ``generator`` (e.g. "mumap 0.6.0 synthetic
    IQ·SPECT cohort" or "mumap 0.6.0 import"), ``preset`` and ``seed`` where recorded; ``{}`` for a folder
    without one (your own data laid out by hand)."""
    manifest = Path(root) / "dataset.json"
    if not manifest.is_file():
        return {}
    try:
        described = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{manifest}: unreadable ({err})") from err
    return {key: described[key] for key in ("generator", "preset", "seed") if key in described}


def read_split(root: str | Path, split: str, max_studies: int | None = None) -> list[dict]:
    """The rows of ``<root>/studies.csv`` whose ``split`` column is ``split`` (train, val, test), in file
    order, at most the first ``max_studies`` of them (None: all). An empty split gives ``[]``: whether that
    is an error is the caller's to say (a :class:`DatasetError` when ``studies.csv`` itself is missing)."""
    return [row for row in read_studies(Path(root) / "studies.csv") if row["split"] == split][:max_studies]

"""Test helpers: tiny objects, DICOM writers, comparisons, killing a process at the right moment."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from mumap.data import io, phantom
from mumap.spect import stir_backend
from mumap.spect.geometry import ImageGrid

SMALL_GRID = ImageGrid((24, 40, 48), (9.6, 9.6, 9.6))  # [z, y, x]: non-cubic, non-square, 9.6 mm voxels


def lv_outer_surface_xyz_mm(a: phantom.Anatomy, n: int = 400) -> np.ndarray:
    """Points ``[n·n, 3]`` (world x, y, z mm) on the LV's outer ellipsoid, apex side of the base plane, sampled
    from its parametric form here, not with the phantom's helpers: axis from azimuth and elevation as the
    phantom's docs state them (anterior −y turned left +x, tilted down −z)."""
    az, el = np.deg2rad(a.lv_azimuth_deg), np.deg2rad(a.lv_elevation_deg)
    u = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])
    e1 = np.cross(u, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    theta, phi = np.meshgrid(np.linspace(0.0, np.arccos(phantom.LV_BASE), n), np.linspace(0.0, 2 * np.pi, n),
                             indexing="ij")
    long_mm, short_mm = a.lv_semi_axes_mm
    points = (long_mm * np.cos(theta)[..., None] * u
              + short_mm * np.sin(theta)[..., None] * (np.cos(phi)[..., None] * e1 + np.sin(phi)[..., None] * e2))
    return points.reshape(-1, 3) + np.asarray(a.heart_centre_xyz_mm)


def loop_to_lv_mm(a: phantom.Anatomy, loop_xyzr_mm) -> float:
    """Shortest distance (mm) from a bowel loop's sphere to the LV's outer surface."""
    x, y, z, r = loop_xyzr_mm
    return float(np.linalg.norm(lv_outer_surface_xyz_mm(a) - [x, y, z], axis=1).min() - r)


def require_stir():
    """STIR's Python module, or a skip with the one reason every STIR test gives where STIR cannot be had."""
    try:
        return stir_backend.stir()  # the one import of STIR, which keeps the floating-point environment
    except ImportError:
        pytest.skip("STIR is not importable (make stir): the STIR backend is not tested", allow_module_level=True)


def smooth_random(grid: ImageGrid, seed: int = 0, radius_voxels: float | None = None) -> torch.Tensor:
    """Blurred uniform noise (float64, ≥ 0), optionally inside a transaxial circle."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, *grid.shape, generator=generator, dtype=torch.float64)
    kernel = torch.ones(1, 1, 5, 5, 5, dtype=torch.float64) / 125
    image = torch.nn.functional.conv3d(noise, kernel, padding=2)[0, 0]
    if radius_voxels is not None:
        _, y, x = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in grid.shape), indexing="ij")
        image = image * torch.from_numpy(np.hypot(y, x) < radius_voxels)
    return image


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


NM_STORAGE, CT_STORAGE = "1.2.840.10008.5.1.4.1.1.20", "1.2.840.10008.5.1.4.1.1.2"
SPECT_VOXEL, SPECT_ORIGIN = (4.8, 4.8, 4.8), (-48.0, -76.8, -76.8)  # (z, y, x) mm: write_nm's default grid


def cylinder(shape: tuple[int, int, int], voxel: tuple[float, float, float], origin: tuple[float, float, float],
             radius_mm: float = 60.0) -> np.ndarray:
    """Boolean [z, y, x] mask of the infinite z-axis cylinder of ``radius_mm`` around x = y = 0 (grid in mm)."""
    _, y, x = np.meshgrid(*(o + np.arange(n) * h for n, h, o in zip(shape, voxel, origin, strict=True)),
                          indexing="ij")
    return np.hypot(x, y) < radius_mm


def _dataset(path: Path, modality: str, sop_class: str, uids: dict, description: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesDescription = modality, description
    ds.PatientID, ds.PatientSex, ds.PatientAge = uids["patient"], "M", "064Y"
    ds.PatientSize, ds.PatientWeight = 1.78, 85
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], generate_uid()
    ds.FrameOfReferenceUID = uids["frame"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    return ds


def write_nm(path: Path, volume: np.ndarray, description: str, uids: dict, slope: float = 1e-3,
             voxel=SPECT_VOXEL, origin=SPECT_ORIGIN) -> Path:
    """A multi-frame NM reconstruction, frames along +z, stored as uint16 × RescaleSlope."""
    ds = _dataset(path, "NM", NM_STORAGE, uids, description)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.NumberOfFrames, ds.Rows, ds.Columns = volume.shape
    ds.PixelSpacing, ds.SpacingBetweenSlices, ds.SliceThickness = [voxel[1], voxel[2]], voxel[0], voxel[0]
    ds.ImagePositionPatient = [origin[2], origin[1], origin[0]]
    ds.RescaleSlope, ds.RescaleIntercept = slope, 0
    ds.PixelData = np.round(volume / slope).astype(np.uint16).tobytes()
    ds.save_as(path)
    return path


def write_ct(folder: Path, hu: np.ndarray, uids: dict, voxel=(3.0, 2.4, 2.4), origin=(-30.0, -76.8, -76.8)) -> Path:
    """An axial CT, one file per slice, stored as HU + 1024 with RescaleIntercept −1024."""
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    for k, plane in enumerate(hu):
        ds = _dataset(folder / f"ct{k:03d}.dcm", "CT", CT_STORAGE, uids, "CT lowdose")
        ds.SeriesInstanceUID = series
        ds.Rows, ds.Columns = plane.shape
        ds.PixelSpacing, ds.SliceThickness = [voxel[1], voxel[2]], voxel[0]
        ds.ImagePositionPatient = [origin[2], origin[1], origin[0] + k * voxel[0]]
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = np.round(plane + 1024).astype(np.uint16).tobytes()
        ds.save_as(folder / f"ct{k:03d}.dcm")
    return folder


def dicom_uids(patient: str) -> dict:
    """Patient id and fresh Study and Frame of Reference UIDs for :func:`write_nm` / :func:`write_ct`."""
    return {"patient": patient, "study": generate_uid(), "frame": generate_uid()}


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines of dicom3tools' ``dciodvfy`` (the DICOM IOD validator) on ``path``; the test skips
    where the tool is missing (``.ci/run`` installs Debian's dicom3tools)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 300) -> None:
    """SIGKILL ``process`` (started with ``stderr=PIPE, text=True``) as soon as ``ready()`` holds; fails if the
    process ends or ``timeout`` s pass first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"finished before it could be killed:\n{process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting to kill"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def cohort_digest(root: Path) -> str:
    """SHA-256 of every image array and the projections of a cohort, in studies.csv order."""
    digest = hashlib.sha256()
    for row in io.read_studies(root / "studies.csv"):
        for name in ("nac", "sc", "ctac", "mumap", "bed"):
            digest.update(io.load_nifti(root / row[name])[0].tobytes())
        with np.load(root / row["projections"]) as projections:
            digest.update(projections["photopeak"].tobytes())
    return digest.hexdigest()


COHORT_ARRAYS = ("nac", "sc", "ctac", "mumap", "bed", "photopeak")


def cohort_moments(root: Path) -> dict[str, dict[str, list[float]]]:
    """Per study and array (:data:`COHORT_ARRAYS`): the sum, the sum of squares and the three first moments
    along the array's axes (Σ value × index) — what a change of the simulation moves (values, contrast, position),
    where :func:`cohort_digest` also sees the last bits, which differ between CPUs (BLAS and FFT code paths)."""
    moments = {}
    for row in io.read_studies(root / "studies.csv"):
        arrays = {name: io.load_nifti(root / row[name])[0] for name in COHORT_ARRAYS[:-1]}
        with np.load(root / row["projections"]) as projections:
            arrays["photopeak"] = projections["photopeak"]
        moments[row["id"]] = {name: _moments(array) for name, array in arrays.items()}
    return moments


def _moments(array: np.ndarray) -> list[float]:
    values = np.asarray(array, dtype=np.float64)
    first = [float(np.tensordot(values.sum(axis=tuple(a for a in range(values.ndim) if a != axis)),
                                np.arange(values.shape[axis]), axes=1)) for axis in range(values.ndim)]
    return [float(values.sum()), float((values ** 2).sum()), *first]


CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_train(*overrides: str, hydra_node: bool = False):
    """``conf/train.yaml`` composed with ``overrides`` as ``python train.py`` would; without the ``hydra``
    node unless asked (set ``paths.output_dir`` and ``name``, which otherwise come from Hydra's runtime)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    if not hydra_node:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg

"""Image grid, collimators and acquisition orbit: the geometry metadata of the SPECT model.

Conventions (used everywhere in mumap):

* Image arrays are indexed ``[z, y, x]`` with voxel sizes ``(dz, dy, dx)`` in **mm**. Patient
  axes follow DICOM LPS for a supine patient: +x towards the patient's left, +y posterior,
  +z towards the head. World coordinates (mm) have their origin at the centre of the grid.
* Projections are indexed ``[view, row, column]`` = ``[view, v, u]`` in **counts**. ``v`` runs
  along +z; ``u`` runs along the detector's transaxial axis ``e_u``.
* Gantry angle ``θ`` (degrees): the detector lies in direction ``n(θ) = (sin θ, −cos θ)`` (x, y)
  from the rotation centre, i.e. 0° anterior, 90° patient-left lateral, 180° posterior
  (LAO 45° is θ = 45°). The detector's transaxial axis is ``e_u(θ) = (cos θ, sin θ)``.
* A collimator ray through the detector point ``(s_u, s_v)`` (cm from the detector centre)
  reaches depth ``t`` (cm from the detector plane towards the patient) at transaxial offset
  ``s_u − t·g(s_u)`` and axial offset ``s_v − t·g(s_v)``; ``g`` is the collimator's ray slope
  (0 for parallel holes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class ImageGrid:
    """A voxel grid: ``shape`` = (nz, ny, nx) voxels of ``voxel_zyx_mm`` = (dz, dy, dx) mm."""

    shape: tuple[int, int, int]
    voxel_zyx_mm: Vec3 = (4.8, 4.8, 4.8)

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"ImageGrid.shape must be three positive sizes (nz, ny, nx), got {self.shape}")
        if len(self.voxel_zyx_mm) != 3 or min(self.voxel_zyx_mm) <= 0:
            raise ValueError(f"ImageGrid.voxel_zyx_mm must be three positive sizes in mm, got {self.voxel_zyx_mm}")
        if not math.isclose(self.voxel_zyx_mm[1], self.voxel_zyx_mm[2], rel_tol=1e-6):
            raise ValueError(
                f"ImageGrid needs square transaxial voxels (dy == dx), got dy={self.voxel_zyx_mm[1]} mm, "
                f"dx={self.voxel_zyx_mm[2]} mm: resample the image first"
            )

    def centres_mm(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates (mm, origin at the grid centre) along array axis 0, 1 or 2."""
        n, h = self.shape[axis], self.voxel_zyx_mm[axis]
        return (np.arange(n) - (n - 1) / 2) * h

    def refined(self, factor: int) -> ImageGrid:
        """The grid of the same extent with each voxel split into ``factor``³: :func:`block_mean` comes back."""
        if factor < 1:
            raise ValueError(f"refinement factor must be >= 1, got {factor}")
        return ImageGrid(tuple(n * factor for n in self.shape), tuple(h / factor for h in self.voxel_zyx_mm))


def block_mean(volume: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor``³ blocks: a volume on ``grid.refined(factor)`` → on ``grid`` (partial volume)."""
    if factor == 1:
        return volume
    nz, ny, nx = (n // factor for n in volume.shape)
    if (nz * factor, ny * factor, nx * factor) != volume.shape:
        raise ValueError(f"a volume of shape {volume.shape} does not split into {factor}³ blocks")
    return volume.reshape(nz, factor, ny, factor, nx, factor).mean(axis=(1, 3, 5))


FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class Collimator:
    """Parallel-hole or IQ·SPECT-style multifocal (SMARTZOOM-like) collimator, and its response.

    **Ray geometry.** The multifocal collimator converges towards the detector centre with focal length
    ``F(s) = F0 / w(s)``, ``w(s) = (1 − (s/L)²)²`` for ``|s| < L`` and parallel beyond, separately
    along u (``L = zoom_half_width_cm[1]``) and v (``L = zoom_half_width_cm[0]``). The ray slope is
    ``g(s) = s / F(s)``: it is smooth (C¹), equals ``s/F0`` near the centre and fades to 0 at the
    edges, so the centre is magnified by ``F0 / (F0 − t)`` at depth ``t`` and the edges are
    near-parallel. ``F → ∞`` gives the parallel collimator. Defaults (vendor values are not public):
    ``focal_length_cm = 56`` (a point at the 28 cm cardio-centric radius is magnified 2× at the
    detector centre, the figure quoted for IQ·SPECT); ``zoom_half_width_cm = (19.35, 26.65)``, half of the
    Symbia detector's 38.7 × 53.3 cm field of view, so that the convergence fades out at the crystal edges.

    **Response (collimator–detector PSF), derived in the patient frame.** Depth ``t`` is the distance
    from the collimator face (the model's detector plane, where ``s`` and the pixels are measured).

    * Parallel holes of diameter ``d`` and length ``l`` (Anger 1964; Cherry, Sorenson & Phelps,
      *Physics in Nuclear Medicine*, 4th ed., ch. 14): geometric FWHM ``R_g(t) = d·(l_e + t)/l_e`` with
      the effective length ``l_e = l − 2/μ_Pb`` (septal penetration). This is PyTomography's
      ``get_psfmeta_from_scanner_params`` model; the defaults are its ``collim.col`` entry SY-LEHR
      (Siemens Symbia low-energy high-resolution: d = 1.11 mm, septa 0.16 mm, l = 24.05 mm) and the NIST
      μ of lead at 140.5 keV from PyTomography's table (28.3 cm⁻¹). The multifocal collimator gets the
      same holes: the SMARTZOOM hole geometry is not public.
    * Converging holes: a central projection from the focal point maps a converging collimator onto a
      parallel one (lines through the focus become parallel, the face stays put). For holes that taper
      with their convergence (diameter ``d`` at the face), the geometric FWHM on the detector is
      ``R_g(t)·M`` with the local magnification ``M(s, t) = 1/(1 − t·g'(s))`` — referred back to the patient
      (÷ M) it is the parallel ``R_g(t)``: convergence buys sensitivity, not geometric resolution (Cherry
      et al., ch. 14, give the same to within their ``1 − l/(2(F + l))`` factor, ≤ 2 % here; the
      obliquity ``1/cos θ`` of the outer holes is ≤ 1 % for this collimator and is neglected).
    * The intrinsic resolution ``R_i`` (Symbia: 3.8 mm FWHM at 140 keV, vendor data sheet) blurs the
      detector image, so it adds in quadrature there: ``σ_det(s, t) = √((R_g(t)·M)² + R_i²) / 2.355``
      (cm on the detector), and ``FWHM_patient(s, t) = √(R_g(t)² + (R_i/M)²)``: a magnified region sees
      the crystal's blur shrunk, which is where the converging collimator's resolution gain comes from.
    * The hole pattern's septa only set the sensitivity (``septa_cm`` is kept for the record); the
      crystal sits a few cm behind the face, which changes the magnification by ≈ (F + l)/F ≈ 4 % and is
      folded into the pixel size.
    """

    kind: Literal["parallel", "multifocal"] = "parallel"
    focal_length_cm: float = 56.0
    zoom_half_width_cm: tuple[float, float] = (19.35, 26.65)
    hole_diameter_cm: float = 0.111
    hole_length_cm: float = 2.405
    septa_cm: float = 0.016
    lead_mu_per_cm: float = 28.3
    intrinsic_fwhm_cm: float = 0.38

    def __post_init__(self) -> None:
        if self.kind not in ("parallel", "multifocal"):
            raise ValueError(f"Collimator.kind must be 'parallel' or 'multifocal', got {self.kind!r}")
        if self.focal_length_cm <= 0:
            raise ValueError(f"Collimator.focal_length_cm must be > 0 cm, got {self.focal_length_cm}")
        if min(self.zoom_half_width_cm) <= 0:
            raise ValueError(f"Collimator.zoom_half_width_cm must be > 0 cm, got {self.zoom_half_width_cm}")
        if self.hole_diameter_cm < 0 or self.intrinsic_fwhm_cm < 0 or self.septa_cm < 0:
            raise ValueError("Collimator hole_diameter_cm, septa_cm and intrinsic_fwhm_cm must be >= 0")
        if self.lead_mu_per_cm <= 0 or self.hole_length_cm <= 2.0 / self.lead_mu_per_cm:
            raise ValueError(
                f"Collimator.hole_length_cm ({self.hole_length_cm}) must exceed the two mean free paths in lead "
                f"2/μ = {2.0 / max(self.lead_mu_per_cm, 1e-9):.3g} cm"
            )

    @property
    def effective_length_cm(self) -> float:
        """Hole length less the septal penetration, ``l − 2/μ_Pb`` (cm)."""
        return self.hole_length_cm - 2.0 / self.lead_mu_per_cm

    def ray_slope(self, s_cm: np.ndarray, axis: Literal["u", "v"]) -> np.ndarray:
        """Ray slope ``g(s)`` (dimensionless, towards the centre) at detector offset ``s`` (cm)."""
        s = np.asarray(s_cm, dtype=np.float64)
        if self.kind == "parallel":
            return np.zeros_like(s)
        half_width = self.zoom_half_width_cm[0 if axis == "v" else 1]
        fade = np.clip(1.0 - (s / half_width) ** 2, 0.0, None) ** 2
        return s * fade / self.focal_length_cm

    def magnification(self, s_cm: np.ndarray, depth_cm: np.ndarray, axis: Literal["u", "v"]) -> np.ndarray:
        """Local linear magnification ``ds/dx = 1 / (1 − t·g'(s))`` of the ray at ``s`` at depth ``t`` (broadcast)."""
        s = np.asarray(s_cm, dtype=np.float64)
        eps = 1e-4
        dg = (self.ray_slope(s + eps, axis) - self.ray_slope(s - eps, axis)) / (2 * eps)
        return 1.0 / (1.0 - np.asarray(depth_cm, dtype=np.float64) * dg)

    def geometric_fwhm_cm(self, depth_cm: np.ndarray) -> np.ndarray:
        """Geometric FWHM (cm) in the patient at depth ``t`` from the face: ``d·(l_e + t)/l_e``."""
        length = self.effective_length_cm
        return self.hole_diameter_cm * (length + np.asarray(depth_cm, dtype=np.float64)) / length

    def detector_sigma_cm(self, s_cm: np.ndarray, depth_cm: np.ndarray, axis: Literal["u", "v"],
                          extra_fwhm_cm: float = 0.0) -> np.ndarray:
        """Gaussian σ (cm, on the detector) of the response to a point at depth ``t`` on the ray through ``s``.

        ``extra_fwhm_cm`` is a further blur in the patient plane (a scatter kernel), magnified like the
        geometric one. Broadcasts ``s_cm`` against ``depth_cm``.
        """
        magnification = self.magnification(s_cm, depth_cm, axis)
        patient = np.hypot(self.geometric_fwhm_cm(depth_cm), extra_fwhm_cm)
        return np.hypot(patient * magnification, self.intrinsic_fwhm_cm) / FWHM_PER_SIGMA

    def patient_fwhm_cm(self, s_cm: np.ndarray, depth_cm: np.ndarray, axis: Literal["u", "v"]) -> np.ndarray:
        """System FWHM (cm) referred to the patient: ``√(R_g(t)² + (R_i/M)²)``."""
        magnification = self.magnification(s_cm, depth_cm, axis)
        return np.hypot(self.geometric_fwhm_cm(depth_cm), self.intrinsic_fwhm_cm / magnification)

    def linear_sigma_fit(self, depths_cm: tuple[float, float] = (10.0, 50.0)) -> tuple[float, float]:
        """``(slope, σ0 in cm)`` of the least-squares line through the parallel detector σ(t) over ``depths_cm``:
        the form STIR's SPECTUB takes (``collimator slope``, ``collimator sigma 0(cm)``)."""
        depth = np.linspace(*depths_cm, 41)
        slope, sigma0 = np.polyfit(depth, replace(self, kind="parallel").detector_sigma_cm(0.0, depth, "u"), 1)
        return float(slope), float(sigma0)


@dataclass(frozen=True)
class Acquisition:
    """Detector orbit and detector: which rays are measured.

    Defaults reproduce the paper's IQ·SPECT protocol: two heads, 34 views at 6° steps
    (208° orbit), fixed 28 cm radius about the rotation centre. The exact vendor start angle is
    not public: the views are centred on LAO 45° (θ from −54° to 144°). ``rotation_centre_zyx_mm``
    is the (z, y, x) offset in mm of the rotation centre from the image-grid centre (the heart, for a
    cardio-centric orbit); the detector centre faces it. The acquisition matrix ``detector_shape`` =
    (rows, columns) of ``pixel_vu_mm`` = (dv, du) mm may be larger than the crystal: only the parts of
    pixels that lie inside ``field_of_view_vu_cm`` (the Symbia crystal's 38.7 × 53.3 cm useful field of view,
    vendor data sheet) record counts, so a body wider than the crystal is truncated; ``None`` is an
    unbounded detector (PRAC's virtual parallel geometry).
    """

    collimator: Collimator = field(default_factory=Collimator)
    n_views: int = 34
    start_deg: float = -54.0
    step_deg: float = 6.0
    n_heads: int = 2
    radius_cm: float = 28.0
    rotation_centre_zyx_mm: Vec3 = (0.0, 0.0, 0.0)
    detector_shape: tuple[int, int] = (128, 128)
    pixel_vu_mm: tuple[float, float] = (4.8, 4.8)
    field_of_view_vu_cm: tuple[float, float] | None = (38.7, 53.3)

    def __post_init__(self) -> None:
        if self.field_of_view_vu_cm is not None and min(self.field_of_view_vu_cm) <= 0:
            raise ValueError(
                f"Acquisition.field_of_view_vu_cm must be positive sizes in cm, got {self.field_of_view_vu_cm}")
        if self.n_views < 1:
            raise ValueError(f"Acquisition.n_views must be >= 1, got {self.n_views}")
        if self.n_heads < 1 or self.n_views % self.n_heads:
            raise ValueError(
                f"Acquisition.n_views ({self.n_views}) must be a multiple of n_heads ({self.n_heads})"
            )
        if self.radius_cm <= 0:
            raise ValueError(f"Acquisition.radius_cm must be > 0 cm, got {self.radius_cm}")
        if min(self.detector_shape) < 1 or min(self.pixel_vu_mm) <= 0:
            raise ValueError(
                f"Acquisition detector_shape {self.detector_shape} and pixel_vu_mm {self.pixel_vu_mm} must be positive"
            )

    @property
    def angles_deg(self) -> np.ndarray:
        """Gantry angle θ (degrees) of each view."""
        return self.start_deg + self.step_deg * np.arange(self.n_views)

    @property
    def head_of_view(self) -> np.ndarray:
        """Detector head (0-based) that records each view: the orbit is split into equal arcs."""
        return np.arange(self.n_views) // (self.n_views // self.n_heads)

    def detector_offsets_cm(self, axis: Literal["u", "v"]) -> np.ndarray:
        """Pixel-centre offsets (cm) from the detector centre along u (columns) or v (rows)."""
        i = 1 if axis == "u" else 0
        n = self.detector_shape[i]
        return (np.arange(n) - (n - 1) / 2) * self.pixel_vu_mm[i] / 10.0

    def detector_coverage(self, axis: Literal["u", "v"]) -> np.ndarray:
        """Fraction (0–1) of each column (u) or row (v) that lies on the crystal (inside the field of view).

        Fractions add up under :meth:`supersampled` and binning, so a fine detector binned to this one
        records what this one's model expects.
        """
        offsets = self.detector_offsets_cm(axis)
        if self.field_of_view_vu_cm is None:
            return np.ones(offsets.shape)
        pixel_cm = self.pixel_vu_mm[1 if axis == "u" else 0] / 10.0
        half = self.field_of_view_vu_cm[1 if axis == "u" else 0] / 2.0
        return np.clip((half - np.abs(offsets)) / pixel_cm + 0.5, 0.0, 1.0)

    def body_clearance_mm(self, grid: ImageGrid, body: np.ndarray) -> float:
        """Smallest gap (mm) between the detector face and the ``body`` mask (``[z, y, x]`` on ``grid``) over all
        views: the orbit radius less the body's farthest reach towards each detector (voxel corners
        included). Negative: a detector would be inside the patient."""
        _, y, x = np.nonzero(body.any(axis=0, keepdims=True))  # the detectors are parallel to z
        if y.size == 0:
            return float("inf")
        _, cy, cx = self.rotation_centre_zyx_mm
        dx, dy = grid.centres_mm(2)[x] - cx, grid.centres_mm(1)[y] - cy
        theta = np.deg2rad(self.angles_deg)
        normal_x, normal_y = np.sin(theta), -np.cos(theta)
        half_y, half_x = grid.voxel_zyx_mm[1] / 2, grid.voxel_zyx_mm[2] / 2
        reach = [np.max(dx * nx + dy * ny) + half_x * abs(nx) + half_y * abs(ny)
                 for nx, ny in zip(normal_x, normal_y, strict=True)]
        return float(self.radius_cm * 10.0 - max(reach))

    def support_radius_cm(self, grid: ImageGrid, support: np.ndarray) -> float:
        """Largest in-plane distance (cm) from the rotation axis of a voxel of ``support`` (``[z, y, x]`` bool on
        ``grid``), voxel corners included: a projector needs no ray samples beyond it."""
        _, y, x = np.nonzero(support.any(axis=0, keepdims=True))
        if y.size == 0:
            return 0.0
        _, cy, cx = self.rotation_centre_zyx_mm
        half_diagonal = np.hypot(grid.voxel_zyx_mm[1], grid.voxel_zyx_mm[2]) / 2
        return float(np.max(np.hypot(grid.centres_mm(2)[x] - cx, grid.centres_mm(1)[y] - cy)) + half_diagonal) / 10.0

    def supersampled(self, factor: int) -> Acquisition:
        """The same acquisition on a detector of ``factor``² times as many, smaller pixels (same field of view)."""
        if factor < 1:
            raise ValueError(f"supersampling factor must be >= 1, got {factor}")
        return replace(self, detector_shape=(self.detector_shape[0] * factor, self.detector_shape[1] * factor),
                       pixel_vu_mm=(self.pixel_vu_mm[0] / factor, self.pixel_vu_mm[1] / factor))

    def binned(self, factor: int) -> Acquisition:
        """The same acquisition read out in blocks of ``factor`` × ``factor`` pixels (undoes :meth:`supersampled`)."""
        rows, cols = self.detector_shape
        if factor < 1 or rows % factor or cols % factor:
            raise ValueError(f"a {rows} × {cols} detector does not bin by {factor}")
        return replace(self, detector_shape=(rows // factor, cols // factor),
                       pixel_vu_mm=(self.pixel_vu_mm[0] * factor, self.pixel_vu_mm[1] * factor))

    @staticmethod
    def parallel_for(grid: ImageGrid, template: Acquisition | None = None) -> Acquisition:
        """A parallel-hole acquisition whose detector pixels coincide with ``grid``'s voxels.

        Angles, radius and hole geometry come from ``template`` (default: the IQ·SPECT defaults), the
        rotation centre is the grid centre and the detector is unbounded. This is the model PRAC uses
        whatever the acquisition.
        """
        template = template or Acquisition()
        collimator = replace(template.collimator, kind="parallel")
        return Acquisition(
            collimator=collimator,
            n_views=template.n_views,
            start_deg=template.start_deg,
            step_deg=template.step_deg,
            n_heads=template.n_heads,
            radius_cm=template.radius_cm,
            rotation_centre_zyx_mm=(0.0, 0.0, 0.0),
            detector_shape=(grid.shape[0], grid.shape[2]),
            pixel_vu_mm=(grid.voxel_zyx_mm[0], grid.voxel_zyx_mm[2]),
            field_of_view_vu_cm=None,
        )


def require_parallel_for(grid: ImageGrid, acquisition: Acquisition, who: str) -> None:
    """Raise :class:`ValueError` unless ``acquisition`` is parallel-hole with detector pixels that coincide with
    ``grid``'s voxels (:meth:`Acquisition.parallel_for`): what the independent peers (``who``) model."""
    if acquisition.collimator.kind != "parallel":
        raise ValueError(f"{who} is parallel-hole only (no multifocal collimator): use Acquisition.parallel_for(grid)")
    nz, _, nx = grid.shape
    if (acquisition.detector_shape != (nz, nx)
            or acquisition.pixel_vu_mm != (grid.voxel_zyx_mm[0], grid.voxel_zyx_mm[2])):
        raise ValueError(f"{who} needs detector pixels that match the voxels: use Acquisition.parallel_for(grid)")

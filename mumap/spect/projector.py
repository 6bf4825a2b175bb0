"""SPECT system matrix for parallel-hole and IQ·SPECT multifocal collimators.

Written here rather than taken from PyTomography: PyTomography has no multifocal (IQ·SPECT)
geometry and no cardio-centric orbit, and its rotate-and-sum projector handles one view at a time
with an approximate adjoint. This projector serves both geometries with one code path, batches all
views of a subset into a few BLAS / sparse products, caches the attenuation factors per μ-map,
and its backprojection is the exact adjoint. ``tests/spect/test_pytomography.py`` checks it
against PyTomography in the parallel case and ``python -m mumap.bench.spect`` compares speed.

Model, per view and detector pixel (u, v), with samples every voxel width h along the ray:

    p(u, v) = Σ_d B_d[ (ℓ/h) · exp(−Σ_{d' nearer} μ ℓ) · f(x_d) ]     (counts)

where ``f(x_d)`` is the image interpolated at the ray's d-th sample (bilinear in-plane, linear in
z), ``ℓ`` the path length per sample (cm), the exponent the attenuation from the sample to the
detector (half the sample's own segment included), and ``B_d`` the Gaussian collimator–detector
response for the sample's distance to the detector and the ray's local magnification
(:meth:`Collimator.detector_sigma_cm`: the hole geometry's blur in the patient, magnified onto the
detector, with the crystal's intrinsic blur added there), which also weights each pixel by the
fraction of it on the crystal; ``ℓ/h`` is further scaled by the detector pixel area over the voxel
face (``du·dv / (h·dz)``). The image is in counts per voxel, so a parallel projection without
attenuation conserves counts whatever the pixel size, and a converging collimator gains sensitivity as
its rays crowd the magnified region.

The attenuation factor ``exp(−τ)`` is the primary window's weight; :meth:`SPECTProjector.forward_windows`
projects one image into several energy windows at once (:class:`EnergyWindows`), each weighting the ray
samples by its own function of the optical depth ``τ`` to the detector and widening the response by its
own kernel (the scatter model of :mod:`mumap.spect.scatter`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from mumap.spect.geometry import FWHM_PER_SIGMA, Acquisition, ImageGrid
from mumap.spect.operators import (
    AxialSampler,
    DepthBlur,
    InPlaneSampler,
    RayFactor,
    bin_rays,
    binned_rows,
    gaussian_matrices,
)

BROAD_KERNEL_PIXELS = 4.0
"""A window kernel at least this many (binned) detector pixels wide is blurred after binning."""
FOOTPRINT_RAYS = 4
""":class:`SPECTProjector`'s default ``footprint_rays``: four rays per converging pixel keep ``Aᵀ1`` within 1 % of
its converged value on the cohort's grids (one ray: up to 8 % slice-to-slice ripple). The synthetic cohort of
generator 0.7.0 is made with it; that of 0.6.0 was made with one."""


class EnergyWindows(Protocol):
    """What a set of energy windows records of a ray sample of activity ``f`` at optical depth ``τ`` (the line
    integral of μ from the sample to the detector): window ``w`` records ``amplitudes(τ)[w]·f``, blurred by
    the collimator response widened by ``kernels_fwhm_cm[w]`` (a Gaussian in the patient plane, magnified
    like the geometric blur). One call gives all windows, so they can share their exponentials."""

    kernels_fwhm_cm: tuple[float, ...]

    def amplitudes(self, optical_depth: Tensor) -> Sequence[Tensor]: ...


@dataclass(frozen=True)
class PrimaryWindow:
    """Unscattered photons only: ``exp(−τ)`` (narrow-beam attenuation), the collimator response alone."""

    kernels_fwhm_cm: tuple[float, ...] = (0.0,)

    def amplitudes(self, optical_depth: Tensor) -> Sequence[Tensor]:
        return (torch.exp(-optical_depth),)


class SPECTProjector:
    """System matrix ``A`` of one acquisition on one image grid, split into ordered subsets.

    Images are ``[nz, ny, nx]`` (counts per voxel), projections ``[n_views, rows, columns]``.
    Subset ``k`` holds views ``k, k + n_subsets, …``. ``with_attenuation(μ)`` returns a projector
    that shares this one's geometry and adds attenuation; geometry is built once.
    ``support_radius_cm``: images (and μ-maps) that are zero farther than this from the rotation axis
    (in-plane) need no ray samples beyond it, so none are made — exact for such images, and a simulator's
    shortcut (a reconstruction must see the whole grid).
    ``footprint_rays``: rays per detector pixel and axis where the collimator converges, spread evenly across the
    pixel (the axial rows average their rays' interpolation weights; the in-plane sub-samples become
    ``depth_subsamples × footprint_rays``). A magnifying collimator's pixel-centre rays cross the voxel grid at a
    spacing that changes with depth, and a ray-driven backprojection of such rays weights neighbouring voxels
    unevenly (De Man & Basu, *Phys. Med. Biol.* 49:2463, 2004): here ``Aᵀ1`` ripples by up to 8 % from slice to
    slice, which OSEM turns into stripes across a hot liver (``scripts/footprint_stripes.py``, docs/REALISM.md).
    Four rays bring it within 1 % of the converged sensitivity (``tests/spect/test_projector.py``) for ≈4× the
    samplers' size. Default :data:`FOOTPRINT_RAYS`; a parallel axis always samples the centre.
    """

    def __init__(
        self,
        grid: ImageGrid,
        acquisition: Acquisition,
        *,
        psf: bool = True,
        n_subsets: int = 1,
        depth_subsamples: int = 4,
        footprint_rays: int = FOOTPRINT_RAYS,
        support_radius_cm: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        if not 1 <= n_subsets <= acquisition.n_views:
            raise ValueError(f"n_subsets must be in 1..{acquisition.n_views}, got {n_subsets}")
        if depth_subsamples < 1:
            raise ValueError(f"depth_subsamples must be >= 1, got {depth_subsamples}")
        if footprint_rays < 1:
            raise ValueError(f"footprint_rays must be >= 1, got {footprint_rays}")
        self.depth_subsamples = depth_subsamples
        self.footprint_rays = footprint_rays
        self.grid = grid
        self.acquisition = acquisition
        self.psf = psf
        self.dtype = dtype
        self.device = torch.device(device)
        self.subsets = [torch.arange(k, acquisition.n_views, n_subsets) for k in range(n_subsets)]
        self.mu: Tensor | None = None

        h_cm = grid.voxel_zyx_mm[2] / 10.0
        self.depths_cm = _depth_samples(grid, acquisition, h_cm, support_radius_cm)
        collimator = acquisition.collimator
        s_u, s_v = acquisition.detector_offsets_cm("u"), acquisition.detector_offsets_cm("v")
        g_u, g_v = collimator.ray_slope(s_u, "u"), collimator.ray_slope(s_v, "v")
        self._samplers = [self._in_plane_sampler(views, s_u) for views in self.subsets]
        self._axial = self._axial_sampler(s_v)
        # path length per sample (cm) for each ray (u, v); 1 voxel width for parallel holes
        self._path_cm = h_cm * np.sqrt(1.0 + g_u[:, None] ** 2 + g_v[None, :] ** 2)
        # counts per sample: path length in voxel widths × pixel area over the voxel face it sees
        pixel_over_face = ((acquisition.pixel_vu_mm[0] * acquisition.pixel_vu_mm[1])
                           / (grid.voxel_zyx_mm[0] * grid.voxel_zyx_mm[2]))
        ray_weight = self._path_cm / h_cm * pixel_over_face
        self._ray_weight = None if np.allclose(ray_weight, 1.0) else self._tensor(ray_weight[None, :, None, :])
        weight_only = None if self._ray_weight is None else RayFactor(self._ray_weight)
        self._factors: list[RayFactor | None] = [weight_only] * n_subsets
        self._blur = self._depth_blur()

    @property
    def n_subsets(self) -> int:
        return len(self.subsets)

    @property
    def projection_shape(self) -> tuple[int, int, int]:
        return (self.acquisition.n_views, *self.acquisition.detector_shape)

    def with_attenuation(self, mu: Tensor | np.ndarray) -> SPECTProjector:
        """This projector with attenuation by ``mu`` (``[nz, ny, nx]``, cm⁻¹); geometry is shared."""
        mu = self._checked_mu(mu)
        attenuated = copy.copy(self)
        attenuated.mu = mu
        attenuated._factors = [RayFactor(self._weighted(self._optical_depth(k, mu).neg_().exp_()))
                               for k in range(self.n_subsets)]
        return attenuated

    def forward_windows(self, image: Tensor | np.ndarray, mu: Tensor | np.ndarray | None,
                        windows: EnergyWindows, detector_binning: int = 1) -> list[Tensor]:
        """Project ``image [nz, ny, nx]`` into each energy window → ``[n_views, rows, columns]`` each.

        ``mu`` (cm⁻¹) gives the optical depths (``None``: no attenuating medium, τ = 0). The rays are
        sampled once per subset and nothing per window is cached, so memory stays at one subset's rays:
        build a one-view-per-subset projector for large grids. Must be attenuation-free itself.
        ``detector_binning`` sums blocks of that many pixels squared (a supersampled detector read out at
        its clinical pixels). A window whose kernel spans ≥ :data:`BROAD_KERNEL_PIXELS` binned pixels is
        binned *before* its blur, on the binned detector: 8× less work for the broad scatter windows, a
        change far below 1 % for a blur that wide.
        """
        if self.mu is not None:
            raise ValueError("forward_windows takes μ itself: call it on the attenuation-free projector")
        image = self.as_image(image, "image")
        mu = None if mu is None else self._checked_mu(mu)
        binned = self.acquisition.binned(detector_binning)
        early = [detector_binning > 1 and fwhm * 10.0 >= BROAD_KERNEL_PIXELS * max(binned.pixel_vu_mm)
                 for fwhm in windows.kernels_fwhm_cm]
        blurs = [self._depth_blur(fwhm, binned) if bin_first else self._depth_blur(fwhm, binning=detector_binning)
                 for fwhm, bin_first in zip(windows.kernels_fwhm_cm, early, strict=True)]
        shape = (binned.n_views, *binned.detector_shape)
        outputs = [torch.empty(shape, dtype=self.dtype, device=self.device) for _ in blurs]
        for k, views in enumerate(self.subsets):
            rays = self._axial_forward(self._samplers[k].forward(image))
            depth = torch.zeros_like(rays) if mu is None else self._optical_depth(k, mu)
            for amplitude, blur, bin_first, out in zip(windows.amplitudes(depth), blurs, early, outputs, strict=True):
                weighted = self._weighted(amplitude.mul_(rays))  # [D, U, V, P]
                if bin_first:
                    weighted = bin_rays(weighted, detector_binning)
                out[views.to(self.device)] = blur.forward(weighted).permute(1, 2, 0)
        return outputs

    def _checked_mu(self, mu: Tensor | np.ndarray) -> Tensor:
        mu = self.as_image(mu, "mu")
        if torch.any(mu < 0):
            raise ValueError("attenuation map has negative values: μ must be in cm⁻¹ and >= 0")
        return mu

    def _optical_depth(self, k: int, mu: Tensor) -> Tensor:
        """Line integral of μ from each ray sample of subset ``k`` to the detector, ``[D, U, V, P]``.

        The depth index grows towards the detector: ``τ_d = Σ_{d' > d} μℓ + ½·μℓ_d`` = total − cumsum + ½·own.
        """
        mu_rays = self._axial_forward(self._samplers[k].forward(mu)).mul_(self._tensor(self._path_cm[None, :, None, :]))
        return mu_rays.sum(0, keepdim=True).sub(mu_rays.cumsum(0)).add_(mu_rays, alpha=0.5)

    def _weighted(self, factor: Tensor) -> Tensor:
        """``factor`` times the rays' path-length and pixel-area weight (in place)."""
        return factor if self._ray_weight is None else factor.mul_(self._ray_weight)

    def mean_transmission(self, mu: Tensor | np.ndarray) -> Tensor:
        """Per voxel, the transmission ``e^(−∫μ)`` from the voxel to the detector averaged over the orbit's views,
        each ray weighted by how much the voxel contributes to it: ``A_μᵀ1 / Aᵀ1`` ``[nz, ny, nx]`` (1 where
        nothing attenuates, 0 where no ray sees the voxel). Its reciprocal is Chang's first-order attenuation
        correction factor (Chang, *IEEE TNS* 25:638, 1978); where a voxel's primaries are lost on their way out,
        without any reconstruction. ``mu`` is ``[nz, ny, nx]`` in cm⁻¹; the projector must be attenuation-free."""
        if self.mu is not None:
            raise ValueError("mean_transmission needs an attenuation-free projector (it adds mu itself)")
        ones = torch.ones(self.projection_shape, dtype=self.dtype, device=self.device)
        seen = self.adjoint(ones)
        attenuated = self.with_attenuation(mu).adjoint(ones)
        return torch.where(seen > 0, attenuated / seen.clamp(min=torch.finfo(self.dtype).tiny), 0.0)

    def forward(self, image: Tensor | np.ndarray, subset: int | None = None) -> Tensor:
        """Project ``image [nz, ny, nx]`` → ``[n_views_in_subset, rows, columns]`` (all views if None)."""
        image = self.as_image(image, "image")
        if subset is not None:
            return self._forward_subset(image, subset)
        out = torch.empty(self.projection_shape, dtype=self.dtype, device=self.device)
        for k, views in enumerate(self.subsets):
            out[views.to(self.device)] = self._forward_subset(image, k)
        return out

    def adjoint(self, projections: Tensor, subset: int | None = None) -> Tensor:
        """Backproject ``projections`` (of one subset, or all views if None) → ``[nz, ny, nx]``."""
        expected = self.projection_shape if subset is None else (len(self.subsets[subset]), *self.projection_shape[1:])
        if tuple(projections.shape) != expected:
            raise ValueError(f"projections have shape {tuple(projections.shape)}, expected {expected}")
        projections = projections.to(device=self.device, dtype=self.dtype)
        if subset is not None:
            return self._adjoint_subset(projections, subset)
        return sum(self._adjoint_subset(projections[views.to(self.device)], k) for k, views in enumerate(self.subsets))

    def _forward_subset(self, image: Tensor, k: int) -> Tensor:
        rays = self._axial_forward(self._samplers[k].forward(image))
        if self._factors[k] is not None:
            rays = self._factors[k].forward(rays)
        return self._blur.forward(rays).permute(1, 2, 0).contiguous()

    def _adjoint_subset(self, projections: Tensor, k: int) -> Tensor:
        rays = self._blur.adjoint(projections.permute(2, 0, 1).contiguous())
        if self._factors[k] is not None:
            rays = self._factors[k].adjoint(rays)
        if self._axial is not None:
            rays = self._axial.adjoint(rays)
        return self._samplers[k].adjoint(rays)

    def _axial_forward(self, rays: Tensor) -> Tensor:
        return rays if self._axial is None else self._axial.forward(rays)

    def _footprint_cm(self, axis: str) -> np.ndarray:
        """Offsets (cm, on the detector) of the rays that sample one pixel along ``axis``: ``footprint_rays`` spread
        evenly across its width where the collimator converges, the pixel's centre alone where it is parallel (its
        rays stay one pixel apart at every depth, and the bilinear interpolation already spans a pixel's width)."""
        n = self.footprint_rays
        if n == 1 or self.acquisition.collimator.kind == "parallel":
            return np.zeros(1)
        pixel_cm = self.acquisition.pixel_vu_mm[0 if axis == "v" else 1] / 10.0
        return ((np.arange(n) + 0.5) / n - 0.5) * pixel_cm

    def _in_plane_sampler(self, views: Tensor, s_u: np.ndarray) -> InPlaneSampler:
        """Sampler for the views of one subset: sub-sample (y, x) voxel indices ``[D, U, V, S·F]``, S along the ray
        (``depth_subsamples``) times F across the pixel (:meth:`_footprint_cm`)."""
        acq, grid = self.acquisition, self.grid
        theta = np.deg2rad(acq.angles_deg[views.numpy()])[:, None, None]  # [V, 1, 1]
        h_cm = grid.voxel_zyx_mm[2] / 10.0
        sub = ((np.arange(self.depth_subsamples) + 0.5) / self.depth_subsamples - 0.5) * h_cm
        t = self.depths_cm[:, None, None, None, None] + sub[:, None]  # [D, 1, 1, S, 1]
        s = s_u[:, None] + self._footprint_cm("u")  # [U, F]: where each ray meets the detector
        slope = acq.collimator.ray_slope(s, "u")
        transverse = s[None, :, None, None, :] - t * slope[None, :, None, None, :]  # cm along e_u, [D, U, 1, S, F]
        along_normal = acq.radius_cm - t  # cm from the rotation centre towards the detector
        _, cy, cx = (c / 10.0 for c in acq.rotation_centre_zyx_mm)
        x = cx + along_normal * np.sin(theta) + transverse * np.cos(theta)
        y = cy - along_normal * np.cos(theta) + transverse * np.sin(theta)
        _, ny, nx = grid.shape
        points = np.stack([y / h_cm + (ny - 1) / 2, x / h_cm + (nx - 1) / 2], axis=-1)  # [D, U, V, S, F, 2]
        return InPlaneSampler(points.reshape(*points.shape[:3], -1, 2), (ny, nx), self.dtype, self.device)

    def _axial_sampler(self, s_v: np.ndarray) -> AxialSampler | None:
        """Linear interpolation weights ``[D, P, Z]`` from slices to rows, averaged over a row's rays
        (:meth:`_footprint_cm`); None if the identity."""
        nz, dz_cm = self.grid.shape[0], self.grid.voxel_zyx_mm[0] / 10.0
        s = s_v[:, None] + self._footprint_cm("v")  # [P, F]
        z_cm = (self.acquisition.rotation_centre_zyx_mm[0] / 10.0 + s[None]
                - self.depths_cm[:, None, None] * self.acquisition.collimator.ray_slope(s, "v")[None])
        index = z_cm / dz_cm + (nz - 1) / 2  # [D, P, F]
        if len(s_v) == nz and np.allclose(index, np.arange(nz)[None, :, None], atol=1e-9):
            return None
        lower = np.floor(index)
        frac = index - lower
        weights = np.zeros((*index.shape[:2], nz))
        d_idx, p_idx, _ = np.indices(index.shape)
        for offset, w in ((0, 1 - frac), (1, frac)):
            z = (lower + offset).astype(np.int64)
            ok = (z >= 0) & (z < nz)
            np.add.at(weights, (d_idx[ok], p_idx[ok], z[ok]), w[ok] / index.shape[2])
        return AxialSampler(self._tensor(weights))

    def _depth_blur(self, extra_fwhm_cm: float = 0.0, acquisition: Acquisition | None = None,
                    binning: int = 1) -> DepthBlur:
        """Per-depth row and column response matrices of ``acquisition``'s detector (default: this projector's),
        read out in blocks of ``binning`` pixels; pixels record the fraction of them on the crystal."""
        acq, depths = acquisition or self.acquisition, self.depths_cm
        n_depths = len(depths)
        masks = {axis: acq.detector_coverage(axis) for axis in ("v", "u")}
        if not self.psf and extra_fwhm_cm == 0 and binning == 1 and all(np.all(m == 1) for m in masks.values()):
            return DepthBlur(None, None, n_depths)
        matrices = []
        for axis, pixel_mm in (("v", acq.pixel_vu_mm[0]), ("u", acq.pixel_vu_mm[1])):
            s_cm = acq.detector_offsets_cm(axis)[None, :]
            if self.psf:
                sigma_cm = acq.collimator.detector_sigma_cm(s_cm, depths[:, None], axis, extra_fwhm_cm)
            else:  # no collimator response: only the channel's own kernel, magnified
                sigma_cm = extra_fwhm_cm * acq.collimator.magnification(s_cm, depths[:, None], axis) / FWHM_PER_SIGMA
            blur = gaussian_matrices(sigma_cm * 10.0 / pixel_mm, s_cm.shape[1], masks[axis])
            matrices.append(self._tensor(binned_rows(blur, binning)))
        return DepthBlur(*matrices, n_depths)

    def _tensor(self, array: np.ndarray) -> Tensor:
        return torch.as_tensor(array, dtype=self.dtype, device=self.device)

    def as_image(self, image: Tensor | np.ndarray, name: str = "image") -> Tensor:
        """``image`` as a contiguous tensor of this projector's dtype and device; checks the shape."""
        image = torch.as_tensor(image).to(device=self.device, dtype=self.dtype)
        if tuple(image.shape) != tuple(self.grid.shape):
            raise ValueError(f"{name} has shape {tuple(image.shape)}, expected the grid's {self.grid.shape} (z, y, x)")
        return image.contiguous()


def _depth_samples(grid: ImageGrid, acquisition: Acquisition, h_cm: float,
                   support_radius_cm: float | None = None) -> np.ndarray:
    """Distances (cm) from the detector of the ray samples, farthest first, one voxel width apart.

    The samples cover every voxel of the grid seen from the rotation centre (or, with
    ``support_radius_cm``, every point that close to the rotation axis: a sample at depth t lies at least
    |R − t| from it), symmetric about the centre (with the parity of the grid so samples fall on voxel
    centres at 0°), and stay in front of the detector.
    """
    _, ny, nx = grid.shape
    _, cy, cx = (c / 10.0 for c in acquisition.rotation_centre_zyx_mm)
    corners_y = np.array([-1, 1]) * ny / 2 * h_cm
    corners_x = np.array([-1, 1]) * nx / 2 * h_cm
    reach = np.sqrt(np.max((corners_y - cy) ** 2) + np.max((corners_x - cx) ** 2))
    if support_radius_cm is not None:
        reach = min(reach, support_radius_cm)
    half = int(np.ceil(reach / h_cm))
    offsets = np.arange(half, -half - 1, -1.0) if nx % 2 else np.arange(half + 0.5, -half - 1.0, -1.0)
    depths = acquisition.radius_cm + offsets * h_cm
    depths = depths[depths > 0]
    if depths.size == 0:
        raise ValueError(f"radius_cm={acquisition.radius_cm} leaves no room for the image in front of the detector")
    return depths

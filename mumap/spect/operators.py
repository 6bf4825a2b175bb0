"""Small linear operators that compose into the SPECT system matrix, each with its exact adjoint.

The projector works on a *ray tensor* ``[D, U, V, C]``: D depth samples along each collimator ray
(index 0 farthest from the detector), U detector columns, V views, C axial channels (image
slices before axial resampling, detector rows after). Keeping depth and columns leading lets the
depth-dependent blur and the sum over depth run as one matrix product, and keeps every step a
dense BLAS call or one sparse-times-dense product, for all views at once.

Each operator has ``forward`` and ``adjoint``; ``adjoint`` is the exact transpose of ``forward``
(tested as ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ in float64), so the backprojector of the composed model is exact.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

FLOAT32_TINY = float(np.finfo(np.float32).tiny)
"""The smallest normal float32 (1.2e-38). The blur matrices' far tails lie below it; cast to the operators'
float32 they would be subnormal numbers, which many x86 CPUs multiply through a slow microcode path (on the Intel
Xeon of docs/BENCHMARKS.md, "Subnormal numbers", a ``torch.bmm`` ran 40× slower with them) while they add nothing a
float32 sum can hold. They are stored as zeros: the cohorts' arrays stay the same to the bit."""


def gaussian_matrices(sigma_px: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Dense Gaussian blur matrices ``[K, n, n]`` for signals of ``n`` samples.

    ``sigma_px`` is ``[K]`` (one σ per matrix, in samples) or ``[K, n]`` (the σ with which each *source*
    sample ``j`` spreads: a shift-variant blur). Entry ``[k, i, j]`` is the weight sample ``j`` spreads onto
    sample ``i``. Each column is normalised over the *infinite* lattice, so counts blurred past the ends
    are lost, as on a finite detector; ``mask [n]`` (0–1) weights the rows by the fraction of each sample
    that records (pixels partly or wholly off the crystal). σ ≤ 0.05 px is a delta.
    """
    sigma = np.maximum(np.asarray(sigma_px, dtype=np.float64), 0.05)
    sigma = np.broadcast_to(sigma[:, None], (sigma.shape[0], n)) if sigma.ndim == 1 else sigma
    if sigma.ndim != 2 or sigma.shape[1] != n:
        raise ValueError(f"sigma_px must be [K] or [K, {n}], got shape {np.shape(sigma_px)}")
    # lattice sum of the Gaussian: direct below 1 px, Poisson summation (error < e^(−8π²)) above
    lattice = np.arange(-10, 11)
    narrow = np.exp(-0.5 * (lattice / np.minimum(sigma, 1.0)[..., None]) ** 2).sum(-1)
    wide = np.sqrt(2 * np.pi) * sigma * (1 + 2 * np.exp(-2 * np.pi**2 * sigma**2))
    norm = np.where(sigma < 1.0, narrow, wide)
    offsets = np.arange(n)[:, None] - np.arange(n)[None, :]
    matrices = np.exp(-0.5 * (offsets[None] / sigma[:, None, :]) ** 2) / norm[:, None, :]
    if mask is not None:
        matrices *= np.asarray(mask, dtype=np.float64)[None, :, None]
    matrices[matrices < FLOAT32_TINY] = 0.0
    return matrices


def binned_rows(matrices: np.ndarray, factor: int) -> np.ndarray:
    """Blur matrices ``[K, n, m]`` followed by summing blocks of ``factor`` outputs: ``[K, n / factor, m]``."""
    k, n, m = matrices.shape
    return matrices.reshape(k, n // factor, factor, m).sum(axis=2)


class InPlaneSampler:
    """Thick-ray bilinear interpolation of every transaxial slice at the ray samples.

    ``points [D, U, V, S, 2]`` holds fractional (y, x) voxel indices of S sub-samples per ray
    sample; a ray sample is the mean of the bilinear interpolations at its sub-samples (spread
    over one voxel along the ray, a finer quadrature of the line integral that keeps the
    per-voxel backprojection weights nearly uniform). Points outside the grid see zero. Stored as
    a CSR matrix ``[D·U·V, ny·nx]`` and its transpose (built on first use): forward and adjoint are each one sparse ×
    dense product over all slices (the slices are the dense columns).
    """

    def __init__(self, points: np.ndarray, plane_shape: tuple[int, int], dtype: torch.dtype, device: torch.device):
        self.ray_shape = points.shape[:3]
        self.plane_shape = plane_shape
        ny, nx = plane_shape
        n_rays, n_sub = int(np.prod(self.ray_shape)), points.shape[3]
        points = torch.as_tensor(points, dtype=torch.float64, device=device)
        y, x = points[..., 0].reshape(-1, 1), points[..., 1].reshape(-1, 1)
        y0, x0 = y.floor(), x.floor()
        fy, fx = y - y0, x - x0
        dy = torch.tensor([[False, False, True, True]], device=device)
        dx = torch.tensor([[False, True, False, True]], device=device)
        yi, xi = (y0 + dy).long(), (x0 + dx).long()  # [rays·S, 4] corners
        weight = torch.where(dy, fy, 1 - fy) * torch.where(dx, fx, 1 - fx) / n_sub
        inside = ((yi >= 0) & (yi < ny) & (xi >= 0) & (xi < nx) & (weight > 0)).ravel()
        rows = torch.arange(n_rays, device=device).repeat_interleave(n_sub * 4)[inside]  # sorted: ray-major
        cols = (yi * nx + xi).ravel()[inside]
        vals = weight.ravel()[inside]
        self.matrix = _csr(rows, cols, vals, (n_rays, ny * nx), dtype)
        self._matrix_t: Tensor | None = None  # built on the first adjoint: forward-only use never pays for it

    @property
    def matrix_t(self) -> Tensor:
        """The transpose ``[ny·nx, D·U·V]`` as a CSR matrix."""
        if self._matrix_t is None:
            counts = self.matrix.crow_indices().diff()
            rows = torch.arange(self.matrix.shape[0], device=counts.device).repeat_interleave(counts)
            cols, vals = self.matrix.col_indices(), self.matrix.values()
            by_column = torch.argsort(cols, stable=True)
            self._matrix_t = _csr(cols[by_column], rows[by_column], vals[by_column],
                                  (self.matrix.shape[1], self.matrix.shape[0]), vals.dtype)
        return self._matrix_t

    def forward(self, image: Tensor) -> Tensor:
        """``image [Z, ny, nx]`` → ray tensor ``[D, U, V, Z]``."""
        columns = image.permute(1, 2, 0).reshape(-1, image.shape[0])
        return (self.matrix @ columns).view(*self.ray_shape, image.shape[0])

    def adjoint(self, rays: Tensor) -> Tensor:
        """Ray tensor ``[D, U, V, Z]`` → image ``[Z, ny, nx]``."""
        n_slices = rays.shape[-1]
        planes = self.matrix_t @ rays.reshape(-1, n_slices)
        return planes.view(*self.plane_shape, n_slices).permute(2, 0, 1).contiguous()


class AxialSampler:
    """Linear interpolation along z from image slices to detector rows, one matrix per depth.

    ``weights [D, P, Z]`` maps the Z slices to the P detector rows at each depth: a converging
    collimator samples different slices at different depths.
    """

    def __init__(self, weights: Tensor):
        self.weights = weights

    def forward(self, rays: Tensor) -> Tensor:
        """``[D, U, V, Z]`` → ``[D, U, V, P]``."""
        d, u, v, z = rays.shape
        return torch.bmm(rays.reshape(d, u * v, z), self.weights.transpose(1, 2)).view(d, u, v, -1)

    def adjoint(self, rays: Tensor) -> Tensor:
        """``[D, U, V, P]`` → ``[D, U, V, Z]``."""
        d, u, v, p = rays.shape
        return torch.bmm(rays.reshape(d, u * v, p), self.weights).view(d, u, v, -1)


class RayFactor:
    """Element-wise weight on the ray samples: attenuation survival × path length (diagonal)."""

    def __init__(self, factor: Tensor):
        self.factor = factor

    def forward(self, rays: Tensor) -> Tensor:
        return rays * self.factor

    def adjoint(self, rays: Tensor) -> Tensor:
        return rays * self.factor


class DepthBlur:
    """Depth-dependent Gaussian collimator blur on the detector, then the sum over depth.

    ``rows [D, P', P]`` and ``columns [D, U', U]`` are per-depth blur matrices (``None``: no blur); they may
    map onto fewer detector pixels than the rays have (a binned read-out, :func:`binned_rows`).
    The column blur and the depth sum are one matrix product ``[U, D·U] @ [D·U, V·P]``.
    """

    def __init__(self, rows: Tensor | None, columns: Tensor | None, n_depths: int):
        self.rows = rows
        self.n_depths = n_depths
        self.columns = None if columns is None else columns.permute(1, 0, 2).reshape(columns.shape[1], -1).contiguous()

    def forward(self, rays: Tensor) -> Tensor:
        """``[D, U, V, P]`` → detector ``[U', V, P']``."""
        d, u, v, p = rays.shape
        if self.rows is not None:
            rays = torch.bmm(rays.reshape(d, u * v, p), self.rows.transpose(1, 2))
            p = self.rows.shape[1]
        if self.columns is None:
            return rays.reshape(d, u, v, p).sum(0)
        return (self.columns @ rays.reshape(d * u, v * p)).view(-1, v, p)

    def adjoint(self, detector: Tensor) -> Tensor:
        """Detector ``[U', V, P']`` → ``[D, U, V, P]``."""
        u, v, p = detector.shape
        d = self.n_depths
        if self.columns is None:
            rays = detector.unsqueeze(0).expand(d, u, v, p)
        else:
            rays = (self.columns.T @ detector.reshape(u, v * p)).view(d, -1, v, p)
        if self.rows is not None:
            rays = torch.bmm(rays.reshape(d, -1, p), self.rows).view(d, -1, v, self.rows.shape[2])
        return rays


def bin_rays(rays: Tensor, factor: int) -> Tensor:
    """Sum ``factor × factor`` blocks of detector pixels of a ray tensor: ``[D, U·f, V, P·f]`` → ``[D, U, V, P]``
    (strided slices: several times faster than a reshape-and-sum over the split axes)."""
    columns = sum(rays[:, i::factor] for i in range(factor))
    return sum(columns[..., i::factor] for i in range(factor))


def _csr(rows: Tensor, cols: Tensor, vals: Tensor, shape: tuple[int, int], dtype: torch.dtype) -> Tensor:
    """A CSR matrix from COO triplets already sorted by row (repeated entries add up in products)."""
    crow = torch.zeros(shape[0] + 1, dtype=torch.int64, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0, out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        return torch.sparse_csr_tensor(crow, cols, vals.to(dtype), shape, check_invariants=False)

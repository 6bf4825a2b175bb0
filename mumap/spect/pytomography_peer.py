"""The same parallel-hole problem in PyTomography, the independent peer used by tests and benchmarks.

Convention mapping (found with point sources and attenuating slabs, checked in
``tests/spect/test_pytomography.py``): PyTomography's object is ``[x', y', z]`` with ``x' = −x``
(mumap's x reversed), ``y' = y``; its projection angle β equals mumap's gantry angle θ; its
projection ``[view, r, z]`` has the radial bin ``r`` running opposite to mumap's column ``u``.
PyTomography's PSF transform needs a square transaxial grid, so non-square grids are zero-padded
to a square (symmetrically, which needs ``|nx − ny|`` even) and the projections cropped back.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from torch import Tensor

from mumap.spect.geometry import FWHM_PER_SIGMA, Acquisition, Collimator, ImageGrid, require_parallel_for


def pytomography():
    """PyTomography, imported quietly; :class:`ImportError` saying how to install it if absent."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a GPU notice on import
            import pytomography
    except ImportError as err:
        raise ImportError("PyTomography is the test/benchmark peer: pip install -e '.[test]'") from err
    return pytomography


class PyTomographyPeer:
    """PyTomography's ``SPECTSystemMatrix`` for mumap's parallel ``acquisition`` on ``grid``."""

    def __init__(self, grid: ImageGrid, acquisition: Acquisition, *, mu: Tensor | None = None, psf: bool = True):
        library = pytomography()
        from pytomography.metadata.SPECT import SPECTObjectMeta, SPECTProjMeta
        from pytomography.projectors.SPECT import SPECTSystemMatrix
        from pytomography.transforms.SPECT import SPECTAttenuationTransform, SPECTPSFTransform

        require_parallel_for(grid, acquisition, "the PyTomography peer")
        nz, ny, nx = grid.shape
        if (nx - ny) % 2:
            raise ValueError(f"the peer pads the grid to a square symmetrically: nx - ny must be even, got {nx}, {ny}")
        library.device = torch.device("cpu")
        self.grid, self.side = grid, max(nx, ny)
        h_cm = grid.voxel_zyx_mm[2] / 10.0
        object_meta = SPECTObjectMeta([h_cm, h_cm, grid.voxel_zyx_mm[0] / 10.0], [self.side, self.side, nz])
        proj_meta = SPECTProjMeta(
            (self.side, nz), [h_cm, grid.voxel_zyx_mm[0] / 10.0], acquisition.angles_deg,
            radii=np.full(acquisition.n_views, acquisition.radius_cm),
        )
        transforms = []
        if mu is not None:
            transforms.append(SPECTAttenuationTransform(self.to_peer(mu)))
        if psf:
            transforms.append(SPECTPSFTransform(psf_meta(acquisition.collimator)))
        self.system_matrix = SPECTSystemMatrix(transforms, [], object_meta, proj_meta)

    def to_peer(self, image: Tensor | np.ndarray) -> Tensor:
        """mumap image ``[z, y, x]`` → PyTomography object ``[x', y', z]`` (float32, padded square)."""
        image = torch.as_tensor(image, dtype=torch.float32)
        _, ny, nx = image.shape
        py, px = (self.side - ny) // 2, (self.side - nx) // 2
        return torch.nn.functional.pad(image, (px, px, py, py)).permute(2, 1, 0).flip(0).contiguous()

    def from_peer_image(self, image: Tensor) -> Tensor:
        """PyTomography object ``[x', y', z]`` → mumap image ``[z, y, x]``."""
        _, ny, nx = self.grid.shape
        py, px = (self.side - ny) // 2, (self.side - nx) // 2
        return image.flip(0).permute(2, 1, 0)[:, py : py + ny, px : px + nx].contiguous()

    def from_peer_projections(self, projections: Tensor) -> Tensor:
        """PyTomography projections ``[view, r, z]`` → mumap ``[view, row, column]``."""
        nx = self.grid.shape[2]
        offset = (self.side - nx) // 2
        return projections.flip(1).permute(0, 2, 1)[:, :, offset : offset + nx].contiguous()

    def to_peer_projections(self, projections: Tensor) -> Tensor:
        """mumap projections ``[view, row, column]`` → PyTomography ``[view, r, z]`` (zero-padded)."""
        offset = (self.side - self.grid.shape[2]) // 2
        padded = torch.nn.functional.pad(torch.as_tensor(projections, dtype=torch.float32), (offset, offset))
        return padded.permute(0, 2, 1).flip(1).contiguous()

    def forward(self, image: Tensor | np.ndarray) -> Tensor:
        return self.from_peer_projections(self.system_matrix.forward(self.to_peer(image)))

    def adjoint(self, projections: Tensor) -> Tensor:
        return self.from_peer_image(self.system_matrix.backward(self.to_peer_projections(projections)))

    def osem(self, projections: Tensor, n_iterations: int = 10, n_subsets: int = 3) -> Tensor:
        """PyTomography's OSEM of mumap-layout ``projections`` → mumap image."""
        from pytomography.algorithms import OSEM
        from pytomography.likelihoods import PoissonLogLikelihood

        likelihood = PoissonLogLikelihood(self.system_matrix, self.to_peer_projections(projections))
        return self.from_peer_image(OSEM(likelihood)(n_iters=n_iterations, n_subsets=n_subsets))


def psf_meta(collimator: Collimator):
    """PyTomography's PSF metadata for a parallel ``collimator``, in the form of its own
    ``get_psfmeta_from_scanner_params``: σ(r) = √((a·r + b)² + c²) with a = d/l_e/2.355, b = d/2.355 and the
    intrinsic c = R_i/2.355 (cm)."""
    from pytomography.metadata.SPECT import SPECTPSFMeta

    a = collimator.hole_diameter_cm / collimator.effective_length_cm / FWHM_PER_SIGMA
    b = collimator.hole_diameter_cm / FWHM_PER_SIGMA
    c = collimator.intrinsic_fwhm_cm / FWHM_PER_SIGMA
    return SPECTPSFMeta((a, b, c), sigma_fit=lambda r, a, b, c: np.sqrt((a * r + b) ** 2 + c**2))


def pytomography_prac(
    nac: Tensor | np.ndarray, mu: Tensor | np.ndarray, grid: ImageGrid, template: Acquisition | None = None,
    n_iterations: int = 10, n_subsets: int = 3,
) -> Tensor:
    """PRAC done entirely in PyTomography (pseudo-projections without, OSEM with attenuation + PSF)."""
    acquisition = Acquisition.parallel_for(grid, template)
    pseudo = PyTomographyPeer(grid, acquisition).forward(nac)
    return PyTomographyPeer(grid, acquisition, mu=torch.as_tensor(mu)).osem(pseudo, n_iterations, n_subsets)

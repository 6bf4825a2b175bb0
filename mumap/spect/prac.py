"""Post-reconstruction attenuation correction (PRAC; Liu et al., J Nucl Cardiol 2021).

PRAC turns an nAC reconstruction into an AC one without the original projections: forward-project
the nAC image with a parallel-hole model *without* attenuation (pseudo-projections), then
reconstruct those with OSEM *with* the μ-map. It needs no vendor geometry, so one function serves
CTAC (CT μ-map) and DLAC (predicted μ-map) alike, on any scanner. :func:`prac_backend` runs the same PRAC by
mumap's own model (the default), by STIR or by PyTomography.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.osem import IterationCallback, osem
from mumap.spect.projector import SPECTProjector


def prac_projector(
    grid: ImageGrid,
    template: Acquisition | None = None,
    *,
    psf: bool = True,
    n_subsets: int = 3,
    depth_subsamples: int = 4,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> SPECTProjector:
    """The parallel-hole model PRAC uses on ``grid`` (angles, radius, PSF from ``template``).

    Build it once and pass it to every :func:`prac` call on the same grid.
    """
    return SPECTProjector(
        grid, Acquisition.parallel_for(grid, template), psf=psf, n_subsets=n_subsets,
        depth_subsamples=depth_subsamples, dtype=dtype, device=device,
    )


def prac(
    nac: Tensor | np.ndarray,
    mu: Tensor | np.ndarray,
    projector: SPECTProjector,
    *,
    n_iterations: int = 10,
    callback: IterationCallback | None = None,
    progress: bool = False,
) -> Tensor:
    """Attenuation-corrected image ``[nz, ny, nx]`` from an nAC image and a μ-map (cm⁻¹).

    ``projector`` must be parallel-hole and attenuation-free (see :func:`prac_projector`); its
    subsets are the OSEM subsets (the paper: 10 iterations × 3 subsets).
    """
    if projector.acquisition.collimator.kind != "parallel" or projector.mu is not None:
        raise ValueError("PRAC needs an attenuation-free parallel-hole projector: build it with prac_projector()")
    nac = projector.as_image(nac, "nac")
    if torch.any(nac < 0):
        raise ValueError("nAC image has negative values")
    pseudo_projections = projector.forward(nac)
    return osem(
        projector.with_attenuation(mu),
        pseudo_projections,
        n_iterations=n_iterations,
        callback=callback,
        progress=progress,
        description="PRAC",
    )


PRAC_BACKENDS = ("native", "stir", "pytomography")
"""Who runs PRAC: mumap's projector and OSEM, STIR (:mod:`mumap.spect.stir_backend`, ``make stir``) or
PyTomography (:mod:`mumap.spect.pytomography_peer`); all three model the same parallel-hole problem."""

PRAC = Callable[[Tensor | np.ndarray, Tensor | np.ndarray], Tensor]
"""PRAC on one grid: ``(nac [z, y, x], mu [z, y, x] in cm⁻¹) → AC image [z, y, x]``."""


def check_prac_backend(backend: str) -> None:
    """Raise :class:`ValueError` for an unknown ``backend`` and :class:`ImportError` (saying how to install it) when
    its library is missing: call it before long work that ends in PRAC."""
    if backend not in PRAC_BACKENDS:
        raise ValueError(f"unknown PRAC backend {backend!r}: choose one of {', '.join(PRAC_BACKENDS)}")
    if backend == "stir":
        from mumap.spect.stir_backend import stir

        stir()
    elif backend == "pytomography":
        from mumap.spect.pytomography_peer import pytomography

        pytomography()


@functools.lru_cache(maxsize=4)
def shared_prac_backend(backend: str, grid: ImageGrid) -> PRAC:
    """:func:`prac_backend` with its defaults, built once per (backend, grid) in a process: the evaluation report
    and the realism survey run PRAC on many studies of few grids, in a few worker processes."""
    return prac_backend(backend, grid)


def prac_backend(backend: str, grid: ImageGrid, template: Acquisition | None = None, *, n_iterations: int = 10,
                 n_subsets: int = 3) -> PRAC:
    """PRAC on ``grid`` (angles, radius, PSF from ``template``) by ``backend`` (one of :data:`PRAC_BACKENDS`),
    ``n_iterations`` × ``n_subsets``; errors as :func:`check_prac_backend`. Build it once per grid: the native
    backend builds its projector here."""
    check_prac_backend(backend)
    if backend == "native":
        projector = prac_projector(grid, template, n_subsets=n_subsets)
        return lambda nac, mu: prac(nac, mu, projector, n_iterations=n_iterations)
    if backend == "stir":
        from mumap.spect.stir_backend import stir_prac

        return lambda nac, mu: stir_prac(nac, mu, grid, template, n_iterations, n_subsets)
    from mumap.spect.pytomography_peer import pytomography_prac

    return lambda nac, mu: pytomography_prac(nac, mu, grid, template, n_iterations, n_subsets)

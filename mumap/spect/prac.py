"""Post-reconstruction attenuation correction (PRAC; Liu et al., J Nucl Cardiol 2021).

PRAC turns an nAC reconstruction into an AC one without the original projections: forward-project
the nAC image with a parallel-hole model *without* attenuation (pseudo-projections), then
reconstruct those with OSEM *with* the μ-map. It needs no vendor geometry, so one function serves
CTAC (CT μ-map) and DLAC (predicted μ-map) alike, on any scanner.
"""

from __future__ import annotations

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

"""Simulated SPECT acquisition: attenuated, collimated primaries + patient-dependent scatter, Poisson noise.

To avoid the inverse crime, simulate on a finer grid than the one you reconstruct on: build the projector
on the fine grid with :meth:`Acquisition.supersampled` detector pixels and pass ``detector_binning``, so the
projections come out on the clinical detector, each pixel the sum of its fine pixels (what a crystal
records), while the reconstruction uses its own, coarser discretisation of the same physics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mumap.spect.projector import PrimaryWindow, SPECTProjector
from mumap.spect.scatter import ScatterModel


@dataclass
class SimulatedAcquisition:
    """Projections ``[view, row, column]`` in counts, noisy and expected."""

    photopeak: Tensor  # measured counts, 129–150 keV
    lower_window: Tensor  # measured counts, 108–129 keV
    expected_primary: Tensor  # noise-free unscattered photopeak counts
    expected_scatter: Tensor  # noise-free photopeak scatter counts

    @property
    def scatter_fraction(self) -> float:
        """True scatter fraction of the photopeak window: scatter / (primary + scatter), noise-free."""
        scatter = float(self.expected_scatter.sum())
        return scatter / (scatter + float(self.expected_primary.sum()))


def simulate_acquisition(
    projector: SPECTProjector,
    activity: Tensor | np.ndarray,
    mu: Tensor | np.ndarray | None,
    *,
    total_counts: float,
    scatter: ScatterModel | None = None,
    detector_binning: int = 1,
    generator: torch.Generator | None = None,
) -> SimulatedAcquisition:
    """Acquire ``activity [nz, ny, nx]`` (relative units) through the μ-map ``mu`` (cm⁻¹; None: in air).

    ``projector`` is attenuation-free (μ is applied here, per energy window). The activity is scaled so
    that the expected photopeak counts (primary + scatter) over all views equal ``total_counts``; then
    every bin is Poisson-sampled (``generator`` makes it reproducible).
    """
    if total_counts <= 0:
        raise ValueError(f"total_counts must be > 0, got {total_counts}")
    windows = scatter or PrimaryWindow()
    projected = projector.forward_windows(activity, mu, windows, detector_binning)
    primary = projected[0]
    if scatter:
        peak_scatter, lower = projected[1], projected[2] + scatter.primary_spill * primary
    else:
        peak_scatter, lower = torch.zeros_like(primary), torch.zeros_like(primary)
    total = float((primary + peak_scatter).sum())
    if total <= 0:
        raise ValueError("the activity projects to zero counts: is the object inside the field of view?")
    scale = total_counts / total
    primary, peak_scatter, lower = primary * scale, peak_scatter * scale, lower * scale
    return SimulatedAcquisition(
        photopeak=torch.poisson(primary + peak_scatter, generator=generator),
        lower_window=torch.poisson(lower, generator=generator),
        expected_primary=primary,
        expected_scatter=peak_scatter,
    )

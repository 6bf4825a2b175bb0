"""Simulated SPECT acquisition: attenuated, blurred primary + scatter, with Poisson noise."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mumap.spect.projector import SPECTProjector
from mumap.spect.scatter import ScatterModel


@dataclass
class SimulatedAcquisition:
    """Projections ``[view, row, column]`` in counts, noisy and expected."""

    photopeak: Tensor  # measured counts, 129–150 keV
    lower_window: Tensor  # measured counts, 108–129 keV
    expected_primary: Tensor  # noise-free unscattered photopeak counts
    expected_scatter: Tensor  # noise-free photopeak scatter counts


def simulate_acquisition(
    projector: SPECTProjector,
    activity: Tensor,
    *,
    total_counts: float,
    scatter: ScatterModel | None = None,
    generator: torch.Generator | None = None,
) -> SimulatedAcquisition:
    """Acquire ``activity [nz, ny, nx]`` (relative units) with ``projector`` (attenuation included).

    The activity is scaled so that the expected photopeak counts (primary + scatter) over all views
    equal ``total_counts``; then every bin is Poisson-sampled (``generator`` makes it reproducible).
    """
    if total_counts <= 0:
        raise ValueError(f"total_counts must be > 0, got {total_counts}")
    primary = projector.forward(activity)
    pixel_vu_mm = projector.acquisition.pixel_vu_mm
    peak_scatter = scatter.photopeak(primary, pixel_vu_mm) if scatter else torch.zeros_like(primary)
    lower = scatter.lower_window(primary, pixel_vu_mm) if scatter else torch.zeros_like(primary)
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

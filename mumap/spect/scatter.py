"""Scatter: a patient-dependent model for simulation, and the TEW estimate for scatter correction (SC).

**Simulation model: build-up along each ray, in the patient frame.** Not Monte Carlo; a depth-dependent
convolution model in the spirit of slab-derived scatter estimation (SDSE: Beekman, den Harder, Viergever &
van Rijk, *Phys Med Biol* 42:1133, 1997), whose amplitude is set by the medium a photon crosses:

* *Photopeak window (129–150 keV).* From a source under a water-equivalent depth ``W`` the photopeak
  records primaries ``P·e^(−μW)`` and, with them, scattered photons; the two together fall off with the
  broad-beam coefficient ``μ_b`` (the "effective μ" of ⁹⁹ᵐTc in water for a photopeak window, 0.11–0.12
  cm⁻¹ against the narrow-beam 0.153: Chang, *IEEE TNS* 25:638, 1978; Jaszczak, Coleman & Whitehead,
  *IEEE TNS* 28:69, 1981). So the scatter is ``P·(e^(−μ_b·W) − e^(−μ·W))``. On a ray, ``W`` is the
  optical depth ``τ`` (the line integral of the μ-map from the sample to the detector) over μ of water:
  lung scatters less than tissue, and the scatter-to-primary ratio of a sample,
  ``e^((1 − μ_b/μ_w)·τ) − 1``, grows with the tissue crossed, i.e. with body size. mumap takes
  μ_b = 0.11: the myocardium's own scatter fraction then spans 0.25 (BMI 20) to 0.36 (BMI 41) for one
  man of the phantom (``tests/spect/test_scatter.py``), the 0.25–0.4 reported from slim to obese for
  ⁹⁹ᵐTc MPI; with 0.12 whole studies stay at 0.20–0.26 whatever the body. A whole study's fraction grows
  less than the heart's, because the body's own near-surface activity tends to ``1 − μ_b/μ`` at any size.
* *Where the scatter lands.* Spread around its primary ray by a Gaussian kernel in the patient plane
  (FWHM ``peak_kernel_fwhm_cm``), then collimated and magnified like the primaries
  (:meth:`~mumap.spect.projector.SPECTProjector.forward_windows`). The kernel widths are assumptions of
  this project, of the order of the ⁹⁹ᵐTc scatter response widths at 5–15 cm of water (Frey & Tsui,
  *IEEE TNS* 37:1308, 1990).
* *Lower window (108–129 keV).* Single Compton scatter (Klein–Nishina angular distribution) seen with the
  camera's energy resolution (Gaussian, ``energy_resolution`` FWHM at 140 keV, ∝ √E; Symbia: 9.9 %,
  vendor data sheet) puts ``η₁`` times as many scattered photons into the lower window as into the
  photopeak (:meth:`ScatterModel.single_scatter_ratio`, ≈ 1.35). Higher scatter orders end mostly below
  the photopeak (Floyd, Jaszczak, Harris & Coleman, *Phys Med Biol* 29:1217, 1984) and grow with the
  depth crossed: ``η(W) = η₁·(1 + β·W)``, ``β = multiple_scatter_per_cm`` (an assumption: +40 % at
  10 cm). The lower window also records primaries that the energy resolution spills out of the
  140.5 keV line (:meth:`ScatterModel.primary_spill`, ≈ 2.8 % of the photopeak primaries), with the
  primaries' own response, and its scatter kernel is broader (larger angles).

**Estimate** (triple-energy-window method, Ichihara et al., *J Nucl Med* 34:2216, 1993, with only the
lower window as in the paper; the upper window of Tc-99m holds almost no counts and is optional):
``Ŝ_peak = (C_low/W_low + C_up/W_up) · W_peak / 2``, smoothed on the detector to tame noise. It is an
estimate, not the truth: its error depends on the patient through ``η(W)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from scipy.special import erf
from torch import Tensor

from mumap.spect.attenuation import MU_WATER_140KEV
from mumap.spect.operators import gaussian_matrices

PHOTOPEAK_KEV = (129.0, 150.0)
LOWER_WINDOW_KEV = (108.0, 129.0)
EMISSION_KEV = 140.5
ELECTRON_REST_KEV = 511.0


def blur_detector(projections: Tensor, sigma_cm: float, pixel_vu_mm: tuple[float, float]) -> Tensor:
    """Gaussian blur (σ in cm) of each view of ``projections [view, row, column]`` on the detector plane."""
    _, rows, cols = projections.shape
    g_rows = gaussian_matrices([sigma_cm * 10 / pixel_vu_mm[0]], rows)[0]
    g_cols = gaussian_matrices([sigma_cm * 10 / pixel_vu_mm[1]], cols)[0]
    g_rows, g_cols = (torch.as_tensor(g, dtype=projections.dtype, device=projections.device) for g in (g_rows, g_cols))
    return torch.einsum("pq,vqu,wu->vpw", g_rows, projections, g_cols)


@dataclass(frozen=True)
class ScatterModel:
    """Photopeak- and lower-window scatter for simulation (see the module docstring)."""

    broad_beam_mu_per_cm: float = 0.11
    peak_kernel_fwhm_cm: float = 5.0
    lower_kernel_fwhm_cm: float = 8.0
    multiple_scatter_per_cm: float = 0.04
    energy_resolution: float = 0.099

    def __post_init__(self) -> None:
        if not 0.0 < self.broad_beam_mu_per_cm <= MU_WATER_140KEV:
            raise ValueError(f"ScatterModel.broad_beam_mu_per_cm must be in (0, {MU_WATER_140KEV}] (narrow-beam μ of "
                             f"water), got {self.broad_beam_mu_per_cm}")
        if min(self.peak_kernel_fwhm_cm, self.lower_kernel_fwhm_cm) <= 0 or self.multiple_scatter_per_cm < 0:
            raise ValueError("ScatterModel kernel widths must be > 0 cm and multiple_scatter_per_cm >= 0")
        if not 0.0 < self.energy_resolution < 0.5:
            raise ValueError(
                f"ScatterModel.energy_resolution is a FWHM fraction in (0, 0.5), got {self.energy_resolution}")

    def _window_fraction(self, energy_kev: np.ndarray, window_kev: tuple[float, float]) -> np.ndarray:
        """Fraction of photons of ``energy_kev`` that the camera records in ``window_kev``."""
        sigma = self.energy_resolution * EMISSION_KEV / (2 * math.sqrt(2 * math.log(2))) \
            * np.sqrt(energy_kev / EMISSION_KEV)
        lo, hi = ((edge - energy_kev) / (sigma * math.sqrt(2)) for edge in window_kev)
        return 0.5 * (erf(hi) - erf(lo))

    @cached_property
    def single_scatter_ratio(self) -> float:
        """η₁: once-scattered photons recorded in the lower window per one recorded in the photopeak.

        Klein–Nishina ``dσ/dΩ ∝ r²(r + 1/r − sin²θ)``, ``r = E'/E``, over all angles, each photon at its
        Compton energy ``E' = E/(1 + (E/511)(1 − cos θ))`` seen through the energy resolution.
        """
        theta = np.linspace(0.0, np.pi, 4001)
        energy = EMISSION_KEV / (1 + EMISSION_KEV / ELECTRON_REST_KEV * (1 - np.cos(theta)))
        r = energy / EMISSION_KEV
        weight = r**2 * (r + 1 / r - np.sin(theta) ** 2) * np.sin(theta)
        lower = np.trapezoid(weight * self._window_fraction(energy, LOWER_WINDOW_KEV), theta)
        peak = np.trapezoid(weight * self._window_fraction(energy, PHOTOPEAK_KEV), theta)
        return float(lower / peak)

    @cached_property
    def primary_spill(self) -> float:
        """Unscattered 140.5 keV photons recorded in the lower window per one recorded in the photopeak."""
        line = np.array([EMISSION_KEV])
        return float(self._window_fraction(line, LOWER_WINDOW_KEV)[0] / self._window_fraction(line, PHOTOPEAK_KEV)[0])

    @property
    def kernels_fwhm_cm(self) -> tuple[float, float, float]:
        """Patient-plane kernels of (primary, photopeak scatter, lower-window scatter)."""
        return (0.0, self.peak_kernel_fwhm_cm, self.lower_kernel_fwhm_cm)

    def amplitudes(self, optical_depth: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per unit of unattenuated activity at optical depth ``τ``: primaries ``e^(−τ)``, photopeak scatter
        ``e^(−μ_b/μ_w·τ) − e^(−τ)`` and lower-window scatter ``η₁·(1 + β·τ/μ_w)`` × the photopeak's
        (:class:`~mumap.spect.projector.EnergyWindows`)."""
        primary = torch.exp(-optical_depth)
        peak = optical_depth.mul(-self.broad_beam_mu_per_cm / MU_WATER_140KEV).exp_().sub_(primary)
        multiple = optical_depth.mul(self.multiple_scatter_per_cm / MU_WATER_140KEV).add_(1.0)
        lower = multiple.mul_(peak).mul_(self.single_scatter_ratio)
        return primary, peak, lower


def tew_scatter_estimate(
    lower: Tensor,
    pixel_vu_mm: tuple[float, float],
    *,
    upper: Tensor | None = None,
    lower_kev: tuple[float, float] = LOWER_WINDOW_KEV,
    peak_kev: tuple[float, float] = PHOTOPEAK_KEV,
    upper_width_kev: float = 3.0,
    smooth_sigma_cm: float = 1.0,
) -> Tensor:
    """TEW estimate of the photopeak scatter (counts) from the scatter-window projections."""
    width_low = lower_kev[1] - lower_kev[0]
    width_peak = peak_kev[1] - peak_kev[0]
    if width_low <= 0 or width_peak <= 0:
        raise ValueError(f"energy windows must have positive widths, got lower {lower_kev}, peak {peak_kev} keV")
    density = lower / width_low
    if upper is not None:
        density = density + upper / upper_width_kev
    estimate = density * width_peak / 2.0
    return blur_detector(estimate, smooth_sigma_cm, pixel_vu_mm) if smooth_sigma_cm > 0 else estimate

"""PRAC through STIR: the same parallel-hole problem as :mod:`mumap.spect.prac`, an independent backend.

STIR (Software for Tomographic Image Reconstruction; Thielemans et al., *Phys Med Biol* 57:867, 2012) with
its SPECTUB system matrix (Fuster et al., *Med Phys* 40:092502, 2013: ray geometry, full attenuation along
each voxel-to-bin line, depth-dependent Gaussian collimator response) forward-projects the nAC image without
attenuation and reconstructs the pseudo-projections with OSEM (OSMAPOSL's update without a prior, on STIR's
``PoissonLogLikelihoodWithLinearModelForMeanAndProjData3DFloat``) with the μ-map — all in memory through
STIR's Python module (``make stir``). STIR is imported lazily: this module imports without it and raises
:class:`ImportError` naming ``make stir`` when it is needed.

Conventions (from STIR 6.5.0's source, ``ProjMatrixByBinSPECTUB.cxx``, ``SPECTUB_Tools.cxx``,
``SPECTUB_Weight3d.cxx``, ``InterfilePDFSHeaderSPECT.cxx``; checked per view with an off-centre point source and an
off-centre attenuating slab in ``tests/spect/test_stir_backend.py``):

* **Image.** mumap's ``[z, y, x]`` array goes into STIR's ``[z, y, x]`` array as it is (z indices from 0, y and x
  centred, as STIR reads an Interfile image). SPECTUB ignores the image origin: the grid centre is on the rotation
  axis, as in :meth:`Acquisition.parallel_for`. SPECTUB's internal frame mirrors x (``InvertAxis`` when it
  stores the voxel indices): internal ``(x, y) = (−x, y)`` of mumap.
* **Angles** (:func:`stir_start_angle_deg`). SPECTUB puts the detector of view angle φ at ``(−sin φ, cos φ)``
  of its internal frame, i.e. mumap's ``n(θ) = (sin θ, −cos θ)`` for ``φ = 180° − θ``: STIR's first view angle
  (Interfile ``start angle``, the scanner's azimuthal offset) is ``180° − θ₀`` and the views step by ``−Δθ``
  (``direction of rotation := CW``). Then the tangential bins run along mumap's ``e_u`` and the axial positions
  along +z: STIR's ``[axial, view, tangential]`` is mumap's ``[view, row, column]`` transposed, with no flips.
* **Attenuation.** SPECTUB reads the μ-map in STIR's array order without the mirror it applies to the activity
  (STIR issue #452, open in 6.5.0), so the μ-map is handed to it mirrored in x (:func:`spectub_mu`).
* **Resolution.** SPECTUB's response is a Gaussian of **σ** (not FWHM) ``σ(d) = slope·d + σ₀`` in cm, ``d`` the
  distance from the detector plane (mumap's depth ``t``; ``calc_sigma_h``/``calc_sigma_v``); its
  ``set_resolution_model(σ₀ in mm, slope, full_3D)`` takes σ₀ in **mm** and a dimensionless slope (the SWIG
  docstring's ``slope_in_mm`` is wrong). mumap's ``σ(t) = √((d(l_e + t)/l_e)² + R_i²)/2.355`` is replaced by
  its least-squares line over 10–50 cm (:meth:`Collimator.linear_sigma_fit`). SPECTUB integrates the Gaussian
  over each bin and truncates it at 2σ (its ``maximum number of sigmas``, not settable from Python), mumap
  samples it at the pixel centres untruncated: thorax projections differ by ≈ 2 % with the PSF, ≈ 1 % without.
  The cut-off is not what is left: set to 3–5σ through an OSMAPOSL parameter file, the thorax difference grows
  to 2.4 %; fitting the line over other depth ranges (15–45, 20–40 cm) moves it by < 0.1 %. The difference
  depends on the grid (``scripts/stir_agreement.py``): 1.4 % with attenuation and PSF on the cohorts' 6.4 mm
  grid, on which the evaluation runs PRAC, 1.8–2.2 % on coarser grids or axial crops of the thorax.
* **OSEM** (:func:`osem_on_objective`). Subset k holds views k, k + n, … (as :func:`mumap.spect.osem.osem`),
  per-subset sensitivities, an initial image of ones; STIR's objective function does the projections.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import functools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mumap.spect.geometry import Acquisition, ImageGrid, require_parallel_for

STIR_MISSING = ("STIR is not installed: run `make stir` (unpacks a prebuilt STIR into .venv, or builds it from "
                "source) or, outside this project's Makefile, `conda install -c conda-forge stir`")
SPECTUB_MAX_SIGMAS = 2.0
"""Where SPECTUB truncates its Gaussian response (its default; the Python API cannot change it)."""


def stir() -> Any:
    """STIR's Python module, set up once (:func:`_set_up`); :class:`ImportError` with :data:`STIR_MISSING` if
    absent. Import STIR only through this function: its shared library is compiled with ``-ffast-math``, and
    loading it sets flush-to-zero and denormals-are-zero in the loading thread (GCC's ``crtfastmath.o``
    constructor), which would silently change every later float computation of the process — numpy's, torch's,
    mumap's own; the floating-point environment is saved before the import and restored after it."""
    try:
        with _floating_point_environment_kept():
            import stir as stir_module
    except ImportError as err:
        raise ImportError(STIR_MISSING) from err
    _set_up(stir_module)
    return stir_module


@functools.cache
def _set_up(stir_module: Any) -> None:
    """Quiet (verbosity 0), and STIR's thread count set once. STIR and torch share the OpenMP runtime; until
    STIR's count has been set, STIR's own set-up code calls ``set_num_threads(0)``, which resets OpenMP to STIR's
    default (90 % of the cores) in the middle of work sized for the current count: after
    ``torch.set_num_threads(1)`` (a worker process, :func:`~mumap.utils.parallel.map_jobs`) the Poisson
    objective's set-up then crashed (a segmentation fault, STIR 6.5.0). The count is set ≥ 2 (below that STIR
    prints a warning), then the process's own count, torch's, is put back."""
    threads = torch.get_num_threads()
    stir_module.set_num_threads(max(threads, 2))
    torch.set_num_threads(threads)
    stir_module.Verbosity.set(0)


@functools.cache
def _libm() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("m")
    return ctypes.CDLL(name) if name else None


@contextlib.contextmanager
def _floating_point_environment_kept() -> Iterator[None]:
    """Restore the C floating-point environment (``fegetenv``/``fesetenv`` of libm) on leaving; a no-op where
    there is no libm to call."""
    libm = _libm()
    if libm is None:
        yield
        return
    environment = ctypes.create_string_buffer(256)  # ≥ sizeof(fenv_t) on every ABI (32 bytes on x86-64 glibc)
    libm.fegetenv(environment)
    try:
        yield
    finally:
        libm.fesetenv(environment)


def stir_start_angle_deg(acquisition: Acquisition) -> float:
    """STIR's angle of the first view, ``180° − θ₀`` in [0°, 360°); the views then step clockwise by ``step_deg``."""
    return (180.0 - acquisition.start_deg) % 360.0


def spectub_mu(mu_zyx: np.ndarray) -> np.ndarray:
    """The μ-map ``[z, y, x]`` as SPECTUB must be given it: mirrored in x (STIR issue #452)."""
    return np.ascontiguousarray(np.asarray(mu_zyx, dtype=np.float32)[:, :, ::-1])


def proj_data_info(acquisition: Acquisition) -> Any:
    """STIR's SPECT projection geometry of a parallel ``acquisition`` (what STIR builds from an Interfile ``.hs``)."""
    s = stir()
    rows, columns = acquisition.detector_shape
    dv_mm, du_mm = acquisition.pixel_vu_mm
    radius_mm = acquisition.radius_cm * 10.0
    scanner = s.Scanner(s.Scanner.User_defined_scanner, "mumap", -1, rows, columns, columns, radius_mm, 0.0, dv_mm,
                        du_mm, math.radians(stir_start_angle_deg(acquisition)), -1, -1, -1, -1, -1, -1, 1)
    axial = s.IntVectorWithOffset(1)
    axial[0] = rows
    ring_difference = s.IntVectorWithOffset(1)
    ring_difference[0] = 0
    info = s.ProjDataInfoCylindricalArcCorr(scanner, du_mm, axial, ring_difference, ring_difference,
                                            acquisition.n_views, columns)
    info.set_azimuthal_angle_sampling(-math.radians(acquisition.step_deg))  # clockwise
    radii = s.FloatVectorWithOffset(acquisition.n_views)
    for view in range(acquisition.n_views):
        radii[view] = radius_mm
    info.set_ring_radii_for_all_views(radii)
    return info


class STIRProjector:
    """STIR's SPECTUB system matrix for mumap's parallel ``acquisition`` on ``grid`` (with ``mu`` in cm⁻¹ if given).

    Images are ``[nz, ny, nx]``, projections ``[n_views, rows, columns]``, both in mumap's layout.
    """

    def __init__(self, grid: ImageGrid, acquisition: Acquisition, *, mu: Tensor | np.ndarray | None = None,
                 psf: bool = True):
        require_parallel_for(grid, acquisition, "the STIR backend")
        s = stir()
        self.grid, self.acquisition = grid, acquisition
        self._exam_info = s.ExamInfo(s.ImagingModality(s.ImagingModality.NM))
        self.info = proj_data_info(acquisition)
        self.matrix = s.ProjMatrixByBinSPECTUB()
        self.matrix.set_keep_all_views_in_cache(True)
        if psf:
            slope, sigma0_cm = acquisition.collimator.linear_sigma_fit()
            self.matrix.set_resolution_model(sigma0_cm * 10.0, slope, True)
        if mu is not None:
            self.matrix.set_attenuation_type("full")
            self.matrix.set_attenuation_image_sptr(self.to_stir_image(spectub_mu(torch.as_tensor(mu).numpy())))

    def to_stir_image(self, image: Tensor | np.ndarray) -> Any:
        """mumap image ``[z, y, x]`` → ``stir.FloatVoxelsOnCartesianGrid`` (voxel sizes in mm, origin 0)."""
        s = stir()
        image = np.ascontiguousarray(torch.as_tensor(image).numpy(), dtype=np.float32)
        if image.shape != self.grid.shape:
            raise ValueError(f"image has shape {image.shape}, expected the grid's {self.grid.shape} (z, y, x)")
        nz, ny, nx = self.grid.shape
        first = s.Int3BasicCoordinate((0, -(ny // 2), -(nx // 2)))
        last = s.Int3BasicCoordinate((nz - 1, ny - 1 - ny // 2, nx - 1 - nx // 2))
        volume = s.FloatVoxelsOnCartesianGrid(self._exam_info, s.IndexRange3D(first, last),
                                              s.FloatCartesianCoordinate3D(0.0, 0.0, 0.0),
                                              s.Float3BasicCoordinate(tuple(self.grid.voxel_zyx_mm)))
        volume.fill(image.flat)
        return volume

    def to_stir_projections(self, projections: Tensor | np.ndarray) -> Any:
        """mumap projections ``[view, row, column]`` → ``stir.ProjDataInMemory``."""
        s = stir()
        projections = torch.as_tensor(projections).numpy().astype(np.float32)
        expected = (self.acquisition.n_views, *self.acquisition.detector_shape)
        if projections.shape != expected:
            raise ValueError(f"projections have shape {projections.shape}, expected {expected} (view, row, column)")
        data = s.ProjDataInMemory(self._exam_info, self.info)
        data.fill(np.ascontiguousarray(projections.transpose(1, 0, 2)).flat)  # [axial, view, tangential]
        return data

    @staticmethod
    def from_stir_projections(data: Any) -> Tensor:
        """STIR projections (one segment ``[axial, view, tangential]``) → mumap ``[view, row, column]``."""
        array = stir_array(data)
        return torch.from_numpy(np.ascontiguousarray(array.reshape(array.shape[-3:]).transpose(1, 0, 2)))

    def forward(self, image: Tensor | np.ndarray) -> Tensor:
        """Project ``image [nz, ny, nx]`` → ``[n_views, rows, columns]`` (float32)."""
        s = stir()
        volume = self.to_stir_image(image)
        projector = s.ForwardProjectorByBinUsingProjMatrixByBin(self.matrix)
        projector.set_up(self.info, volume)
        data = s.ProjDataInMemory(self._exam_info, self.info)
        projector.forward_project(data, volume)
        return self.from_stir_projections(data)

    def osem(self, projections: Tensor | np.ndarray, n_iterations: int = 10, n_subsets: int = 3) -> Tensor:
        """OSEM on STIR's Poisson log-likelihood of mumap-layout ``projections`` → image ``[nz, ny, nx]`` (float32)."""
        s = stir()
        objective = s.PoissonLogLikelihoodWithLinearModelForMeanAndProjData3DFloat()
        objective.set_projector_pair_sptr(s.ProjectorByBinPairUsingProjMatrixByBin(self.matrix))
        objective.set_proj_data_sptr(self.to_stir_projections(projections))
        return osem_on_objective(objective, self.to_stir_image(np.ones(self.grid.shape)), n_iterations, n_subsets)


def osem_on_objective(objective: Any, initial: Any, n_iterations: int, n_subsets: int) -> Tensor:
    """OSEM with STIR's ``PoissonLogLikelihoodWithLinearModelForMeanAndProjData3DFloat`` ``objective`` (projector
    pair and data set) from the STIR image ``initial`` → ``[z, y, x]`` (float32).

    Per subset k: ``x ← x · A_kᵀ(y / A_k x) / A_kᵀ1`` (STIR's ``compute_sub_gradient_without_penalty_plus_sensitivity``
    over its subset sensitivity), exactly OSMAPOSL's update without a prior. Driven from here because STIR's
    ``OSMAPOSLReconstruction`` refuses subsets of unequal size (34 views in 3 subsets: 12, 11, 11), which the
    objective function accepts with subset sensitivities. Voxels some subset does not see stay 0, as in
    :func:`mumap.spect.osem.osem`.
    """
    objective.set_num_subsets(n_subsets)
    objective.set_use_subset_sensitivities(True)
    objective.set_recompute_sensitivity(True)
    if not objective.set_up(initial).succeeded():
        raise RuntimeError("STIR could not set up the Poisson log-likelihood (see STIR's messages above)")
    sensitivities = [stir_array(objective.get_subset_sensitivity(k)) for k in range(n_subsets)]
    seen = np.min(sensitivities, axis=0) > 0
    image = stir_array(initial).clip(min=0) * seen
    current, backprojection = initial.get_empty_copy(), initial.get_empty_copy()
    for _ in range(n_iterations):
        for k in range(n_subsets):
            current.fill(image.flat)
            objective.compute_sub_gradient_without_penalty_plus_sensitivity(backprojection, current, k)
            image = np.where(seen, image * stir_array(backprojection) / np.where(seen, sensitivities[k], 1.0), 0.0)
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))


def stir_array(data: Any) -> np.ndarray:
    """A STIR image or projection data as a float32 numpy array (STIR's index order)."""
    array = data.to_array() if hasattr(data, "to_array") else data
    return np.asarray(array.as_array(), dtype=np.float32)


def stir_prac(nac: Tensor | np.ndarray, mu: Tensor | np.ndarray, grid: ImageGrid, template: Acquisition | None = None,
              n_iterations: int = 10, n_subsets: int = 3, psf: bool = True) -> Tensor:
    """PRAC done entirely in STIR: pseudo-projections of ``nac [z, y, x]`` without attenuation, then OSEM with
    ``mu [z, y, x]`` (cm⁻¹) and the PSF → AC image ``[z, y, x]`` (float32)."""
    acquisition = Acquisition.parallel_for(grid, template)
    pseudo = STIRProjector(grid, acquisition, psf=psf).forward(nac)
    return STIRProjector(grid, acquisition, mu=mu, psf=psf).osem(pseudo, n_iterations, n_subsets)


def osem_from_par(par: str | Path) -> Any:
    """OSEM (:func:`osem_on_objective`) of an OSMAPOSL parameter file such as :func:`~mumap.spect.interfile.
    export_prac_for_stir` writes: STIR parses it (objective function, projector, input data, initial estimate,
    subsets, sub-iterations; file names relative to the working directory) → the STIR image."""
    s = stir()
    if not Path(par).is_file():
        raise FileNotFoundError(f"{par}: no such OSMAPOSL parameter file")
    reconstruction = s.OSMAPOSLReconstruction3DFloat(str(par))
    n_subsets = reconstruction.get_num_subsets()
    n_subiterations = reconstruction.get_num_subiterations()
    if n_subiterations % n_subsets:
        raise ValueError(f"{par}: number of subiterations ({n_subiterations}) is not whole iterations of "
                         f"{n_subsets} subsets")
    initial = reconstruction.get_initial_data()
    image = osem_on_objective(reconstruction.get_objective_function(), initial, n_subiterations // n_subsets,
                              n_subsets)
    initial.fill(image.numpy().flat)
    return initial


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OSEM of an OSMAPOSL parameter file through STIR's Python module, "
                                     "with subsets of any size (the second step of mumap's STIR PRAC recipe)")
    parser.add_argument("par", help="OSMAPOSL parameter file (prac_osem.par)")
    parser.add_argument("output", help="output Interfile image (.hv)")
    args = parser.parse_args(argv)
    osem_from_par(args.par).write_to_file(args.output)


if __name__ == "__main__":
    main()

"""STIR (SPECTUB) against mumap's native parallel-hole model: geometry per view, attenuation, PSF, PRAC, recipe."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from mumap.bench.spect import inside_orbit, rel_diff
from mumap.data.phantom import thorax_phantom
from mumap.data.synthesize import PRESETS
from mumap.spect import interfile, stir_backend
from mumap.spect.geometry import Acquisition, Collimator, ImageGrid
from mumap.spect.prac import prac, prac_projector
from mumap.spect.projector import SPECTProjector
from tests.helpers import SMALL_GRID, require_stir, smooth_random

stir = require_stir()

POINT_GRID = ImageGrid((6, 24, 24), (4.8, 4.8, 4.8))


SUBNORMALS_SURVIVE = "import numpy as np; print(bool(np.array([1e-310]) * 1.0) and bool(np.float32(1e-40) * 1))"


@pytest.mark.parametrize(("importer", "survive"), [("import stir", "False"),
                                                   ("from mumap.spect.stir_backend import stir; stir()", "True")])
def test_importing_stir_through_the_backend_keeps_subnormal_floats(importer, survive):
    """STIR's library is built with -ffast-math (flush-to-zero on load); the backend restores the environment."""
    out = subprocess.run([sys.executable, "-c", f"{importer}; {SUBNORMALS_SURVIVE}"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == survive
    assert np.array([1e-310])[0] * 1.0 > 0 and np.float32(1e-40) * np.float32(1) > 0  # here too, STIR loaded


def test_stir_runs_after_torch_is_set_to_one_thread():
    """STIR and torch share OpenMP; STIR reset it inside its objective's set-up (to its default count) until its
    own count had been set once, and crashed there after torch.set_num_threads(1), as in a worker process."""
    code = ("import torch; torch.set_num_threads(1); from mumap.spect.geometry import ImageGrid; "
            "from mumap.data.phantom import thorax_phantom; from mumap.spect.stir_backend import stir_prac; "
            "grid = ImageGrid((12, 24, 24), (9.6, 9.6, 9.6)); activity, mu = thorax_phantom(grid); "
            "print(float(stir_prac(activity, mu, grid, n_iterations=1).sum()) > 0, torch.get_num_threads())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "1"]  # and the process keeps the one thread it chose


def _linear_collimator(acquisition: Acquisition) -> Acquisition:
    """No intrinsic blur: mumap's σ(t) = d(l_e + t)/l_e/2.355 is then exactly SPECTUB's linear model."""
    return replace(acquisition, collimator=replace(acquisition.collimator, intrinsic_fwhm_cm=0.0))


def _point() -> torch.Tensor:
    image = torch.zeros(POINT_GRID.shape)
    image[2, 8, 16] = 1.0  # anterior (y < 0) and patient-left (x > 0) of the rotation axis
    return image


def _centroids_and_widths(projections: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per view: counts, row and column centroids (pixels), column rms width (pixels)."""
    p = projections.double()
    counts = p.sum((1, 2))
    rows, columns = torch.arange(p.shape[1]), torch.arange(p.shape[2])
    row = (p.sum(2) * rows).sum(1) / counts
    column = (p.sum(1) * columns).sum(1) / counts
    width = ((p.sum(1) * (columns[None] - column[:, None]) ** 2).sum(1) / counts).sqrt()
    return counts, row, column, width


def test_off_centre_point_source_lands_on_the_native_bins_in_every_view():
    """Angle origin (STIR 180° − θ), direction (clockwise), bin and axial directions: no PSF, no attenuation."""
    acquisition = Acquisition.parallel_for(POINT_GRID)
    native = SPECTProjector(POINT_GRID, acquisition, psf=False).forward(_point())
    ours = stir_backend.STIRProjector(POINT_GRID, acquisition, psf=False).forward(_point())
    assert ours.shape == native.shape == (34, 6, 24)
    for view in range(acquisition.n_views):
        assert divmod(int(ours[view].argmax()), 24) == divmod(int(native[view].argmax()), 24)
    _, row_n, column_n, _ = _centroids_and_widths(native)
    _, row_s, column_s, _ = _centroids_and_widths(ours)
    assert torch.all(row_s == 2) and torch.all(row_n == 2)
    assert float((column_s - column_n).abs().max()) < 0.05  # pixels; the point moves 7 pixels over the orbit
    assert float(column_n.max() - column_n.min()) > 5
    assert rel_diff(ours, native) <= 0.02  # measured 0.018: trapezoid footprint vs bilinear thick ray


@pytest.mark.parametrize("shape", [(5, 23, 25), (6, 24, 25), (5, 25, 23)])
def test_odd_and_non_square_grids_keep_the_geometry(shape):
    """SPECTUB mirrors x about the grid centre for odd and even sizes alike: same column centroids in every view."""
    grid = ImageGrid(shape, (4.8, 4.8, 4.8))
    image = torch.zeros(shape)
    image[2, 7, 17] = 1.0
    acquisition = Acquisition.parallel_for(grid)
    native = SPECTProjector(grid, acquisition, psf=False).forward(image)
    ours = stir_backend.STIRProjector(grid, acquisition, psf=False).forward(image)
    _, row_n, column_n, _ = _centroids_and_widths(native)
    _, row_s, column_s, _ = _centroids_and_widths(ours)
    assert float((column_s - column_n).abs().max()) < 0.05 and torch.equal(row_s, row_n)


def test_point_source_with_psf_has_the_native_position_and_spectub_s_truncated_width():
    """Same linear σ(depth): same centroids; SPECTUB cuts its Gaussian at 2σ (elliptically, renormalised), which
    leaves 0.83 of the rms width (√ of ∫₀² r³e^(−r²/2)dr / ∫₀² r e^(−r²/2)dr / 2 = 0.829), a documented difference."""
    acquisition = _linear_collimator(Acquisition.parallel_for(POINT_GRID))
    counts_n, row_n, column_n, width_n = _centroids_and_widths(
        SPECTProjector(POINT_GRID, acquisition, psf=True).forward(_point()))
    counts_s, row_s, column_s, width_s = _centroids_and_widths(
        stir_backend.STIRProjector(POINT_GRID, acquisition, psf=True).forward(_point()))
    assert float((column_s - column_n).abs().max()) < 0.1
    assert float((row_s - row_n).abs().max()) < 0.1
    assert float((counts_s / counts_n - 1).abs().max()) < 0.05
    assert 0.80 < float((width_s / width_n).min()) and float((width_s / width_n).max()) < 0.90


@pytest.mark.parametrize(("grid", "attenuation", "psf", "tolerance"), [
    (SMALL_GRID, False, False, 0.02), (SMALL_GRID, True, False, 0.02), (SMALL_GRID, True, True, 0.025),
    (PRESETS["quick"].grid, True, True, 0.02)], ids=["geometry", "attenuation", "attenuation+psf", "cohort grid"])
def test_thorax_projections_match_native(grid, attenuation, psf, tolerance):
    """On the 9.6 mm grid measured 0.001, 0.012, 0.020: with the PSF the two response models differ (SPECTUB's
    truncated, bin-integrated Gaussian on the line fitted to mumap's σ(t), mumap's untruncated, point-sampled one);
    a wider SPECTUB cut-off (3–5σ) makes it 0.024, another fitting range moves it < 0.001 — the target is 2 %:
    2.5 % there. On the quick and hard cohorts' 80×80×40 grid of 6.4 mm, on which the evaluation runs PRAC,
    attenuation and PSF measure 0.014, within the 2 %. ``scripts/stir_agreement.py`` measures other grids: 1.8–2.2 %
    on crops of the thorax (10–15 cm axially), where the response models' difference (PSF alone: 1.1 % on the
    cohort grid, 1.4–2.6 % there) weighs more."""
    activity, mu = (torch.from_numpy(a) for a in thorax_phantom(grid))
    acquisition = Acquisition.parallel_for(grid)
    native = SPECTProjector(grid, acquisition, psf=psf)
    if attenuation:
        native = native.with_attenuation(mu)
    ours = stir_backend.STIRProjector(grid, acquisition, mu=mu if attenuation else None, psf=psf)
    assert rel_diff(ours.forward(activity), native.forward(activity)) <= tolerance


def test_mu_map_is_mirrored_for_spectub(monkeypatch):
    """An attenuating slab on the patient's left only: right with the mirror (STIR issue #452), far off without."""
    activity = smooth_random(POINT_GRID, seed=2, radius_voxels=10).float()
    mu = torch.zeros(POINT_GRID.shape)
    mu[:, :, 14:] = 0.15
    acquisition = Acquisition.parallel_for(POINT_GRID)
    native = SPECTProjector(POINT_GRID, acquisition, psf=False).with_attenuation(mu).forward(activity)
    mirrored = stir_backend.STIRProjector(POINT_GRID, acquisition, mu=mu, psf=False).forward(activity)
    monkeypatch.setattr(stir_backend, "spectub_mu", lambda m: np.ascontiguousarray(m, dtype=np.float32))
    unmirrored = stir_backend.STIRProjector(POINT_GRID, acquisition, mu=mu, psf=False).forward(activity)
    assert rel_diff(mirrored, native) <= 0.03  # measured 0.023 (the slab's sharp edge crosses the grid centre)
    assert rel_diff(unmirrored, native) > 0.15


def test_prac_matches_native_inside_the_orbit():
    """PRAC 10 × 3 on the bench's thorax (9.6 mm voxels): measured 0.048 relative L2 (0.034 without PSF)."""
    activity, mu = thorax_phantom(SMALL_GRID)
    orbit = inside_orbit(SMALL_GRID, Acquisition.parallel_for(SMALL_GRID))
    native = prac(activity, mu, prac_projector(SMALL_GRID))
    ours = stir_backend.stir_prac(activity, mu, SMALL_GRID)
    assert ours.shape == native.shape
    assert rel_diff(ours, native, orbit) <= 0.05
    assert float(ours[orbit].sum() / native[orbit].sum()) == pytest.approx(1.0, abs=0.01)


def test_exported_recipe_gives_the_in_memory_image(tmp_path, monkeypatch):
    """export_prac_for_stir's files read by STIR (headers, both parameter files): the geometry of template.hs is
    the in-memory one, and its PRAC is the in-memory backend's image."""
    grid = ImageGrid((8, 24, 24), (9.6, 9.6, 9.6))
    activity, mu = thorax_phantom(grid)
    interfile.export_prac_for_stir(tmp_path, activity, mu, grid, Acquisition())
    monkeypatch.chdir(tmp_path)
    nac = stir.FloatVoxelsOnCartesianGrid.read_from_file("nac.hv")
    template = stir.ProjData.read_from_file("template.hs")
    info = template.get_proj_data_info()
    in_memory = stir_backend.proj_data_info(Acquisition.parallel_for(grid))
    for view in range(34):
        bin_ = stir.Bin(0, view, 0, 0)
        assert info.get_phi(bin_) == pytest.approx(in_memory.get_phi(bin_), abs=1e-5)
    # step 1, as STIR's forward_project would run forward_project.par
    par = (tmp_path / "forward_project.par").read_text()
    slope = float(re.search(r"collimator slope := (\S+)", par)[1])
    sigma0_cm = float(re.search(r"collimator sigma 0\(cm\) := (\S+)", par)[1])
    assert "attenuation type := No" in par and "maximum number of sigmas := 2" in par
    matrix = stir.ProjMatrixByBinSPECTUB()
    matrix.set_keep_all_views_in_cache(True)
    matrix.set_resolution_model(sigma0_cm * 10.0, slope, True)
    projector = stir.ForwardProjectorByBinUsingProjMatrixByBin(matrix)
    projector.set_up(info, nac)
    pseudo = stir.ProjDataInMemory(template.get_exam_info(), info)
    projector.forward_project(pseudo, nac)
    pseudo.write_to_file("pseudo_projections.hs")
    # step 2: prac_osem.par as STIR parses it, by the script's command
    assert "python3 -m mumap.spect.stir_backend prac_osem.par prac.hv" in (tmp_path / "run_prac_stir.sh").read_text()
    stir_backend.main(["prac_osem.par", "prac.hv"])
    recipe, _ = interfile.read(tmp_path / "prac.hv")
    in_memory_image = stir_backend.stir_prac(activity, mu, grid).numpy()
    assert np.linalg.norm(recipe - in_memory_image) / np.linalg.norm(in_memory_image) < 1e-4


def test_errors_name_the_problem(tmp_path):
    parallel = Acquisition.parallel_for(POINT_GRID)
    with pytest.raises(ValueError, match="parallel-hole only"):
        stir_backend.STIRProjector(POINT_GRID, replace(parallel, collimator=Collimator(kind="multifocal")))
    with pytest.raises(ValueError, match="detector pixels that match the voxels"):
        stir_backend.STIRProjector(POINT_GRID, Acquisition())
    with pytest.raises(ValueError, match=r"image has shape \(2, 3, 4\)"):
        stir_backend.STIRProjector(POINT_GRID, parallel, psf=False).forward(torch.zeros(2, 3, 4))
    with pytest.raises(FileNotFoundError, match="no such OSMAPOSL parameter file"):
        stir_backend.osem_from_par(tmp_path / "missing.par")

"""Geometry metadata: validation, orbit defaults, collimator ray model and PSF defaults."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mumap.spect.geometry import Acquisition, Collimator, ImageGrid


def test_grid_rejects_bad_shapes_and_non_square_voxels():
    with pytest.raises(ValueError, match="three positive sizes"):
        ImageGrid((10, 10))
    with pytest.raises(ValueError, match="square transaxial voxels"):
        ImageGrid((10, 10, 10), (4.8, 4.8, 3.0))


def test_grid_centres_are_symmetric_in_mm():
    grid = ImageGrid((3, 4, 4), (2.0, 4.8, 4.8))
    np.testing.assert_allclose(grid.centres_mm(0), [-2.0, 0.0, 2.0])
    np.testing.assert_allclose(grid.centres_mm(2), [-7.2, -2.4, 2.4, 7.2])


def test_default_orbit_is_the_papers_iq_spect_protocol():
    acq = Acquisition()
    assert acq.n_views == 34 and acq.n_heads == 2 and acq.radius_cm == 28.0
    np.testing.assert_allclose(np.diff(acq.angles_deg), 6.0)
    assert acq.angles_deg[0] == -54.0 and acq.angles_deg[-1] == 144.0
    assert (acq.angles_deg[0] + acq.angles_deg[-1]) / 2 == 45.0  # centred on LAO 45°
    assert list(np.bincount(acq.head_of_view)) == [17, 17]


def test_acquisition_validation_names_the_field():
    with pytest.raises(ValueError, match="multiple of n_heads"):
        Acquisition(n_views=33, n_heads=2)
    with pytest.raises(ValueError, match="radius_cm"):
        Acquisition(radius_cm=0)
    with pytest.raises(ValueError, match="kind"):
        Collimator(kind="fanbeam")


def test_multifocal_magnifies_twice_at_the_heart_and_is_parallel_at_the_edges():
    iq = Collimator(kind="multifocal")
    assert iq.magnification(0.0, 28.0, "u") == pytest.approx(2.0, rel=1e-6)
    assert iq.magnification(0.0, 28.0, "v") == pytest.approx(2.0, rel=1e-6)
    # convergence fades: the ray slope goes to 0 at and beyond the zoom half-width
    assert iq.ray_slope(np.array([26.65, 30.0]), "u") == pytest.approx([0.0, 0.0], abs=1e-12)
    assert abs(iq.ray_slope(20.0, "u")) < abs(iq.ray_slope(10.0, "u"))
    assert iq.ray_slope(-5.0, "u") == pytest.approx(-iq.ray_slope(5.0, "u"))
    assert Collimator(kind="parallel").ray_slope(np.array([5.0]), "u")[0] == 0.0


def test_parallel_for_matches_the_grid():
    grid = ImageGrid((24, 40, 48), (3.0, 4.0, 4.0))
    acq = Acquisition.parallel_for(grid, Acquisition(collimator=Collimator(kind="multifocal"), radius_cm=30))
    assert acq.collimator.kind == "parallel" and acq.radius_cm == 30
    assert acq.detector_shape == (24, 48) and acq.pixel_vu_mm == (3.0, 4.0)


def test_collimator_defaults_are_pytomographys_sy_lehr_and_its_nist_lead():
    """Hole diameter, septa and length from PyTomography's collim.col (SIMIND's table), lead μ from its NIST data."""
    pytomography = pytest.importorskip("pytomography")
    from pytomography.utils.nist_data import get_mu_from_spectrum_interp

    data = os.path.join(os.path.dirname(pytomography.__file__), "data")
    line = next(row for row in open(os.path.join(data, "collim.col")) if row.startswith("*SY-LEHR "))
    diameter, septa, length = (float(v) for v in line.split()[1:4])
    lead = get_mu_from_spectrum_interp(os.path.join(data, "NIST_attenuation_data", "lead.csv"), 140.5)
    c = Collimator()
    assert (c.hole_diameter_cm, c.septa_cm, c.hole_length_cm) == (diameter, septa, length)
    assert c.lead_mu_per_cm == pytest.approx(lead, rel=0.01)


def test_parallel_response_is_pytomographys_scanner_model():
    """σ(t) on the detector = PyTomography's get_psfmeta_from_scanner_params('SY-LEHR', 140.5 keV, 3.8 mm)."""
    pytest.importorskip("pytomography")
    from pytomography.io.SPECT.dicom import get_psfmeta_from_scanner_params

    meta = get_psfmeta_from_scanner_params("SY-LEHR", 140.5, intrinsic_resolution=0.38)
    depth = np.linspace(0.0, 50.0, 26)
    theirs = meta.sigma_fit(depth, *meta.sigma_fit_params)
    ours = Collimator(kind="parallel").detector_sigma_cm(0.0, depth, "u")
    assert np.max(np.abs(ours / theirs - 1)) < 0.01


def test_lehr_fwhm_follows_the_hole_geometry():
    """Analytic case: R = d(l_e + t)/l_e with l_e = l − 2/μ; 0 cm → the hole diameter, and ≈ 7.3 mm at 10 cm."""
    c = Collimator()
    assert c.geometric_fwhm_cm(0.0) == pytest.approx(0.111)
    assert c.geometric_fwhm_cm(10.0) == pytest.approx(0.111 * (1 + 10.0 / (2.405 - 2 / 28.3)), rel=1e-9)
    assert c.patient_fwhm_cm(0.0, 10.0, "u") == pytest.approx(np.hypot(0.587, 0.38), rel=0.01)


def test_converging_holes_shrink_only_the_intrinsic_blur_in_the_patient():
    """Patient-frame FWHM √(R_g² + (R_i/M)²): below the parallel one where M > 1; F → ∞ is parallel."""
    iq, parallel = Collimator(kind="multifocal"), Collimator(kind="parallel")
    depth = np.array([13.0, 28.0, 43.0])
    magnification = iq.magnification(0.0, depth, "u")
    assert magnification == pytest.approx(56.0 / (56.0 - depth), rel=1e-6)
    expected = np.hypot(iq.geometric_fwhm_cm(depth), 0.38 / magnification)
    assert iq.patient_fwhm_cm(0.0, depth, "u") == pytest.approx(expected, rel=1e-9)
    assert np.all(iq.patient_fwhm_cm(0.0, depth, "u") < parallel.patient_fwhm_cm(0.0, depth, "u"))
    # on the detector the geometric blur is magnified: 2× at the 28 cm orbit radius
    on_detector = np.hypot(2 * iq.geometric_fwhm_cm(28.0), 0.38)
    assert iq.detector_sigma_cm(0.0, 28.0, "u") * 2.3548 == pytest.approx(on_detector, rel=1e-4)
    far = Collimator(kind="multifocal", focal_length_cm=1e9)
    s = np.linspace(-20, 20, 9)
    assert far.detector_sigma_cm(s[:, None], depth, "u") == pytest.approx(
        parallel.detector_sigma_cm(s[:, None], depth, "u"), rel=1e-6)


def test_collimator_refuses_holes_shorter_than_the_lead_they_need():
    with pytest.raises(ValueError, match="mean free paths"):
        Collimator(hole_length_cm=0.05)


def test_detector_coverage_is_the_crystal_and_adds_up_under_supersampling():
    acq = Acquisition(detector_shape=(128, 128), pixel_vu_mm=(4.8, 4.8))
    rows, cols = acq.detector_coverage("v"), acq.detector_coverage("u")
    assert rows.sum() == pytest.approx(38.7 / 0.48) and cols.sum() == pytest.approx(53.3 / 0.48)
    assert rows[64] == 1.0 and rows[0] == 0.0 and 0 < rows[rows < 1].max() < 1  # partly covered edge pixels
    fine = acq.supersampled(2)
    assert fine.detector_shape == (256, 256) and fine.pixel_vu_mm == (2.4, 2.4)
    for axis, coarse in (("v", rows), ("u", cols)):
        assert fine.detector_coverage(axis).reshape(-1, 2).sum(1) / 2 == pytest.approx(coarse)
    assert np.all(Acquisition.parallel_for(ImageGrid((8, 8, 8))).detector_coverage("u") == 1)


def test_body_clearance_is_the_gap_to_the_nearest_detector():
    """A 20 cm-radius disc about the rotation centre in a 28 cm orbit: 8 cm from every detector (± half a voxel)."""
    grid = ImageGrid((4, 121, 121), (5.0, 5.0, 5.0))
    _, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    acq = Acquisition()
    assert acq.body_clearance_mm(grid, np.hypot(x, y) <= 200.0) == pytest.approx(80.0, abs=4.0)
    # orbit centred 5 cm to the patient's left: the first view (RAO 54°) comes 5·sin 54° cm nearer the disc
    shifted = Acquisition(rotation_centre_zyx_mm=(0.0, 0.0, 50.0))
    expected = 80.0 - 50.0 * np.sin(np.deg2rad(54.0))
    assert shifted.body_clearance_mm(grid, np.hypot(x, y) <= 200.0) == pytest.approx(expected, abs=4.0)
    assert acq.body_clearance_mm(grid, np.hypot(x, y) <= 300.0) < 0

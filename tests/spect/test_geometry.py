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


def test_default_psf_line_fits_sy_lehr_with_intrinsic_resolution():
    """σ0 and slope are the least-squares line of the SY-LEHR + 3.8 mm intrinsic model over 10–50 cm."""
    pytomography = pytest.importorskip("pytomography")
    from pytomography.utils.nist_data import get_mu_from_spectrum_interp

    lead = get_mu_from_spectrum_interp(
        os.path.join(os.path.dirname(pytomography.__file__), "data", "NIST_attenuation_data", "lead.csv"), 140.5
    )
    fwhm_to_sigma = 1 / (2 * np.sqrt(2 * np.log(2)))
    depth = np.linspace(10, 50, 41)
    geometric = (0.111 / (2.405 - 2 / lead) * depth + 0.111) * fwhm_to_sigma
    exact = np.hypot(geometric, 0.38 * fwhm_to_sigma)
    linear = Collimator().psf_sigma_cm(depth)
    assert np.max(np.abs(linear - exact) / exact) < 0.04
    slope, intercept = np.polyfit(depth, exact, 1)
    assert Collimator().psf_slope == pytest.approx(slope, abs=5e-4)
    assert Collimator().psf_sigma0_cm == pytest.approx(intercept, abs=5e-3)

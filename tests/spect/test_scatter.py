"""Scatter model (build-up in the patient, Klein–Nishina window split) and the TEW estimate; SC in OSEM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from mumap.data.phantom import Patient, Uptake, render, sample_anatomy
from mumap.spect.geometry import Acquisition, Collimator, ImageGrid
from mumap.spect.osem import osem
from mumap.spect.projector import SPECTProjector
from mumap.spect.scatter import ScatterModel, blur_detector, tew_scatter_estimate
from mumap.spect.simulate import simulate_acquisition

BODY_GRID = ImageGrid((24, 64, 64), (8.0, 8.0, 8.0))


def test_blur_keeps_counts_away_from_the_edges():
    projections = torch.zeros(2, 41, 41)
    projections[:, 20, 20] = 5.0
    blurred = blur_detector(projections, sigma_cm=1.0, pixel_vu_mm=(4.8, 4.8))
    assert float(blurred.sum()) == pytest.approx(10.0, rel=1e-4)
    assert float(blurred[0, 20, 20]) < 1.0


@pytest.mark.parametrize("radius_mm", [60.0, 120.0, 180.0])
def test_point_source_in_water_follows_the_broad_beam_law(radius_mm):
    """Analytic case: a point at the centre of a water cylinder of radius R has SF = 1 − e^(−(μ − μ_b)·R)."""
    grid = ImageGrid((9, 121, 121), (4.0, 4.0, 4.0))
    _, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    mu = 0.153 * (np.hypot(x, y) <= radius_mm)
    source = np.zeros(grid.shape)
    source[4, 60, 60] = 1.0
    acquisition = Acquisition(collimator=Collimator(kind="parallel"), n_views=1, n_heads=1, start_deg=0.0,
                              detector_shape=(41, 141), pixel_vu_mm=(4.0, 4.0), field_of_view_vu_cm=None)
    model = ScatterModel()
    data = simulate_acquisition(SPECTProjector(grid, acquisition, dtype=torch.float64), source, mu,
                                total_counts=1.0, scatter=model)
    expected = 1 - np.exp(-(0.153 - model.broad_beam_mu_per_cm) * radius_mm / 10)
    assert data.scatter_fraction == pytest.approx(expected, rel=0.05)


def test_window_split_follows_klein_nishina_and_the_energy_resolution():
    """With a near-perfect energy resolution the split is the ratio of Klein–Nishina cross sections over the
    angles whose Compton energy falls in each window; the primary spill is the Gaussian line's tail."""
    def klein_nishina(theta):
        r = 1 / (1 + 140.5 / 511 * (1 - np.cos(theta)))
        return r**2 * (r + 1 / r - np.sin(theta) ** 2) * np.sin(theta)

    def angle(kev):  # Compton angle that leaves kev of the 140.5 keV photon
        return np.arccos(1 - (140.5 / kev - 1) * 511 / 140.5)

    sharp = ScatterModel(energy_resolution=1e-4)
    peak = integrate.quad(klein_nishina, 0, angle(129.0))[0]
    lower = integrate.quad(klein_nishina, angle(129.0), angle(108.0))[0]
    assert sharp.single_scatter_ratio == pytest.approx(lower / peak, rel=0.01)
    assert sharp.primary_spill == pytest.approx(0.0, abs=1e-12)
    model = ScatterModel()  # Symbia: 9.9 % FWHM at 140 keV
    sigma = 0.099 * 140.5 / 2.3548
    line = stats.norm(140.5, sigma)
    assert model.primary_spill == pytest.approx((line.cdf(129) - line.cdf(108)) / (line.cdf(150) - line.cdf(129)),
                                                rel=1e-4)
    assert 1.2 < model.single_scatter_ratio < 1.5
    assert model.single_scatter_ratio != pytest.approx(lower / peak, rel=0.02)


HEART_ONLY = Uptake(blood_pool=0.0, liver=0.0, right_ventricle=0.0, lung_per_gram=0.0, soft_tissue=0.0, stomach=0.0,
                    gallbladder=0.0, bowel=0.0)


@pytest.fixture(scope="module")
def body_series() -> dict[str, list]:
    """Acquisitions of one 175 cm man at BMI 20, 27, 34 and 41 (the same random anatomy draw), of the whole
    study (``study``) and of the myocardium alone (``heart``)."""
    series = {"study": [], "heart": []}
    for bmi in (20.0, 27.0, 34.0, 41.0):
        patient = Patient("P0000", "M", 60, 175.0, round(bmi * 1.75**2, 1))
        anatomy = sample_anatomy(patient, np.random.default_rng(5))
        acquisition = Acquisition(collimator=Collimator(kind="multifocal"), detector_shape=(40, 66),
                                  pixel_vu_mm=(8.0, 8.0), rotation_centre_zyx_mm=anatomy.heart_centre_xyz_mm[::-1])
        projector = SPECTProjector(BODY_GRID, acquisition, n_subsets=34, depth_subsamples=2)
        for name, uptake in (("study", Uptake()), ("heart", HEART_ONLY)):
            activity, mu, _ = render(BODY_GRID, anatomy, uptake)
            series[name].append(simulate_acquisition(projector, activity, mu, total_counts=1e6, scatter=ScatterModel()))
    return series


def test_scatter_fraction_grows_with_body_size(body_series):
    """The myocardium's scatter fraction spans about the 0.25–0.4 reported from slim to obese; the whole study's grows
    less, as the body's own near-surface activity (≈ 1 − μ_b/μ at any size) weighs in."""
    for name in ("study", "heart"):
        fractions = [data.scatter_fraction for data in body_series[name]]
        assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions), name
    heart = [data.scatter_fraction for data in body_series["heart"]]
    assert 0.23 < heart[0] < 0.30 and 0.33 < heart[-1] < 0.42
    study = [data.scatter_fraction for data in body_series["study"]]
    assert 0.22 < study[0] < study[-1] < 0.4


def test_tew_recovers_the_photopeak_scatter_within_20_percent_on_three_body_sizes(body_series):
    for data in body_series["study"][::-1][:3] + body_series["heart"][::-1][:3]:
        estimate = tew_scatter_estimate(data.lower_window, (8.0, 8.0))
        assert float(estimate.sum() / data.expected_scatter.sum()) == pytest.approx(1.0, rel=0.2)
    with pytest.raises(ValueError, match="positive widths"):
        tew_scatter_estimate(body_series["study"][0].lower_window, (8.0, 8.0), lower_kev=(129.0, 108.0))


@pytest.mark.slow
def test_scatter_correction_removes_counts_outside_the_body(acquisition_setup, small_grid):
    activity, mu, projector = acquisition_setup
    data = simulate_acquisition(projector, activity, mu, total_counts=5e6, scatter=ScatterModel(),
                                generator=torch.Generator().manual_seed(1))
    scatter = tew_scatter_estimate(data.lower_window, projector.acquisition.pixel_vu_mm)
    nac = osem(projector, data.photopeak, n_iterations=10)
    sc = osem(projector, data.photopeak, additive=scatter, n_iterations=10)
    _, y, x = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in small_grid.shape), indexing="ij")
    outside = torch.from_numpy(np.hypot(y, x) > 18)  # two voxels beyond the body (radius 16)
    assert float(sc[outside].sum() / sc.sum()) < 0.3 * float(nac[outside].sum() / nac.sum())


def test_bad_scatter_parameters_are_refused():
    with pytest.raises(ValueError, match="broad_beam_mu_per_cm"):
        ScatterModel(broad_beam_mu_per_cm=0.2)
    with pytest.raises(ValueError, match="kernel widths"):
        ScatterModel(peak_kernel_fwhm_cm=0.0)
    with pytest.raises(ValueError, match="energy_resolution"):
        ScatterModel(energy_resolution=0.0)

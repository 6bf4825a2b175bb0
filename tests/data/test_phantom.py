"""Phantoms: the patient distribution, anatomy, uptake, defects, AHA segments (μ values: tests/spect)."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np

from mumap.data.phantom import (
    TERRITORY_SEGMENTS,
    Anatomy,
    Defect,
    Patient,
    Uptake,
    aha_segment,
    anatomy_from_dict,
    lv_segment_map,
    render,
    sample_anatomy,
    sample_patients,
    sample_uptake,
)
from mumap.spect.attenuation import MU_140KEV
from mumap.spect.geometry import ImageGrid

GRID = ImageGrid((48, 80, 96), (4.8, 4.8, 4.8))


def test_patients_look_like_an_mpi_cohort():
    patients = sample_patients(2000, np.random.default_rng(0))
    men = np.mean([p.sex == "M" for p in patients])
    bmi = np.array([p.bmi for p in patients])
    assert 0.55 < men < 0.65
    assert bmi.min() >= 17.9 and bmi.max() <= 45.1 and 26 < np.median(bmi) < 30
    assert 55 < np.mean([p.age for p in patients]) < 75
    assert sample_patients(5, np.random.default_rng(1)) == sample_patients(5, np.random.default_rng(1))


def test_anatomy_follows_the_patient():
    rng = np.random.default_rng(2)
    slim, heavy = Patient("A", "M", 60, 178, 60), Patient("B", "M", 60, 178, 130)
    widths = [[sample_anatomy(p, rng).body_semi_axes_xy_mm[0] for _ in range(20)] for p in (slim, heavy)]
    assert np.mean(widths[1]) > 1.2 * np.mean(widths[0])
    assert sample_anatomy(Patient("C", "F", 60, 165, 70), rng).breasts is not None
    assert sample_anatomy(slim, rng).breasts is None
    # the heart rests on the left dome; right dome 1–2 cm higher
    right, left = sample_anatomy(slim, rng).diaphragm_z_mm
    assert 10.0 <= right - left <= 20.0 and -35.0 <= left <= -5.0


def test_reference_thorax_anatomy():
    activity, mu, truth = render(GRID, Anatomy(), Uptake())
    assert activity.shape == mu.shape == GRID.shape and activity.dtype == np.float32
    z, y, x = np.meshgrid(*(GRID.centres_mm(i) for i in range(3)), indexing="ij")
    myocardium = activity == 1.0
    assert x[myocardium].mean() > 10 and y[myocardium].mean() < -10  # left of and anterior to the centre
    assert np.allclose(truth.centre_xyz_mm, Anatomy().heart_centre_xyz_mm)
    assert np.isclose(np.linalg.norm(truth.long_axis), 1) and abs(np.dot(truth.long_axis, truth.anterior_axis)) < 1e-9
    assert set(np.unique(mu).astype(float).round(4).tolist()) <= {round(v, 4) for v in MU_140KEV.values()}
    bed = np.isclose(mu, MU_140KEV["bed"])
    body = (mu > 0) & ~bed
    assert np.isclose(mu, MU_140KEV["lung"]).sum() > 0.1 * body.sum()  # lungs fill much of the chest
    assert np.isclose(mu, MU_140KEV["cortical_bone"]).sum() > 0 and np.isclose(mu, MU_140KEV["rib"]).sum() > 0
    column = (np.abs(x) < 20) & (np.abs(z) < 3)
    assert bed.sum() > 0 and y[bed & column].min() > y[body & column].max()  # under (posterior of) the body
    assert not (bed & body).any()
    assert activity[~body].max() == 0.0  # no activity outside the body, none in the bed
    assert 300 < np.ptp(x[body & (np.abs(z) < 3)]) <= 2 * Anatomy().body_semi_axes_xy_mm[0] + 5


def test_breasts_add_anterior_tissue_in_front_of_the_heart():
    with_breasts = replace(Anatomy(), breasts=sample_anatomy(Patient("F", "F", 60, 165, 90),
                                                             np.random.default_rng(4)).breasts)
    _, plain, _ = render(GRID, Anatomy(), Uptake())
    _, woman, _ = render(GRID, with_breasts, Uptake())
    assert (woman > 0).sum() > (plain > 0).sum()
    assert np.isclose(woman, MU_140KEV["breast"]).sum() > 0


def test_a_defect_lowers_uptake_in_its_segments_only():
    defect = Defect("RCA", TERRITORY_SEGMENTS["RCA"], 0.5)
    healthy, _, _ = render(GRID, Anatomy(), Uptake())
    sick, _, truth = render(GRID, Anatomy(), Uptake(defect=defect))
    segments = lv_segment_map(GRID, Anatomy())
    in_territory = np.isin(segments, defect.segments)
    assert in_territory.sum() > 20
    np.testing.assert_allclose(sick[in_territory], 0.5 * healthy[in_territory])
    np.testing.assert_array_equal(sick[~in_territory], healthy[~in_territory])
    assert truth.defect["territory"] == "RCA" and truth.defect["severity"] == 0.5


def test_sampled_defects_stay_in_one_territory_and_range():
    rng = np.random.default_rng(5)
    defects = [sample_uptake("stress", rng, 1.0).defect for _ in range(200)]
    for d in defects:
        assert set(d.segments) <= set(TERRITORY_SEGMENTS[d.territory]) and d.segments
        assert 0.1 <= d.severity <= 0.7
    assert {d.territory for d in defects} == set(TERRITORY_SEGMENTS)
    assert sample_uptake("rest", rng, 0.0).defect is None


def test_aha_segments_follow_the_standard_orientation():
    phi = np.array([0.0, -60.0, -120.0, 180.0, 120.0, 60.0])
    np.testing.assert_array_equal(aha_segment(np.full(6, -10.0), phi, -12.0, 35.0), [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(aha_segment(np.full(6, 8.0), phi, -12.0, 35.0), [7, 8, 9, 10, 11, 12])
    np.testing.assert_array_equal(aha_segment(np.full(4, 25.0), np.array([0.0, -90.0, 180.0, 90.0]), -12.0, 35.0),
                                  [13, 14, 15, 16])
    assert aha_segment(np.array([40.0]), np.array([0.0]), -12.0, 35.0)[0] == 17
    assert set(np.unique(lv_segment_map(GRID, Anatomy())).tolist()) == set(range(18))


def test_anatomy_round_trips_through_its_dict():
    anatomy = sample_anatomy(Patient("F", "F", 60, 165, 90), np.random.default_rng(6))
    assert anatomy_from_dict(asdict(anatomy)) == anatomy

"""The hard preset's cases: each does what it says, on top of a typical draw, and the patients fit the orbit."""

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from mumap.data.hard import HARD_CASES, hard_anatomy, hard_defects, hard_patient, hard_uptake
from mumap.data.phantom import (
    DIAPHRAGM_MM,
    TERRITORY_SEGMENTS,
    Uptake,
    dome_surface_z_mm,
    heart_inside_chest_wall,
    lv_length_mm,
    lv_lowest_point_xyz_mm,
    lv_lowest_z_mm,
    lv_segment_map,
    lv_shell_mass_g,
    render,
    sample_anatomy,
    sample_defects,
    sample_patients,
)
from mumap.data.synthesize import PRESETS, check_patients_fit, patient_anatomy, plan_cohort
from mumap.spect.geometry import ImageGrid
from tests.helpers import loop_to_lv_mm

N = 12  # patients per case


def drawn(case: str) -> list[tuple]:
    """``N`` (patient, typical anatomy, hard anatomy) of ``case``, from the typical draws of ``N`` patients."""
    out = []
    for i, typical in enumerate(sample_patients(N, np.random.default_rng(7))):
        patient = hard_patient(typical, case, np.random.default_rng([7, i]))
        before = sample_anatomy(patient, np.random.default_rng([8, i]))
        out.append((patient, before, hard_anatomy(before, case, np.random.default_rng([9, i]))))
    return out


def bmi(patient) -> float:
    return patient.weight_kg / (patient.height_cm / 100) ** 2


@pytest.mark.parametrize("case", HARD_CASES)
def test_every_case_keeps_the_heart_inside_the_chest_wall(case):
    for _, _, after in drawn(case):
        assert heart_inside_chest_wall(after) == after


def test_obese_patients_and_their_breasts():
    women = drawn("obese_woman")
    assert all(p.sex == "F" and 40.0 <= bmi(p) <= 48.0 for p, _, _ in women)
    assert all(a.breasts.radius_mm >= 100.0 and a.breasts.projection_mm >= 100.0 for _, _, a in women)
    assert all(a.breasts.radius_mm >= b.breasts.radius_mm for _, b, a in women)  # larger than drawn typically
    assert all(a.breasts.offset_x_mm + a.breasts.radius_mm <= a.body_semi_axes_xy_mm[0] + 1e-9 for _, _, a in women)
    assert all(p.sex == "M" and 38.0 <= bmi(p) <= 46.0 for p, _, _ in drawn("obese_man"))


def test_small_women_have_small_hearts():
    for patient, _, a in drawn("small_woman"):
        assert patient.sex == "F" and bmi(patient) <= 23.0
        long, short = a.lv_semi_axes_mm
        assert 70.0 - 0.5 <= lv_shell_mass_g(long, short, a.lv_wall_mm) <= 90.0 + 0.5
        assert 65.0 - 1e-9 <= lv_length_mm(long) <= 75.0 + 1e-9


def test_high_left_domes_reach_above_the_hearts_lowest_point():
    for _, _, a in drawn("high_left_dome"):
        lowest = a.heart_centre_xyz_mm[2] + lv_lowest_z_mm(*a.lv_semi_axes_mm, a.lv_elevation_deg)
        right, left = a.diaphragm_z_mm
        assert 25.0 <= left - lowest <= 40.0 and 10.0 <= right - left <= 20.0


def test_displaced_hearts_lie_further_left():
    for _, before, after in drawn("displaced_heart"):
        assert 20.0 <= after.heart_centre_xyz_mm[0] - before.heart_centre_xyz_mm[0] <= 30.0


def test_unusual_axes_lie_beyond_the_typical_ranges():
    beyond = []
    for _, before, a in drawn("unusual_axis"):
        azimuth = max(30.0 - a.lv_azimuth_deg, a.lv_azimuth_deg - 60.0)
        elevation = max(20.0 - a.lv_elevation_deg, a.lv_elevation_deg - 40.0)
        beyond.append(max(azimuth, elevation))
        assert (a.lv_azimuth_deg == before.lv_azimuth_deg) != (a.lv_elevation_deg == before.lv_elevation_deg)
    assert 15.0 <= min(beyond) and max(beyond) <= 20.0


def test_hot_gut_lies_on_the_inferior_wall():
    """The loop's surface lies the diaphragm's thickness under the LV's (its top right under the lowest point), the
    left dome no lower there than that point; rendered, the loop's voxels come within a voxel or two of the
    wall's."""
    for _, _, a in drawn("hot_gut"):
        assert loop_to_lv_mm(a, a.bowel_loops_xyzr_mm[0]) == pytest.approx(DIAPHRAGM_MM, abs=0.15)
        x, y, z = lv_lowest_point_xyz_mm(a)
        assert dome_surface_z_mm(a, 1, x, y) >= z - 1e-9
    a = drawn("hot_gut")[0][2]
    grid = ImageGrid((100, 100, 100), (2.0, 2.0, 2.0))
    uptake = hard_uptake(Uptake(), "hot_gut", np.random.default_rng(0))
    activity = render(grid, a, uptake)[0]
    wall = np.argwhere(lv_segment_map(grid, a) > 0) * 2.0
    loop = np.argwhere(np.isclose(activity, uptake.bowel)) * 2.0
    assert len(loop) > 100
    assert 2.0 <= cKDTree(wall).query(loop)[0].min() <= 8.0
    assert uptake.bowel >= 1.2 and uptake.gallbladder >= 2.0
    assert hard_uptake(Uptake(), "arms_down", np.random.default_rng(0)) == Uptake()


def test_a_wall_erasing_defect_is_fixed_and_covers_its_territory():
    for seed in range(10):
        defects = hard_defects(sample_defects(np.random.default_rng(seed), 0.4), "wall_erasing_defect",
                               np.random.default_rng(seed))
        stress = defects["stress"]
        assert defects["rest"] == stress and stress.kind == "fixed"
        assert stress.segments == TERRITORY_SEGMENTS[stress.territory] and 0.8 <= stress.severity <= 0.95


def test_arms_down():
    assert all(a.arms_down for _, _, a in drawn("arms_down"))


def test_an_unknown_case_is_refused():
    patient = sample_patients(1, np.random.default_rng(0))[0]
    with pytest.raises(ValueError, match=r"unknown hard case 'giant'.*obese_woman"):
        hard_patient(patient, "giant", np.random.default_rng(0))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_hard_preset_holds_every_case_twice_in_the_test_split_and_fits_the_orbit(seed):
    preset = PRESETS["hard"]
    plans = plan_cohort(preset, seed)
    assert Counter(plan.case for plan in plans) == {case: 2 for case in HARD_CASES}
    assert {plan.split for plan in plans} == {"test"}
    check_patients_fit(preset, plans, seed)  # raises if a detector would enter a patient
    plan = next(plan for plan in plans if plan.case == "displaced_heart")
    typical = patient_anatomy(replace(plan, case=None), seed)
    assert patient_anatomy(plan, seed).heart_centre_xyz_mm[0] >= typical.heart_centre_xyz_mm[0] + 20.0


def test_typical_presets_have_no_hard_cases():
    assert {plan.case for plan in plan_cohort(PRESETS["quick"], 0)} == {None}

"""Hard patients: the anatomy and uptake that defeat an automatic LV frame, stretch a μ-map network beyond its
training cohort and make attenuation correction matter most — for the ``hard`` preset, one case per patient.

Each case starts from a typical draw (:func:`~mumap.data.phantom.sample_patients`,
:func:`~mumap.data.phantom.sample_anatomy`, :func:`~mumap.data.phantom.sample_uptake`) and pushes one thing
beyond the typical cohort's range, as readers meet it in a myocardial-perfusion clinic:

- ``obese_woman``: BMI 40–48 with very large breasts (radius 100–115 mm, projection 100–120 mm; typical women:
  up to 104 and 100), centred 20–50 mm below the LV centre — so large a breast covers the whole heart even so
  and spreads down the chest wall — and reaching no further out than the body's side;
- ``obese_man``: BMI 38–46;
- ``small_woman``: a small, slim woman (BMI 18–23) with a small heart (LV 70–90 g, 65–75 mm long);
- ``high_left_dome``: both diaphragm domes 25–40 mm above the heart's lowest point: liver and stomach
  against the inferior wall;
- ``displaced_heart``: the heart 20–30 mm further left (cardiomegaly, a displaced mediastinum);
- ``unusual_axis``: the LV long axis 15–20° beyond the typical azimuth (30–60°) or elevation (20–40°) range;
- ``hot_gut``: a bowel loop on the inferior wall — right under the LV's lowest point, only the diaphragm between
  (:func:`~mumap.data.phantom.bowel_loop_under_lv`; the domes raised where the left one lay lower there) — and
  hotter than the myocardium (1.2–2.5), and a hot gallbladder (2–4);
- ``wall_erasing_defect``: a fixed defect of a whole coronary territory at 80–95 % severity;
- ``arms_down``: the arms at the sides.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mumap.data.phantom import (
    TERRITORY_SEGMENTS,
    Anatomy,
    Breasts,
    Defect,
    Patient,
    Uptake,
    bowel_loop_under_lv,
    dome_surface_z_mm,
    heart_inside_chest_wall,
    lv_lowest_point_xyz_mm,
    lv_lowest_z_mm,
    lv_semi_axes_mm,
)

HARD_CASES = ("obese_woman", "obese_man", "small_woman", "high_left_dome", "displaced_heart", "unusual_axis",
              "hot_gut", "wall_erasing_defect", "arms_down")


def _check(case: str) -> None:
    if case not in HARD_CASES:
        raise ValueError(f"unknown hard case {case!r}: choose one of {', '.join(HARD_CASES)}")


def hard_patient(patient: Patient, case: str, rng: np.random.Generator) -> Patient:
    """``patient`` made into the patient of ``case`` (sex, height and weight; the others unchanged)."""
    _check(case)
    if case not in ("obese_woman", "obese_man", "small_woman"):
        return patient
    sex, height_mean, bmi_range = {"obese_woman": ("F", 163.0, (40.0, 48.0)), "obese_man": ("M", 176.0, (38.0, 46.0)),
                                   "small_woman": ("F", 156.0, (18.0, 23.0))}[case]
    height = float(np.clip(rng.normal(height_mean, 5.0), 145.0, 200.0))
    bmi = rng.uniform(*bmi_range)
    return replace(patient, sex=sex, height_cm=round(height, 1), weight_kg=round(bmi * (height / 100) ** 2, 1))


def hard_anatomy(anatomy: Anatomy, case: str, rng: np.random.Generator) -> Anatomy:
    """``anatomy`` (drawn for the case's patient) with the case's anatomy; the heart stays inside the chest
    wall (:func:`~mumap.data.phantom.heart_inside_chest_wall`)."""
    _check(case)
    a = anatomy
    long, short = a.lv_semi_axes_mm
    x, y, z = a.heart_centre_xyz_mm
    if case == "obese_woman":
        radius = float(rng.uniform(100.0, 115.0))
        projection = float(rng.uniform(100.0, 120.0))
        half_width = a.body_semi_axes_xy_mm[0]  # the outer edge no further out than the body's side (axillary line)
        offset_x = min(half_width * float(rng.uniform(0.38, 0.5)), half_width - radius)
        a = replace(a, breasts=Breasts(radius, projection, offset_x, float(-rng.uniform(20.0, 50.0))))
    elif case == "small_woman":
        wall = float(rng.uniform(7.0, 9.0))
        a = replace(a, lv_semi_axes_mm=lv_semi_axes_mm(rng.uniform(70.0, 90.0), rng.uniform(65.0, 75.0), wall),
                    lv_wall_mm=wall)
    elif case == "high_left_dome":
        left = lv_lowest_z_mm(long, short, a.lv_elevation_deg) + rng.uniform(25.0, 40.0)
        a = replace(a, diaphragm_z_mm=(left + rng.uniform(10.0, 20.0), left))
    elif case == "displaced_heart":  # as far as drawn, or less (not under 20 mm) where the chest is too narrow
        for shift in np.arange(rng.uniform(20.0, 30.0), 19.99, -1.0):
            try:
                return heart_inside_chest_wall(replace(a, heart_centre_xyz_mm=(x + float(shift), y, z)))
            except ValueError:
                continue
        a = replace(a, heart_centre_xyz_mm=(x + 20.0, y, z))
    elif case == "unusual_axis":
        beyond = rng.uniform(15.0, 20.0)
        a = [replace(a, lv_azimuth_deg=30.0 - beyond), replace(a, lv_azimuth_deg=60.0 + beyond),
             replace(a, lv_elevation_deg=20.0 - beyond), replace(a, lv_elevation_deg=40.0 + beyond)][rng.integers(4)]
    elif case == "hot_gut":  # the heart where it will lie, the left dome up to its lowest point, the loop on it
        a = heart_inside_chest_wall(a)
        lx, ly, lz = lv_lowest_point_xyz_mm(a)
        raise_mm = max(0.0, lz - float(dome_surface_z_mm(a, 1, lx, ly)))
        a = replace(a, diaphragm_z_mm=tuple(d + raise_mm for d in a.diaphragm_z_mm))
        loop = bowel_loop_under_lv(a, float(rng.uniform(15.0, 22.0)), 0.0)
        a = replace(a, bowel_loops_xyzr_mm=(loop, *a.bowel_loops_xyzr_mm[1:]))
    elif case == "arms_down":
        a = replace(a, arms_down=True)
    return heart_inside_chest_wall(a)


def hard_defects(defects: dict[str, Defect | None], case: str, rng: np.random.Generator) -> dict[str, Defect | None]:
    """The patient's stress and rest defects (:func:`~mumap.data.phantom.sample_defects`) for ``case``."""
    _check(case)
    if case != "wall_erasing_defect":
        return defects
    territory = str(rng.choice(list(TERRITORY_SEGMENTS)))
    defect = Defect(territory, TERRITORY_SEGMENTS[territory], round(float(rng.uniform(0.8, 0.95)), 3), "fixed")
    return {"stress": defect, "rest": defect}


def hard_uptake(uptake: Uptake, case: str, rng: np.random.Generator) -> Uptake:
    """A study's uptake (:func:`~mumap.data.phantom.sample_uptake`) for ``case``."""
    _check(case)
    if case != "hot_gut":
        return uptake
    return replace(uptake, bowel=float(rng.uniform(1.2, 2.5)), gallbladder=float(rng.uniform(2.0, 4.0)))

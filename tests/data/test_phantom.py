"""Phantoms: the patient distribution, anatomy, heart size, uptake, defects, CT-like μ, scan conditions, AHA
segments (μ table values: tests/spect)."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
from scipy import ndimage

from mumap.data.phantom import (
    BREAST_MEDIAL_EDGE_MM,
    BREATHING_PHASES,
    CHEST_WALL_MM,
    DIAPHRAGM_MM,
    HEART_OF_DIAPHRAGM_MOTION,
    LUNG_MU_PER_G_CM3,
    LV_APEX_WALL_OF_WALL,
    MAX_REPEATS,
    MULTI_VESSEL_FRACTION,
    REPEAT_UPTAKE_BESIDE_LV,
    TERRITORY_SEGMENTS,
    Anatomy,
    Breasts,
    Defect,
    Patient,
    ScanConditions,
    Uptake,
    _as_scanned,
    abdominal_uptake_beside_lv,
    aha_segment,
    anatomy_from_dict,
    anterior_direction,
    dome_surface_z_mm,
    heart_inside_chest_wall,
    lv_length_mm,
    lv_lowest_point_xyz_mm,
    lv_lowest_z_mm,
    lv_segment_map,
    lv_shell_mass_g,
    render,
    sample_accepted_uptake,
    sample_anatomy,
    sample_defects,
    sample_patients,
    sample_scan,
    sample_uptake,
    territory_segments,
)
from mumap.spect.attenuation import MU_140KEV
from mumap.spect.geometry import ImageGrid
from tests.helpers import loop_to_lv_mm, lv_outer_surface_xyz_mm

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
    assert 10.0 <= right - left <= 20.0 and -60.0 <= left <= -10.0


def test_lv_size_follows_the_literature_by_sex():
    """LV myocardial mass 90–130 g (women) / 110–180 g (men), outer base-to-apex length 75–95 mm, wall 8–12 mm."""
    rng = np.random.default_rng(7)
    patients = sample_patients(300, rng)
    anatomies = [sample_anatomy(p, rng) for p in patients]
    for sex, (low, high), typical in (("F", (90, 130), (100, 120)), ("M", (110, 180), (125, 155))):
        of_sex = [a for p, a in zip(patients, anatomies, strict=True) if p.sex == sex]
        mass = np.array([lv_shell_mass_g(*a.lv_semi_axes_mm, a.lv_wall_mm) for a in of_sex])
        assert low - 0.5 <= mass.min() and mass.max() <= high + 0.5 and typical[0] < np.median(mass) < typical[1]
        length = np.array([lv_length_mm(a.lv_semi_axes_mm[0]) for a in of_sex])
        assert 75 - 1e-9 <= length.min() and length.max() <= 95 + 1e-9 and np.ptp(length) > 10
        assert all(8 <= a.lv_wall_mm <= 12 for a in of_sex)
    # the analytic mass is the rendered shell's: voxel count × 1.05 g/ml on a 1.2 mm grid
    anatomy = anatomies[0]
    grid = ImageGrid((80, 120, 120), (1.2, 1.2, 1.2))
    voxels = (lv_segment_map(grid, replace(anatomy, heart_centre_xyz_mm=(0.0, 0.0, 0.0))) > 0).sum()
    assert voxels * 1.2**3 / 1000 * 1.05 == pytest.approx(lv_shell_mass_g(*anatomy.lv_semi_axes_mm, anatomy.lv_wall_mm),
                                                           rel=0.02)

def test_lv_mass_of_a_spherical_shell_is_two_spherical_caps(monkeypatch):
    """Analytic case: a spherical shell (R 40 mm, wall 10 mm all round: no apical thinning) cut by the base plane
    12 mm behind its centre is two spherical caps, of volume π h² (3r − h) / 3 for the height h above the plane."""
    monkeypatch.setattr("mumap.data.phantom.LV_APEX_WALL_OF_WALL", 1.0)

    def cap_ml(r: float) -> float:
        h = r + 12.0
        return np.pi * h**2 * (3 * r - h) / 3 / 1000

    assert lv_shell_mass_g(40.0, 40.0, 10.0) == pytest.approx((cap_ml(40.0) - cap_ml(30.0)) * 1.05, rel=1e-9)


def test_the_lv_wall_thins_towards_the_apex():
    """Apical thinning as CT measures it: along the long axis the myocardium beyond the cavity is 0.6 of the wall
    (5.9 of 9.9 mm; CT 5.1 ± 1.3), all of it the apex (segment 17); across the axis at the shell's centre, the full
    wall. Rendered on lines of 0.05 mm voxels through an LV centred at the origin whose long axis points anterior
    (−y)."""
    anatomy = replace(Anatomy(), heart_centre_xyz_mm=(0.0, 0.0, 0.0), lv_azimuth_deg=0.0, lv_elevation_deg=0.0)
    along = lv_segment_map(ImageGrid((1, 3000, 1), (1.0, 0.05, 0.05)), anatomy)[0, :, 0]  # y from −75 to +75 mm
    apex = along[:1500]  # the anterior half, towards the apex
    assert apex[apex > 0].size * 0.05 == pytest.approx(LV_APEX_WALL_OF_WALL * anatomy.lv_wall_mm, abs=0.06)
    assert set(apex[apex > 0].tolist()) == {17}
    across = lv_segment_map(ImageGrid((1, 1, 3000), (1.0, 0.05, 0.05)), anatomy)[0, 0, :1500]  # towards the right
    assert across[across > 0].size * 0.05 == pytest.approx(anatomy.lv_wall_mm, abs=0.06)
    assert abs(LV_APEX_WALL_OF_WALL * 9.9 - 5.1) <= 1.3  # within the CT's spread


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
    # the back lies flat on the pallet: no air between them under the spine
    back = y[body & column].max()
    assert y[bed & column].min() - back <= GRID.voxel_zyx_mm[1] + 1e-6


def test_supine_breasts_lie_at_the_hearts_level_and_sag_sideways():
    young, old = ([sample_anatomy(Patient("F", "F", age, 165, 85), np.random.default_rng(seed)).breasts
                   for seed in range(20)] for age in (35, 80))  # the same draws, only the age differs
    assert all(abs(b.z_mm) <= 15.0 for b in young + old)  # centred at the LV centre's height (z = 0), ± 15 mm
    assert all(o.z_mm == y.z_mm and o.offset_x_mm >= y.offset_x_mm for o, y in zip(old, young, strict=True))
    assert np.mean([o.offset_x_mm - y.offset_x_mm for o, y in zip(old, young, strict=True)]) > 2.0


def test_breasts_add_anterior_tissue_in_front_of_the_heart():
    with_breasts = replace(Anatomy(), breasts=sample_anatomy(Patient("F", "F", 60, 165, 90),
                                                             np.random.default_rng(4)).breasts)
    _, plain, _ = render(GRID, Anatomy(), Uptake())
    _, woman, _ = render(GRID, with_breasts, Uptake())
    assert (woman > 0).sum() > (plain > 0).sum()
    assert np.isclose(woman, MU_140KEV["breast"]).sum() > 0


def test_supine_breasts_are_mounds_draped_beside_the_sternum_with_the_upright_volume():
    """Not a ball standing on the chest: flatter than the upright breast (its front 0.75 × the projection beyond
    the skin), wider than high, clear of the sternum, and as large as the upright ellipsoid's part in front of the
    chest (0.316 of the ellipsoid, the cap beyond 0.25 of its semi-axis)."""
    grid = ImageGrid((70, 170, 200), (2.0, 2.0, 2.0))
    breasts = Breasts(radius_mm=70.0, projection_mm=70.0, offset_x_mm=80.0, z_mm=0.0)
    _, plain, _ = render(grid, Anatomy(), Uptake())
    _, woman, _ = render(grid, replace(Anatomy(), breasts=breasts), Uptake())
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    breast = np.isclose(woman, MU_140KEV["breast"])
    added_mm3 = ((woman > 0).sum() - (plain > 0).sum()) * 8.0 / 2  # per breast
    assert added_mm3 == pytest.approx(0.316 * 4 / 3 * np.pi * 70.0**2 * 70.0, rel=0.1)
    front = lambda mu: y[(mu > 0) & (np.abs(x - 80.0) < 2) & (np.abs(z) < 2)].min()  # noqa: E731
    height_mm = front(plain) - front(woman)
    assert 25.0 < height_mm < 0.75 * 70.0 - 5.0
    left = breast & (x > 0) & (np.abs(z) < 2)
    width_mm = np.ptp(x[left])
    assert width_mm > 2.5 * height_mm
    assert x[breast].__abs__().min() >= BREAST_MEDIAL_EDGE_MM - 2.0
    assert breast[..., x[0, 0] < 0].sum() == pytest.approx(breast[..., x[0, 0] > 0].sum(), rel=0.02)  # both sides


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


def test_sampled_defects_follow_their_territories_and_agree_between_stress_and_rest():
    rng = np.random.default_rng(5)
    pairs = [sample_defects(rng, 1.0) for _ in range(400)]
    for pair in pairs:
        stress, rest = pair["stress"], pair["rest"]
        assert set(stress.segments) <= set(territory_segments(stress.territory)) and stress.segments
        for name in stress.territory.split("+"):  # every named territory has segments in the defect
            assert set(stress.segments) & set(TERRITORY_SEGMENTS[name])
        assert 0.1 <= stress.severity <= 0.7
        if stress.kind == "fixed":  # scar: the same defect in both
            assert (rest.territory, rest.segments) == (stress.territory, stress.segments)
            assert 0.85 * stress.severity - 1e-3 <= rest.severity <= stress.severity
        else:  # ischaemia: milder at rest, or gone
            assert rest is None or (rest.segments == stress.segments and rest.severity <= 0.5 * stress.severity + 1e-3)
    two = np.mean(["+" in p["stress"].territory for p in pairs])
    assert abs(two - MULTI_VESSEL_FRACTION) < 0.07
    kinds = [p["stress"].kind for p in pairs]
    assert 0.4 < kinds.count("fixed") / len(kinds) < 0.6
    assert any(p["rest"] is None for p in pairs) and {p["stress"].territory for p in pairs} == {
        "LAD", "LCX", "RCA", "LAD+LCX", "LAD+RCA", "LCX+RCA"}
    assert sample_defects(rng, 0.0) == {"stress": None, "rest": None}


def test_a_multi_vessel_territory_has_both_territories_segments():
    assert territory_segments("LAD+RCA") == tuple(sorted(TERRITORY_SEGMENTS["LAD"] + TERRITORY_SEGMENTS["RCA"]))
    assert territory_segments("LCX") == tuple(sorted(TERRITORY_SEGMENTS["LCX"]))


def test_hepatobiliary_and_bowel_activity_is_higher_at_rest():
    rng = np.random.default_rng(8)
    stress = [sample_uptake("stress", rng, None) for _ in range(300)]
    rest = [sample_uptake("rest", rng, None) for _ in range(300)]
    for organ in ("gallbladder", "bowel", "liver"):
        assert np.mean([getattr(u, organ) for u in rest]) > 1.2 * np.mean([getattr(u, organ) for u in stress])


def _bowel_under_the_heart(gap_mm: float) -> Anatomy:
    """The reference anatomy with the left dome 15 mm above the LV's lowest point and one bowel loop (radius
    20 mm) ``gap_mm`` below the diaphragm under the heart."""
    a = Anatomy()
    lowest = lv_lowest_z_mm(*a.lv_semi_axes_mm, a.lv_elevation_deg)
    return replace(a, diaphragm_z_mm=(lowest + 30.0, lowest + 15.0),
                   bowel_loops_xyzr_mm=((30.0, -30.0, lowest - 25.0 - gap_mm, 20.0),))


def test_abdominal_uptake_beside_the_lv_is_the_hottest_organ_within_the_margin():
    uptake = Uptake(liver=0.3, stomach=0.3, gallbladder=0.3, bowel=1.2)
    assert abdominal_uptake_beside_lv(GRID, _bowel_under_the_heart(0.0), uptake) == pytest.approx(1.2)
    # 10 mm further down the loop lies beyond the 15 mm margin; the stomach under the dome is still beside the LV
    assert abdominal_uptake_beside_lv(GRID, _bowel_under_the_heart(10.0), uptake) == pytest.approx(0.3)
    assert abdominal_uptake_beside_lv(GRID, _bowel_under_the_heart(10.0), uptake, margin_mm=30.0) == pytest.approx(1.2)
    # a woman's dome below the heart: nothing abdominal within the margin
    assert abdominal_uptake_beside_lv(GRID, Anatomy(), uptake) == 0.0


def test_a_study_with_hot_gut_beside_the_lv_is_acquired_again_with_only_its_abdomen_redrawn():
    grid = ImageGrid((24, 40, 48), (9.6, 9.6, 9.6))
    anatomy, rng = _bowel_under_the_heart(0.0), np.random.default_rng(4)
    defect = Defect("RCA", (4, 10), 0.4)
    first_draws = [sample_uptake("rest", np.random.default_rng(seed), defect) for seed in range(200)]
    assert np.mean([u.bowel >= REPEAT_UPTAKE_BESIDE_LV for u in first_draws]) > 0.6  # at rest mostly too hot
    accepted = [sample_accepted_uptake("rest", rng, defect, grid, anatomy) for _ in range(12)]
    passed = [abdominal_uptake_beside_lv(grid, anatomy, u) < REPEAT_UPTAKE_BESIDE_LV for u, _ in accepted]
    for (uptake, repeats), ok in zip(accepted, passed, strict=True):
        assert 0 <= repeats <= MAX_REPEATS and uptake.defect == defect
        assert ok or repeats == MAX_REPEATS  # repeated until accepted, or read as it is after the last repeat
    assert any(r > 0 for _, r in accepted) and np.mean(passed) > 0.5
    # without an abdomen beside the LV nothing is repeated: the first draw stands
    alone = sample_accepted_uptake("rest", np.random.default_rng(5), None, grid, Anatomy())
    assert alone == (sample_uptake("rest", np.random.default_rng(5), None), 0)


def test_lung_activity_per_voxel_is_below_soft_tissue_and_follows_its_density():
    anatomy = replace(Anatomy(), lung_density_g_cm3=0.35, lung_gradient=0.3)
    uptake = Uptake(soft_tissue=0.08, lung_per_gram=1.4)
    activity, mu, _ = render(GRID, anatomy, uptake)
    lung = (mu > 0.02) & (mu < 0.065)
    assert lung.sum() > 1000
    assert activity[lung].max() < 0.65 * uptake.soft_tissue
    # activity ∝ density ∝ μ in the lung; the dependent (posterior) lung is denser
    np.testing.assert_allclose(activity[lung] / mu[lung], uptake.soft_tissue * 1.4 / 1.05 / LUNG_MU_PER_G_CM3,
                               rtol=1e-5)
    y = np.broadcast_to(GRID.centres_mm(1)[None, :, None], GRID.shape)
    front, back = mu[lung & (y < np.median(y[lung]))].mean(), mu[lung & (y >= np.median(y[lung]))].mean()
    assert 1.05 < back / front < 1.35
    assert np.median(mu[lung]) / LUNG_MU_PER_G_CM3 == pytest.approx(0.35, rel=0.1)


def test_ct_tissue_densities_vary_per_patient():
    rng = np.random.default_rng(9)
    anatomies = [sample_anatomy(p, rng) for p in sample_patients(200, rng)]
    for name, low, high in (("lung_density_g_cm3", 0.20, 0.40), ("soft_tissue_scale", 0.97, 1.03),
                            ("bone_mineral_scale", 0.90, 1.10), ("lung_gradient", 0.1, 0.4)):
        values = np.array([getattr(a, name) for a in anatomies])
        assert low <= values.min() and values.max() <= high and np.ptp(values) > 0.8 * (high - low)
    # soft tissue scales all soft tissue; bone mineral scales the bone's excess over soft tissue
    plain = render(GRID, Anatomy(), Uptake())[1]
    dense = render(GRID, replace(Anatomy(), soft_tissue_scale=1.03, bone_mineral_scale=1.1), Uptake())[1]
    soft, bone = np.isclose(plain, MU_140KEV["soft_tissue"]), np.isclose(plain, MU_140KEV["cortical_bone"])
    np.testing.assert_allclose(dense[soft], 1.03 * MU_140KEV["soft_tissue"], rtol=1e-6)
    expected_bone = 1.03 * MU_140KEV["soft_tissue"] + 1.1 * (MU_140KEV["cortical_bone"] - MU_140KEV["soft_tissue"])
    np.testing.assert_allclose(dense[bone], expected_bone, rtol=1e-6)


def test_fat_is_thicker_where_the_patient_carries_it():
    even = replace(Anatomy(), fat_mm=20.0)
    front_heavy = replace(even, fat_unevenness=(0.5, -90.0, 0.0, 0.0))
    x = GRID.centres_mm(2)
    y = GRID.centres_mm(1)
    centre = GRID.shape[0] // 2

    def fat_along(mu: np.ndarray, axis: str) -> int:  # adipose voxels on the anterior or the lateral line
        line = mu[centre, : GRID.shape[1] // 2, np.argmin(np.abs(x))] if axis == "anterior" else \
            mu[centre, np.argmin(np.abs(y)), GRID.shape[2] // 2:]
        return int(np.isclose(line, MU_140KEV["adipose"]).sum())

    plain, heavy = render(GRID, even, Uptake())[1], render(GRID, front_heavy, Uptake())[1]
    assert fat_along(heavy, "anterior") >= fat_along(plain, "anterior") + 2
    assert fat_along(heavy, "lateral") == fat_along(plain, "lateral")


def test_arms_down_add_tissue_at_the_sides():
    wide = ImageGrid((10, 80, 128), (4.8, 4.8, 4.8))  # ±307 mm: room for the arms beside the body
    up, down = (render(wide, replace(Anatomy(), arms_down=arms), Uptake())[1] for arms in (False, True))
    x = np.broadcast_to(wide.centres_mm(2)[None, None, :], wide.shape)
    beside = np.abs(x) > Anatomy().body_semi_axes_xy_mm[0] + 5
    assert (up[beside] > 0.1).sum() == 0  # (the bed pallet reaches out there)
    assert (down[beside] >= MU_140KEV["cortical_bone"] - 1e-6).sum() > 0  # the humerus
    arm_volume_ml = (down[beside] > 0.1).sum() * np.prod(wide.voxel_zyx_mm) / 1000
    assert arm_volume_ml == pytest.approx(2 * np.pi * 4.5**2 * wide.shape[0] * 0.48, rel=0.1)  # two 45 mm cylinders


def _heart_depth_under_fat_mm(anatomy: Anatomy) -> float:
    """The least distance (mm) of a rendered LV or RV wall voxel from the skin, less the (uniform) fat."""
    uptake = Uptake()
    activity = render(GRID, anatomy, uptake)[0]
    skin_distance = ndimage.distance_transform_edt(activity > 0, sampling=GRID.voxel_zyx_mm)
    heart_wall = np.isclose(activity, 1.0) | np.isclose(activity, uptake.right_ventricle)
    return float(skin_distance[heart_wall].min()) - anatomy.fat_mm


def test_the_heart_lies_inside_the_chest_wall():
    """A long LV drawn close to a shallow chest would put its apex into the ribs and fat, where it escapes
    attenuation: the heart is moved back (only back) until its walls lie under the chest wall."""
    shallow = replace(Anatomy(), body_semi_axes_xy_mm=(165.0, 100.0), heart_centre_xyz_mm=(30.0, -45.0, 0.0),
                      lv_semi_axes_mm=(72.0, 30.0), fat_mm=20.0)
    assert _heart_depth_under_fat_mm(shallow) < CHEST_WALL_MM - 10.0  # in the chest wall, as drawn
    inside = heart_inside_chest_wall(shallow)
    moved = np.subtract(inside.heart_centre_xyz_mm, shallow.heart_centre_xyz_mm)
    assert moved[0] == moved[2] == 0.0 and 5.0 < moved[1] < 40.0
    assert _heart_depth_under_fat_mm(inside) > CHEST_WALL_MM - GRID.voxel_zyx_mm[0]  # touching, to a voxel
    assert heart_inside_chest_wall(Anatomy()) == Anatomy()  # the reference thorax's heart is inside already
    rng = np.random.default_rng(12)
    for patient in sample_patients(100, rng):
        anatomy = sample_anatomy(patient, rng)
        assert heart_inside_chest_wall(anatomy) == anatomy


def test_the_lvs_lowest_point_is_the_lowest_of_its_surface():
    rng = np.random.default_rng(5)
    for patient in sample_patients(6, rng):
        a = sample_anatomy(patient, rng)
        surface = lv_outer_surface_xyz_mm(a)
        lowest = lv_lowest_point_xyz_mm(a)
        assert lowest[2] == pytest.approx(surface[:, 2].min(), abs=0.05)
        assert np.linalg.norm(surface - lowest, axis=1).min() < 0.5  # on the surface, not below it
        assert lowest[2] - a.heart_centre_xyz_mm[2] == pytest.approx(
            lv_lowest_z_mm(*a.lv_semi_axes_mm, a.lv_elevation_deg), abs=1e-9)


def test_a_dome_is_highest_under_its_lung_and_falls_off_as_a_paraboloid():
    a = Anatomy()
    for side, apex in ((-1, a.diaphragm_z_mm[0]), (1, a.diaphragm_z_mm[1])):
        cx = side * 0.5 * a.body_semi_axes_xy_mm[0]
        assert dome_surface_z_mm(a, side, cx, 0.0) == apex
        assert dome_surface_z_mm(a, side, cx + 30.0, 40.0) == pytest.approx(apex - 2500.0 / 300.0)


def test_abdomen_holds_a_gallbladder_and_bowel_loops_that_sometimes_touch_the_heart():
    """The first loop lies right under the LV's lowest point, the diaphragm (5 mm) and a gap of 0–40 mm between,
    or under the left dome where it lies lower: on the inferior wall (within 10 mm) in some studies, never in it."""
    rng = np.random.default_rng(10)
    anatomies = [sample_anatomy(p, rng) for p in sample_patients(200, rng)]
    distances = []
    for a in anatomies:
        assert 1 <= len(a.bowel_loops_xyzr_mm) <= 3
        distances.append(loop_to_lv_mm(a, a.bowel_loops_xyzr_mm[0]))
        x, y, _ = lv_lowest_point_xyz_mm(a)
        assert a.bowel_loops_xyzr_mm[0][:2] == pytest.approx((x, y), abs=0.051)
        assert a.gallbladder_xyz_mm[0] < 0  # right side, under the liver
    touching = np.mean(np.array(distances) < 10.0)
    assert min(distances) >= DIAPHRAGM_MM - 0.2  # positions are rounded to 0.1 mm
    assert 0.05 < touching < 0.4
    anatomy = replace(Anatomy(), bowel_loops_xyzr_mm=((30.0, -30.0, -90.0, 20.0),))
    activity = render(GRID, anatomy, Uptake(bowel=2.0, gallbladder=3.0))[0]
    assert np.isclose(activity, 2.0).sum() > 50 and np.isclose(activity, 3.0).sum() > 50


def test_breathing_blurs_the_heart_craniocaudally_and_misregistration_shifts_it():
    still, _, _ = render(GRID, Anatomy(), Uptake())
    breathing, mu_b, _ = render(GRID, Anatomy(), Uptake(), ScanConditions(breathing_mm=20.0))
    shifted, mu_s, _ = render(GRID, Anatomy(), Uptake(), ScanConditions(misregistration_xyz_mm=(0.0, 4.8, 0.0)))
    mu = render(GRID, Anatomy(), Uptake())[1]
    np.testing.assert_array_equal(mu_b, mu)  # the CT is one snapshot
    np.testing.assert_array_equal(mu_s, mu)
    z = np.broadcast_to(GRID.centres_mm(0)[:, None, None], GRID.shape)
    wall = lv_segment_map(GRID, Anatomy()) > 0
    # the myocardium's counts spread out of its wall, the image's total and mean height are kept
    assert 0.6 < breathing[wall].sum() / still[wall].sum() < 0.95
    assert abs((breathing * z).sum() / breathing.sum() - (still * z).sum() / still.sum()) < 0.5
    assert breathing.sum() == pytest.approx(still.sum(), rel=0.01)
    # the spine and the chest wall do not move
    body_wall = np.isclose(mu, MU_140KEV["cortical_bone"])
    np.testing.assert_allclose(breathing[body_wall], still[body_wall], atol=1e-6)
    # one voxel posterior: the heart's activity moves by one voxel
    np.testing.assert_allclose(shifted[:, 1:], still[:, :-1], atol=1e-6)


def test_breathing_moves_the_heart_less_than_the_diaphragm():
    """Two columns along z of 1 mm voxels, each with all its activity in one voxel, the first one heart: over the
    breathing cycle (positions −A cos⁴(πt) at the phases' centres, centred on their mean) each spreads to the
    variance of its positions plus, from the linear interpolation of a shifted point, f (1 − f) for a shift's
    fraction f of a voxel — A the breathing for the second, 0.6 of it for the heart's."""
    activity = np.zeros((200, 1, 2))
    activity[100] = 1.0
    heart = np.zeros_like(activity, dtype=bool)
    heart[:, :, 0] = True
    scan = ScanConditions(breathing_mm=17.0)
    blurred = _as_scanned(activity, np.ones_like(activity), heart, ImageGrid((200, 1, 2), (1.0, 1.0, 1.0)), scan)
    z = np.arange(200.0)
    cycle = -np.cos(np.pi * (np.arange(BREATHING_PHASES) + 0.5) / BREATHING_PHASES) ** 4
    for column, amplitude_mm in ((0, HEART_OF_DIAPHRAGM_MOTION * 17.0), (1, 17.0)):
        shifts = amplitude_mm * (cycle - cycle.mean())
        fraction = shifts - np.floor(shifts)
        profile = blurred[:, 0, column]
        assert profile.sum() == pytest.approx(1.0)
        assert (profile * z).sum() == pytest.approx(100.0, abs=1e-9)
        assert (profile * (z - 100.0) ** 2).sum() == pytest.approx(
            np.var(shifts) + np.mean(fraction * (1 - fraction)), rel=1e-9)


def test_scan_conditions_are_in_their_ranges():
    rng = np.random.default_rng(11)
    scans = [sample_scan(rng) for _ in range(300)]
    breathing = np.array([s.breathing_mm for s in scans])
    shift = np.array([np.linalg.norm(s.misregistration_xyz_mm) for s in scans])
    noise = np.array([s.ct_noise_hu for s in scans])
    assert 10 <= breathing.min() and breathing.max() <= 20 and shift.max() <= 4.0 and shift.mean() > 1.5
    assert 15 <= noise.min() and noise.max() <= 40


def test_aha_segments_follow_the_standard_orientation():
    phi = np.array([0.0, -60.0, -120.0, 180.0, 120.0, 60.0])
    np.testing.assert_array_equal(aha_segment(np.full(6, -10.0), phi, -12.0, 35.0), [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(aha_segment(np.full(6, 8.0), phi, -12.0, 35.0), [7, 8, 9, 10, 11, 12])
    np.testing.assert_array_equal(aha_segment(np.full(4, 25.0), np.array([0.0, -90.0, 180.0, 90.0]), -12.0, 35.0),
                                  [13, 14, 15, 16])
    assert aha_segment(np.array([40.0]), np.array([0.0]), -12.0, 35.0)[0] == 17
    assert set(np.unique(lv_segment_map(GRID, Anatomy())).tolist()) == set(range(18))


@pytest.mark.parametrize(("azimuth_deg", "elevation_deg"),
                         [(45.0, 30.0), (30.0, 20.0), (60.0, 40.0), (30.0, 40.0), (60.0, 20.0)])
def test_lv_walls_face_where_the_standard_reorientation_puts_them(azimuth_deg, elevation_deg):
    """Over the sampled long axes (azimuth 30–60°, elevation 20–40°): anterior = the head direction projected
    onto the short-axis plane, so that the septum–lateral axis is horizontal; the inferior wall faces the
    diaphragm (lowest), the anterior wall is highest, the septum faces the RV (right and forward of the lateral
    wall). With the patient's front projected instead (mumap < 0.5), the "septal" segments were the lowest."""
    anatomy = Anatomy(lv_azimuth_deg=azimuth_deg, lv_elevation_deg=elevation_deg)
    segments = lv_segment_map(GRID, anatomy)
    z, y, x = np.meshgrid(*(GRID.centres_mm(i) for i in range(3)), indexing="ij")

    def mean_xyz(wall: tuple[int, ...]) -> np.ndarray:
        inside = np.isin(segments, wall)
        return np.array([x[inside].mean(), y[inside].mean(), z[inside].mean()])

    anterior, septal, inferior, lateral = (mean_xyz(w) for w in ((1, 7), (2, 3, 8, 9), (4, 10), (5, 6, 11, 12)))
    assert inferior[2] < min(septal[2], lateral[2]) - 5.0 and anterior[2] > max(septal[2], lateral[2]) + 5.0
    assert abs(septal[2] - lateral[2]) < 4.0  # the septum–lateral axis is horizontal
    assert septal[0] < lateral[0] - 10.0 and septal[1] < lateral[1]  # septum right of and in front of the free wall
    activity, _, truth = render(GRID, anatomy, Uptake(right_ventricle=0.4, blood_pool=0.0))
    rv_wall = np.isclose(activity, 0.4)
    rv = np.array([x[rv_wall].mean(), y[rv_wall].mean(), z[rv_wall].mean()]) - truth.centre_xyz_mm
    lateral_axis = np.cross(truth.long_axis, truth.anterior_axis)
    lateral_axis *= np.sign(lateral_axis[0])
    phi = np.degrees(np.arctan2(rv @ lateral_axis, rv @ np.asarray(truth.anterior_axis)))
    assert -120.0 < phi < -60.0  # the RV lies on the septum


def test_anterior_direction_is_the_head_projected_and_falls_back_on_a_vertical_axis():
    axis = np.array([0.61237244, -0.61237244, -0.5])
    np.testing.assert_allclose(anterior_direction(axis), [0.35355339, -0.35355339, 0.8660254], atol=1e-7)
    vertical = np.array([0.05, -0.05, -0.9975])
    vertical /= np.linalg.norm(vertical)
    front = anterior_direction(vertical)
    assert abs(front @ vertical) < 1e-12 and np.isclose(np.linalg.norm(front), 1.0) and front[1] < -0.99


def test_anatomy_round_trips_through_its_dict():
    anatomy = sample_anatomy(Patient("F", "F", 60, 165, 90), np.random.default_rng(6))
    assert anatomy_from_dict(asdict(anatomy)) == anatomy

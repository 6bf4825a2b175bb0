"""Anthropomorphic thorax phantoms: patients, anatomy, sestamibi uptake, perfusion defects, scan conditions.

A study is rendered from seeded draws: a :class:`Patient` (sex, age, height, weight, as in an MPI cohort), an
:class:`Anatomy` derived from the patient with random variability (also its CT: tissue densities), the
patient's perfusion (:func:`sample_defects`: one defect for both of a patient's studies, in one coronary
territory or two, fixed or reversible), an :class:`Uptake` per study (acquired again while the abdomen beside the
LV is as hot as the myocardium: :func:`sample_accepted_uptake`) and the :class:`ScanConditions` of the study
(breathing, SPECT–CT misregistration, CT noise). :func:`render` turns them into an activity image as the SPECT
sees it (relative uptake, myocardium = 1; breathing-blurred and misregistered), a μ-map as the CT sees it (cm⁻¹
at 140.5 keV, one snapshot) and the LV ground truth (in the CT's frame).

Sizes follow typical adult anatomy at heart level, varied with sex, height and BMI: body 30–40 cm lateral ×
20–28 cm AP, flattened where it lies on the curved bed pallet (≈45 cm wide), subcutaneous fat 0.5–4 cm, thicker
on some sides than others; lungs ≈10–12 cm wide and 15–18 cm AP on the diaphragm (right dome 1–2 cm above the
left), heart centre 2–4 cm left of and anterior to the body centre but inside the chest wall (its apex and RV
touch the ribs from inside, :func:`heart_inside_chest_wall`), LV long axis anterior-left-inferior,
vertebral body 3–4 cm, ribs ≈1 cm at 2.5–3 cm spacing, breasts of radius 5–9 cm lying supine (draped over the
anterolateral chest wall, :func:`_supine_breasts`), arms raised out of the field
of view or (≈10 %) down at the sides, gallbladder under the liver and bowel loops under the left dome.

The left ventricle is a truncated prolate ellipsoidal shell whose size is drawn from the literature: outer
base-to-apex length 75–95 mm, myocardial mass 90–130 g in women and 110–180 g in men (CMR normal values,
Kawel-Boehm et al., J. Cardiovasc. Magn. Reson. 17:29, 2015: LV mass ≈ 50–70 g/m² of body surface), wall
8–12 mm, thinning to :data:`LV_APEX_WALL_OF_WALL` of it at the apex (apical thinning, as CT shows it); the shell's
short axis is solved for the drawn mass (:func:`lv_shell_mass_g`).
RV, atria and blood pools scale with the LV. Its AHA segments, and so the coronary territories of the defects,
lie in the standard reorientation's frame (:func:`anterior_direction`): the inferior wall on the diaphragm, the
septum against the RV.

μ values are the NIST table at 140.5 keV, :data:`mumap.spect.attenuation.MU_140KEV` (its docstring gives the
source and the mixtures), varied per patient as CT numbers vary between patients: lung density 0.20–0.40 g/cm³
(ICRU Report 44: inflated lung 0.26 g/cm³; at CT, ρ ≈ 1 + HU/1000 g/cm³, and the supine lung is denser where
it hangs, posteriorly) rising 10–40 % from anterior to posterior, soft tissue ±3 %, bone mineral (the
bone's μ above soft tissue) ±10 %.

Coordinates are mm from the grid centre along the patient axes x (left), y (posterior), z (head). The
phantom works in (x, y, z) order, unlike mumap's arrays and grids (``[z, y, x]``, ``*_zyx_mm``): its
coordinate tuples are named ``*_xyz_mm`` (``heart_centre_xyz_mm``; with two axes ``*_xy_mm``), and the
images it renders are ``[z, y, x]`` like every mumap image. The heart sits at the grid centre's height (z = 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal, NamedTuple

import numpy as np
from scipy import ndimage
from scipy.optimize import brentq

from mumap.spect.attenuation import MU_140KEV
from mumap.spect.geometry import ImageGrid

TERRITORY_SEGMENTS = {  # AHA 17-segment model, standard coronary assignment
    "LAD": (1, 2, 7, 8, 13, 14, 17),
    "RCA": (3, 4, 9, 10, 15),
    "LCX": (5, 6, 11, 12, 16),
}


@dataclass(frozen=True)
class Patient:
    """One patient: sex ``F``/``M``, age in years, height in cm, weight in kg."""

    patient_id: str
    sex: Literal["F", "M"]
    age: int
    height_cm: float
    weight_kg: float

    @property
    def bmi(self) -> float:
        return self.weight_kg / (self.height_cm / 100.0) ** 2


def sample_patients(n: int, rng: np.random.Generator) -> list[Patient]:
    """``n`` patients like a myocardial-perfusion cohort: 60 % men, age 66 ± 11, BMI 18–45."""
    patients = []
    for i in range(n):
        sex = "M" if rng.random() < 0.6 else "F"
        height = float(np.clip(rng.normal(177 if sex == "M" else 164, 7), 145, 200))
        bmi = float(np.clip(np.exp(rng.normal(np.log(28.0), 0.17)), 18.0, 45.0))
        age = int(np.clip(round(rng.normal(66, 11)), 30, 90))
        patients.append(Patient(f"P{i:04d}", sex, age, round(height, 1), round(bmi * (height / 100) ** 2, 1)))
    return patients


@dataclass(frozen=True)
class Breasts:
    """Both breasts, by the size they would have upright: radius (mm, x and z), forward projection (mm), x offset
    of each centre (mm), height z (mm); rendered as they lie supine (:func:`_supine_breasts`)."""

    radius_mm: float
    projection_mm: float
    offset_x_mm: float
    z_mm: float


@dataclass(frozen=True)
class Anatomy:
    """Body geometry in mm and the patient's tissue densities. Defaults: a 75 kg, 175 cm man.

    ``fat_unevenness`` = (a₁, θ₁, a₂, θ₂): the fat layer is ``fat_mm`` × (1 + a₁ cos(θ − θ₁) + a₂ cos 2(θ − θ₂))
    at the angle θ (degrees, from +x towards +y: −90° is anterior) about the body axis. ``lung_gradient``: the
    lung is that much denser at its posterior edge than at its anterior one. ``bowel_loops_xyzr_mm``: centre and
    radius of each bowel loop.
    """

    body_semi_axes_xy_mm: tuple[float, float] = (170.0, 115.0)
    taper_per_100mm: float = 0.03  # relative widening of the body towards the abdomen
    back_flattening_mm: float = 15.0  # the back lies flat on the pallet: its half-ellipse is that much deeper, cut
    fat_mm: float = 15.0
    fat_unevenness: tuple[float, float, float, float] = (0.0, -90.0, 0.0, 0.0)
    breasts: Breasts | None = None
    arms_down: bool = False
    arm_radius_mm: float = 45.0
    lung_semi_axes_xyz_mm: tuple[float, float, float] = (58.0, 75.0, 120.0)
    lung_density_g_cm3: float = 0.30
    lung_gradient: float = 0.0
    soft_tissue_scale: float = 1.0
    bone_mineral_scale: float = 1.0
    diaphragm_z_mm: tuple[float, float] = (-50.0, -70.0)  # right, left dome apex
    heart_centre_xyz_mm: tuple[float, float, float] = (30.0, -30.0, 0.0)  # LV centre
    lv_semi_axes_mm: tuple[float, float] = (65.0, 30.0)  # outer: long, short
    lv_wall_mm: float = 10.0
    lv_azimuth_deg: float = 45.0  # long axis from sagittal towards the left
    lv_elevation_deg: float = 30.0  # long axis below the transaxial plane
    gallbladder_xyz_mm: tuple[float, float, float] = (-55.0, -45.0, -125.0)
    gallbladder_radii_xyz_mm: tuple[float, float, float] = (16.0, 16.0, 35.0)
    bowel_loops_xyzr_mm: tuple[tuple[float, float, float, float], ...] = ((45.0, -25.0, -110.0, 20.0),)
    spine_radius_mm: float = 18.0
    rib_spacing_mm: float = 28.0
    rib_phase_mm: float = 0.0
    bed_gap_mm: float = 0.0
    bed_thickness_mm: float = 15.0


def anatomy_from_dict(values: dict) -> Anatomy:
    """The :class:`Anatomy` stored in a study's ``truth.json`` (``dataclasses.asdict`` form)."""
    values = dict(values)
    breasts = values.pop("breasts", None)
    tuples = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) for k, v in values.items()
              if isinstance(v, list)}
    return Anatomy(**{**values, **tuples, "breasts": Breasts(**breasts) if breasts else None})


LV_BASE = -0.3
"""The LV shell's base plane, as a fraction of its long semi-axis behind its centre (towards the atria)."""
LV_APEX_WALL_OF_WALL = 0.6
"""The myocardium at the LV's apex, beyond the cavity's tip along the long axis, as a fraction of the wall across
the axis. Apical thinning: on 64-slice CT of 21 patients the wall was 5.1 ± 1.3 mm thick at the apex, 7.3 ± 1.3
in the apical and 9.9 ± 2.4 in the mid-ventricular walls, and their AC SPECT counts 0.81, 0.88 and 0.91 of the
maximum, the apex 0.89 of the mid walls (J Nucl Med 2011;52 suppl 1:1131). 0.6 (5.9 of 9.9 mm, within the CT's
spread) is where the quick cohort's CTAC maps have their apex at 0.88 of the mid ring, as patients' AC images; CT's
mean, 0.52, puts it at 0.86 (docs/REALISM.md). With the full wall at the apex (mumap < 0.8) the apex's tip was a
solid cone of myocardium that the blur recovers more fully than a wall, the hottest spot of most polar maps."""
MYOCARDIUM_G_PER_ML = 1.05
RV_OFFSET_RIGHT_ANTERIOR_MM = (30.0, 13.0)  # RV centre from the LV centre, reference heart
RV_SEMI_AXES_OF_LV = (0.85, 1.15)  # RV semi-axes as fractions of the LV's (along, across its long axis)


def lv_cavity_semi_axes_mm(long_mm: float, short_mm: float, wall_mm: float) -> tuple[float, float]:
    """``(long, short)`` semi-axes (mm) of the LV cavity inside the outer ellipsoid of semi-axes ``long_mm``,
    ``short_mm``: less the apex's myocardium (:data:`LV_APEX_WALL_OF_WALL` · ``wall_mm``) along the axis, less the
    wall across it. The cavity's tip lies at ``long`` along the axis from the shell's centre."""
    return long_mm - LV_APEX_WALL_OF_WALL * wall_mm, short_mm - wall_mm


def lv_shell_mass_g(long_mm: float, short_mm: float, wall_mm: float) -> float:
    """Mass (g) of the LV shell: outer truncated ellipsoid (semi-axes ``long_mm``, ``short_mm``, cut at the base
    plane :data:`LV_BASE` · long) minus the cavity (:func:`lv_cavity_semi_axes_mm`, same base plane), at the density
    of myocardium, 1.05 g/ml. The volume of an ellipsoid of revolution between the planes t = b and t = a along
    its axis is π s²/a² · (a²(a − b) − (a³ − b³)/3)."""
    base = LV_BASE * long_mm

    def volume(a: float, s: float) -> float:
        return np.pi * s**2 / a**2 * (a**2 * (a - base) - (a**3 - base**3) / 3.0)

    cavity = lv_cavity_semi_axes_mm(long_mm, short_mm, wall_mm)
    return (volume(long_mm, short_mm) - volume(*cavity)) / 1000.0 * MYOCARDIUM_G_PER_ML


def lv_length_mm(long_mm: float) -> float:
    """Outer base-to-apex length (mm) of an LV shell of long semi-axis ``long_mm``."""
    return (1.0 - LV_BASE) * long_mm


def lv_semi_axes_mm(mass_g: float, length_mm: float, wall_mm: float) -> tuple[float, float]:
    """``(long, short)`` outer semi-axes (mm) of the LV shell of outer base-to-apex length ``length_mm``, wall
    ``wall_mm`` and myocardial mass ``mass_g``: the long one from the length, the short one solved for the mass
    (at most the long one: the heaviest of the drawn LVs on the shortest, thinnest-walled shell, 180 g, 75 mm,
    8 mm, is a near-sphere)."""
    long_mm = length_mm / (1.0 - LV_BASE)
    return long_mm, float(brentq(lambda s: lv_shell_mass_g(long_mm, s, wall_mm) - mass_g, wall_mm + 5.0, long_mm))


def lv_lowest_z_mm(long_mm: float, short_mm: float, elevation_deg: float) -> float:
    """Height (mm, negative) of the LV shell's lowest point relative to its centre: the ellipsoid of semi-axes
    ``long_mm``, ``short_mm`` whose long axis points ``elevation_deg`` below the transaxial plane."""
    sin_el = np.sin(np.deg2rad(elevation_deg))
    return -np.sqrt((long_mm * sin_el) ** 2 + short_mm**2 * (1 - sin_el**2))


def lv_lowest_point_xyz_mm(a: Anatomy) -> np.ndarray:
    """The LV shell's lowest point (world x, y, z mm): where the outer ellipsoid's tangent plane is horizontal.
    For an ellipsoid of revolution (centre c, unit axis u, semi-axes L along it and S across) the point whose
    outward normal is d = −z is c + (L² (u·d) u + S² (d − (u·d) u)) / h, h = √(L² (u·d)² + S² (1 − (u·d)²))
    (its support point); it lies on the apex side, so the base plane does not cut it."""
    u = _lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg)
    long_mm, short_mm = a.lv_semi_axes_mm
    down = np.array([0.0, 0.0, -1.0])
    along = float(u @ down)
    h = np.sqrt(long_mm**2 * along**2 + short_mm**2 * (1.0 - along**2))
    return np.asarray(a.heart_centre_xyz_mm) + (long_mm**2 * along * u + short_mm**2 * (down - along * u)) / h


DOME_RADIUS_MM = 150.0
"""Radius of curvature of each diaphragm dome at its apex (half of the left-to-right chest, as CT shows it)."""
DIAPHRAGM_MM = 5.0
"""Thickness of the diaphragm: the abdomen's organs lie under it, the heart on it."""


def lung_centre_x_mm(a: Anatomy, side: Literal[-1, 1]) -> float:
    """Lateral position (mm) of the right (``side`` −1) or left (+1) lung's centre, and of its diaphragm dome's
    apex: half the body's half-width out from the midline."""
    return side * 0.5 * a.body_semi_axes_xy_mm[0]


def dome_surface_z_mm(a: Anatomy, side: Literal[-1, 1], x, y):
    """Height (mm) of the right (``side`` −1) or left (+1) diaphragm dome's surface over the points ``x``, ``y``
    (mm; arrays broadcast): a paraboloid of apex radius :data:`DOME_RADIUS_MM` under the lung's centre
    (:func:`lung_centre_x_mm`)."""
    apex = a.diaphragm_z_mm[0 if side < 0 else 1]
    return apex - ((x - lung_centre_x_mm(a, side)) ** 2 + y**2) / (2 * DOME_RADIUS_MM)


def bowel_loop_under_lv(a: Anatomy, radius_mm: float, gap_mm: float) -> tuple[float, float, float, float]:
    """``(x, y, z, r)`` (mm, rounded to 0.1) of a bowel loop of radius ``radius_mm`` right under the LV's lowest
    point (:func:`lv_lowest_point_xyz_mm`), its top ``gap_mm`` below the diaphragm (:data:`DIAPHRAGM_MM` thick)
    on which the heart rests — or, where the left dome lies lower there, below the dome. The sphere's top then
    lies straight under the ellipsoid's lowest point, the LV's horizontal tangent plane between them: the loop's
    surface comes within :data:`DIAPHRAGM_MM` + ``gap_mm`` of the LV's, or further under a lower dome."""
    x, y, z = lv_lowest_point_xyz_mm(a)
    top = min(z, float(dome_surface_z_mm(a, 1, x, y))) - DIAPHRAGM_MM - gap_mm
    return tuple(round(float(v), 1) for v in (x, y, top - radius_mm, radius_mm))


def sample_anatomy(patient: Patient, rng: np.random.Generator) -> Anatomy:
    """Anatomy scaled from height and weight, with per-patient variability."""
    size = np.sqrt(patient.weight_kg / patient.height_cm / (75.0 / 175.0))  # cross-section scale
    woman = patient.sex == "F"
    width = 170.0 * size**0.8 * (0.93 if woman else 1.0) * rng.uniform(0.95, 1.05)
    depth = 115.0 * size**1.2 * rng.uniform(0.93, 1.07)
    fat = float(np.clip(4.0 + 2.2 * (patient.bmi - 20.0), 5.0, 40.0) * rng.uniform(0.8, 1.2))
    # more fat in front (abdominal, breast region) or at the flanks, differently in each patient
    unevenness = (rng.uniform(0.0, 0.4), rng.uniform(-150.0, -30.0), rng.uniform(0.0, 0.3), rng.uniform(0.0, 180.0))
    breasts = None
    if woman:
        radius = float(np.clip(45.0 + 2.0 * (patient.bmi - 20.0), 50.0, 90.0) * rng.uniform(0.85, 1.15))
        projection = float(np.clip(radius * rng.uniform(0.6, 1.1), 30.0, 100.0))
        # supine, the breast lies on the chest over ribs 2–6, centred at the level of the 4th intercostal space,
        # where the LV centre (z = 0) lies; with age the breast sags, which supine means sideways, towards the
        # axilla, not down (mumap < 0.5 moved it down, as upright: below most of the heart)
        sag = rng.uniform(0.0, 1.0) * (0.5 + patient.age / 150.0) * radius
        breasts = Breasts(radius, projection, width * rng.uniform(0.38, 0.5) + 0.3 * sag, float(rng.uniform(-15, 15)))
    lung_scale = patient.height_cm / 175.0
    # LV: mass and length from the literature (module docstring), the short axis solved for the mass
    mass = float(np.clip(rng.normal(110.0, 12.0) if woman else rng.normal(140.0, 20.0), *((90, 130) if woman
                                                                                       else (110, 180))))
    length = float(np.clip(rng.normal(82.0 if woman else 88.0, 5.0), 75.0, 95.0))
    wall = rng.uniform(8.0, 12.0)
    lv_long, lv_short = lv_semi_axes_mm(mass, length, wall)
    elevation = rng.uniform(20.0, 40.0)
    # the heart rests on the left dome: its lowest point (LV centre at z = 0) is ≈ 35–55 mm down; in two thirds
    # of the men the dome reaches up beside the inferior wall (abdomen instead of lung around it), the source of
    # inferior-wall attenuation artefacts; the right dome is 1–2 cm above the left. (mumap < 0.6: in every man,
    # 5–25 mm up; the calibration in docs/REALISM.md measured what that did.)
    heart_bottom = lv_lowest_z_mm(lv_long, lv_short, elevation)
    left_dome = heart_bottom + (rng.uniform(-10.0, 20.0) if patient.sex == "M" else -rng.uniform(0.0, 25.0))
    right_dome = left_dome + rng.uniform(10.0, 20.0)
    heart = (rng.uniform(20.0, 40.0), -rng.uniform(20.0, 40.0) * depth / 115.0, 0.0)
    # abdomen: the gallbladder under the liver (right, anterior); bowel loops under the left dome, the first one
    # right under the LV's lowest point, 0–40 mm under the diaphragm there (on it in about a third: where the
    # dome reaches up beside the heart, against the inferior wall), placed once the heart is inside the chest wall
    gallbladder = (-width * rng.uniform(0.2, 0.4), -depth * rng.uniform(0.2, 0.45), right_dome - rng.uniform(60, 100))
    gallbladder_radius = round(float(rng.uniform(12.0, 20.0)), 1)
    first_loop = (rng.uniform(12.0, 22.0), rng.exponential(12.0) if rng.random() > 0.3 else 0.0)  # radius, gap
    loops = []
    for _ in range(int(rng.integers(0, 3))):
        r = rng.uniform(12.0, 22.0)
        x, y = rng.uniform(20.0, 0.6 * width), rng.uniform(-0.5 * depth, 0.2 * depth)
        z = left_dome - 30.0 - r - rng.uniform(0.0, 60.0)
        loops.append(tuple(round(float(v), 1) for v in (x, y, z, r)))
    anatomy = heart_inside_chest_wall(Anatomy(
        body_semi_axes_xy_mm=(round(width, 1), round(depth, 1)),
        taper_per_100mm=rng.uniform(0.0, 0.06),
        back_flattening_mm=round(float(rng.uniform(0.08, 0.18) * depth), 1),
        fat_mm=round(fat, 1),
        fat_unevenness=tuple(round(float(v), 3) for v in unevenness),
        breasts=breasts,
        arms_down=bool(rng.random() < 0.1),
        arm_radius_mm=round(float(rng.uniform(38.0, 48.0) * size**0.7), 1),
        lung_semi_axes_xyz_mm=(0.34 * width, 0.65 * depth, 120.0 * lung_scale * rng.uniform(0.9, 1.1)),
        lung_density_g_cm3=round(float(rng.uniform(0.20, 0.40)), 3),
        lung_gradient=round(float(rng.uniform(0.10, 0.40)), 3),
        soft_tissue_scale=round(float(rng.uniform(0.97, 1.03)), 4),
        bone_mineral_scale=round(float(rng.uniform(0.90, 1.10)), 4),
        diaphragm_z_mm=(right_dome, left_dome),
        heart_centre_xyz_mm=heart,
        lv_semi_axes_mm=(lv_long, lv_short),
        lv_wall_mm=wall,
        lv_azimuth_deg=rng.uniform(30.0, 60.0),
        lv_elevation_deg=elevation,
        gallbladder_xyz_mm=tuple(round(float(v), 1) for v in gallbladder),
        gallbladder_radii_xyz_mm=(gallbladder_radius, gallbladder_radius, round(float(rng.uniform(25.0, 45.0)), 1)),
        bowel_loops_xyzr_mm=tuple(loops),
        spine_radius_mm=rng.uniform(15.0, 20.0),
        rib_spacing_mm=rng.uniform(25.0, 30.0),
        rib_phase_mm=rng.uniform(0.0, 25.0),
        bed_gap_mm=0.0,
        bed_thickness_mm=rng.uniform(10.0, 20.0),
    ))
    return replace(anatomy, bowel_loops_xyzr_mm=(bowel_loop_under_lv(anatomy, *first_loop), *loops))


@dataclass(frozen=True)
class Defect:
    """A perfusion defect: coronary ``territory`` (one, or two joined by ``+``: :func:`territory_segments`),
    affected AHA ``segments``, uptake reduction 0–0.7; ``kind``
    ``fixed`` (scar: in stress and rest alike) or ``reversible`` (ischaemia: at stress, milder or gone at rest)."""

    territory: str
    segments: tuple[int, ...]
    severity: float
    kind: Literal["fixed", "reversible"] = "fixed"


@dataclass(frozen=True)
class Uptake:
    """Sestamibi uptake relative to the myocardium (= 1). ``lung_per_gram`` is the lung's uptake per gram of
    tissue relative to soft tissue's: per voxel the lung holds ``soft_tissue × lung_per_gram × ρ_lung / 1.05``,
    far below soft tissue since the lung weighs 0.2–0.4 g/cm³."""

    blood_pool: float = 0.12
    liver: float = 0.6
    right_ventricle: float = 0.4
    lung_per_gram: float = 1.0
    soft_tissue: float = 0.08
    stomach: float = 0.3
    gallbladder: float = 0.5
    bowel: float = 0.3
    defect: Defect | None = None


MULTI_VESSEL_FRACTION = 0.3
"""Of the patients with a defect, the fraction whose defect spans two coronary territories (multi-vessel
disease); with :attr:`mumap.data.synthesize.Preset.defect_probability` calibrated against the paper's R
(docs/REALISM.md)."""


def territory_segments(territory: str) -> tuple[int, ...]:
    """The AHA segments of a defect's ``territory``: one of :data:`TERRITORY_SEGMENTS` or two joined by ``+``
    (multi-vessel disease, e.g. ``"LAD+RCA"``)."""
    return tuple(sorted({s for name in territory.split("+") for s in TERRITORY_SEGMENTS[name]}))


def sample_defects(rng: np.random.Generator, probability: float) -> dict[str, Defect | None]:
    """A patient's perfusion defect at ``stress`` and at ``rest`` (with the given probability, else none): the
    same territory for both — one, or two in :data:`MULTI_VESSEL_FRACTION` of the patients, each with about 70 %
    of its segments —; fixed (rest severity 85–100 % of stress) or, as often, reversible (rest 0–50 %, gone
    below 0.05)."""
    if rng.random() >= probability:
        return {"stress": None, "rest": None}
    names = list(TERRITORY_SEGMENTS)
    territories = [str(rng.choice(names))]
    if rng.random() < MULTI_VESSEL_FRACTION:
        territories.append(str(rng.choice([name for name in names if name != territories[0]])))
    chosen = set()
    for name in territories:
        segments = TERRITORY_SEGMENTS[name]
        keep = rng.random(len(segments)) < 0.7
        keep[rng.integers(len(segments))] = True
        chosen |= {int(s) for s, k in zip(segments, keep, strict=True) if k}
    territory, chosen = "+".join(sorted(territories)), tuple(sorted(chosen))
    severity = round(float(rng.uniform(0.1, 0.7)), 3)
    kind = "fixed" if rng.random() < 0.5 else "reversible"
    rest = round(severity * float(rng.uniform(0.85, 1.0) if kind == "fixed" else rng.uniform(0.0, 0.5)), 3)
    return {"stress": Defect(territory, chosen, severity, kind),
            "rest": Defect(territory, chosen, rest, kind) if rest >= 0.05 else None}


def sample_uptake(protocol: Literal["stress", "rest"], rng: np.random.Generator, defect: Defect | None) -> Uptake:
    """Tissue uptake for one study: at rest more hepato-biliary and bowel activity (imaging starts sooner after
    the injection, without exercise to clear the liver)."""
    rest = protocol == "rest"
    return Uptake(
        blood_pool=rng.uniform(0.10, 0.15),
        liver=float(np.clip(rng.uniform(0.4, 0.95) * (1.3 if rest else 1.0), 0.4, 1.2)),
        right_ventricle=rng.uniform(0.3, 0.5),
        lung_per_gram=rng.uniform(0.7, 1.5),
        soft_tissue=rng.uniform(0.05, 0.10),
        stomach=rng.uniform(0.1, 1.0),
        gallbladder=rng.uniform(0.5, 3.0) if rest else rng.uniform(0.0, 1.5),
        bowel=rng.uniform(0.3, 1.5) if rest else rng.uniform(0.1, 0.8),
        defect=defect,
    )


ABDOMINAL_ORGANS = ("liver", "stomach", "gallbladder", "bowel")
REPEAT_UPTAKE_BESIDE_LV = 0.7
"""Abdominal uptake within :data:`REPEAT_MARGIN_MM` of the LV wall, relative to the myocardium's, at which a study
is acquired again later: subdiaphragmatic activity as hot as the inferior wall and next to it spills into it and
sets the polar map's normalisation (more so after attenuation correction, which lifts the deep abdomen), so
such studies are acquired again after a wait (Burrell & MacDonald, J. Nucl. Med. Technol. 34:193, 2006; Strok et
al., Radiol. Oncol. 58:313, 2024: subdiaphragmatic activity "often necessitate[s] repeated imaging"). The
threshold and margin are this project's reading of "as hot and adjacent"; the cohort's calibration
(docs/REALISM.md) measured their effect."""
REPEAT_MARGIN_MM = 15.0
MAX_REPEATS = 2


def abdominal_uptake_beside_lv(grid: ImageGrid, anatomy: Anatomy, uptake: Uptake,
                               margin_mm: float = REPEAT_MARGIN_MM) -> float:
    """The hottest uptake of the liver, stomach, gallbladder or bowel within ``margin_mm`` of the LV myocardium
    on ``grid``, relative to the myocardium's (= 1), breathing aside: what a reader checks on the slices before
    accepting a study. 0 when no abdominal organ comes that close."""
    still = replace(uptake, defect=None)
    with_abdomen = render(grid, anatomy, still)[0]
    without = render(grid, anatomy, replace(still, **dict.fromkeys(ABDOMINAL_ORGANS, 0.0)))[0]
    lv = lv_segment_map(grid, anatomy) > 0
    near = (ndimage.distance_transform_edt(~lv, sampling=grid.voxel_zyx_mm) <= margin_mm) & ~lv
    return float((with_abdomen - without)[near].max(initial=0.0))


def sample_accepted_uptake(protocol: Literal["stress", "rest"], rng: np.random.Generator, defect: Defect | None,
                           grid: ImageGrid, anatomy: Anatomy, max_repeats: int = MAX_REPEATS) -> tuple[Uptake, int]:
    """A study's uptake as accepted for reading, and how often its acquisition was repeated: while the abdomen
    beside the LV wall is as hot as :data:`REPEAT_UPTAKE_BESIDE_LV` (on ``grid``), the study is acquired again
    later — its abdominal uptake drawn anew, the heart's and the rest unchanged — at most ``max_repeats`` times
    (then it is read as it is, as clinics do)."""
    uptake, repeats = sample_uptake(protocol, rng, defect), 0
    while repeats < max_repeats and abdominal_uptake_beside_lv(grid, anatomy, uptake) >= REPEAT_UPTAKE_BESIDE_LV:
        later = sample_uptake(protocol, rng, None)
        uptake = replace(uptake, **{organ: getattr(later, organ) for organ in ABDOMINAL_ORGANS})
        repeats += 1
    return uptake, repeats


@dataclass(frozen=True)
class ScanConditions:
    """How a study was scanned. ``breathing_mm``: peak-to-peak craniocaudal motion of the diaphragm and upper
    abdomen during the SPECT (the heart moves :data:`HEART_OF_DIAPHRAGM_MOTION` of it; the CT μ-map is one
    snapshot); ``misregistration_xyz_mm``: the residual
    shift of the emission against the CT after manual alignment; ``ct_noise_hu``: the CT's noise (HU, at
    :data:`CT_VOXEL_MM3`)."""

    breathing_mm: float = 0.0
    misregistration_xyz_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ct_noise_hu: float = 0.0


CT_VOXEL_MM3 = 1.0 * 1.0 * 3.0
"""Voxel volume of the low-dose attenuation CT whose noise :attr:`ScanConditions.ct_noise_hu` gives."""


def sample_scan(rng: np.random.Generator) -> ScanConditions:
    """Breathing 10–20 mm craniocaudal (Seppenwoolde et al., Int. J. Radiat. Oncol. Biol. Phys. 53:822, 2002:
    lower-lobe motion ≈ 1–2 cm craniocaudal in free breathing, as the diaphragm under the heart),
    misregistration 0–4 mm in a random direction, CT noise 15–40 HU (low-dose attenuation CTs)."""
    direction = rng.normal(size=3)
    shift = direction / np.linalg.norm(direction) * rng.uniform(0.0, 4.0)
    return ScanConditions(round(float(rng.uniform(10.0, 20.0)), 1), tuple(round(float(v), 2) for v in shift),
                          round(float(rng.uniform(15.0, 40.0)), 1))


@dataclass(frozen=True)
class LVTruth:
    """Ground truth of the left ventricle in world mm (x, y, z) from the grid centre."""

    centre_xyz_mm: tuple[float, float, float]
    long_axis: tuple[float, float, float]  # unit vector, base → apex
    anterior_axis: tuple[float, float, float]  # unit vector ⟂ long axis, towards the anterior wall
    defect: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


PALLET_RADIUS_MM = 1200.0  # the bed pallet's transaxial curvature (its top rises x² / 2R beside the axis)
CHEST_WALL_MM = 15.0  # muscle and ribs under the fat (ribs at 3–13 mm under it): the lungs and heart lie inside
LUNG_MU_PER_G_CM3 = MU_140KEV["lung"] / 0.30  # the table's lung is NIST lung tissue at 0.30 g/cm³
LUNG_DENSITY_MAX_G_CM3 = 0.42  # μ stays below the bed pallet's, which tells the bed from the body
BREAST_MEDIAL_EDGE_MM = 20.0  # a supine breast's inner edge beside the midline: the sternum's side


def render(grid: ImageGrid, anatomy: Anatomy, uptake: Uptake, scan: ScanConditions = ScanConditions()
           ) -> tuple[np.ndarray, np.ndarray, LVTruth]:
    """``(activity, mu, truth)``: relative uptake as the SPECT sees it (blurred by breathing, shifted by the
    misregistration) and μ (cm⁻¹) as the CT sees it, both ``[z, y, x]`` float32; the truth is in the CT's frame.
    (CT noise is added where the μ-map is resampled to the reconstruction grid: ``render_study``.)"""
    a = anatomy
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    half_w, half_d, depth_in, fat, pallet_top = _body_wall(a, x, y, z)
    body = depth_in >= 0.0
    soft = MU_140KEV["soft_tissue"] * a.soft_tissue_scale

    def scaled(tissue: str) -> float:
        """The patient's μ of a table tissue: soft tissues scaled together, bones' mineral part scaled."""
        if tissue in ("cortical_bone", "spongy_bone", "rib"):
            return soft + (MU_140KEV[tissue] - MU_140KEV["soft_tissue"]) * a.bone_mineral_scale
        return MU_140KEV[tissue] * a.soft_tissue_scale

    mu = np.zeros(grid.shape)
    activity = np.zeros(grid.shape)

    def put(mask: np.ndarray, mu_value, uptake_value) -> None:
        """Set μ and activity in ``mask``: scalars, or arrays of the grid's shape."""
        mu[mask] = mu_value[mask] if isinstance(mu_value, np.ndarray) else mu_value
        activity[mask] = uptake_value[mask] if isinstance(uptake_value, np.ndarray) else uptake_value

    put(body, soft, uptake.soft_tissue)
    put(body & (depth_in < fat), scaled("adipose"), uptake.soft_tissue)
    if a.arms_down:  # upper arms at the sides, resting on the pallet: muscle round the humerus, under a fat layer
        for side in (-1, 1):
            cx = side * (a.body_semi_axes_xy_mm[0] + 5.0 + a.arm_radius_mm)
            cy = a.body_semi_axes_xy_mm[1] - cx**2 / (2 * PALLET_RADIUS_MM) - a.arm_radius_mm
            r_arm = np.hypot(x - cx, y - cy)
            put(r_arm <= a.arm_radius_mm, scaled("adipose"), uptake.soft_tissue)
            put(r_arm <= a.arm_radius_mm - 0.5 * a.fat_mm, soft, uptake.soft_tissue)
            put(r_arm <= 12.0, scaled("cortical_bone"), uptake.soft_tissue)
            put(r_arm <= 8.0, scaled("spongy_bone"), uptake.soft_tissue)
            body |= r_arm <= a.arm_radius_mm
    if a.breasts is not None:
        breast = _supine_breasts(a.breasts, half_w, half_d, depth_in, fat, x, y, z)
        put(breast, scaled("breast"), uptake.soft_tissue)
        body |= breast

    # thoracic cavity: lungs above the diaphragm domes (denser posteriorly), liver and stomach below
    lx, ly, lz = a.lung_semi_axes_xyz_mm
    lung_y = 0.05 * half_d
    density = np.clip(a.lung_density_g_cm3 * (1.0 + 0.5 * a.lung_gradient * np.clip((y - lung_y) / ly, -1, 1)),
                      0.05, LUNG_DENSITY_MAX_G_CM3)
    lung_activity = uptake.soft_tissue * uptake.lung_per_gram * density / 1.05
    for side, dome in ((-1, a.diaphragm_z_mm[0]), (1, a.diaphragm_z_mm[1])):
        cx = lung_centre_x_mm(a, side)
        dome_surface = dome_surface_z_mm(a, side, x, y)
        lung = (((x - cx) / lx) ** 2 + ((y - lung_y) / ly) ** 2 + ((z - dome - 0.8 * lz) / lz) ** 2 <= 1.0)
        put(lung & (z > dome_surface) & (depth_in > fat + CHEST_WALL_MM), LUNG_MU_PER_G_CM3 * density,
            lung_activity)
        if side < 0:
            liver = ((x + 0.35 * half_w) / (0.55 * half_w)) ** 2 + (y / (0.7 * half_d)) ** 2 \
                + ((z - dome + 60.0) / 90.0) ** 2 <= 1.0
            put(liver & (z <= dome_surface) & (depth_in > fat + 10.0), soft, uptake.liver)
            g, (gx, gy, gz) = a.gallbladder_xyz_mm, a.gallbladder_radii_xyz_mm
            gallbladder = ((x - g[0]) / gx) ** 2 + ((y - g[1]) / gy) ** 2 + ((z - g[2]) / gz) ** 2 <= 1.0
            put(gallbladder & (z <= dome_surface) & body, soft, uptake.gallbladder)
        else:
            stomach = ((x - 0.45 * half_w) / 45.0) ** 2 + ((y + 0.15 * half_d) / 40.0) ** 2 \
                + ((z - dome + 55.0) / 50.0) ** 2 <= 1.0
            put(stomach & (z <= dome_surface), soft, uptake.stomach)
            for bx, by, bz, br in a.bowel_loops_xyzr_mm:
                loop = (x - bx) ** 2 + (y - by) ** 2 + (z - bz) ** 2 <= br**2
                put(loop & (z <= dome_surface - DIAPHRAGM_MM) & (depth_in > fat + 5.0), soft, uptake.bowel)

    # skeleton: ribs (bands under the fat, sloping up posteriorly), sternum, vertebra
    rib_z = (z - 0.25 * y - a.rib_phase_mm) % a.rib_spacing_mm
    ribs = body & (depth_in > fat + 3.0) & (depth_in < fat + 13.0) & (rib_z < 10.0) & ~((np.abs(x) < 35.0) & (y < 0))
    put(ribs, scaled("rib"), uptake.soft_tissue)
    sternum = (np.abs(x) < 15.0) & (y < 0) & (depth_in > fat) & (depth_in < fat + 12.0) & (z > -60.0)
    put(sternum & body, scaled("spongy_bone"), uptake.soft_tissue)
    spine_y = a.body_semi_axes_xy_mm[1] - 45.0 - 0.3 * a.fat_mm
    r_spine = np.hypot(x, y - spine_y)
    put(r_spine <= a.spine_radius_mm, scaled("cortical_bone"), uptake.soft_tissue)
    put(r_spine <= a.spine_radius_mm - 3.0, scaled("spongy_bone"), uptake.soft_tissue)
    put((np.abs(x) < 8.0) & (y > spine_y + a.spine_radius_mm) & (y < spine_y + a.spine_radius_mm + 20.0),
        scaled("cortical_bone"), uptake.soft_tissue)

    truth, heart = _render_heart(x, y, z, a, uptake, soft, put, activity)

    # bed: the curved pallet under (posterior of) the body, in the μ-map only
    top = pallet_top + a.bed_gap_mm
    bed = (y >= top) & (y < top + a.bed_thickness_mm) & (np.abs(x) < 225.0) & ~body
    mu[bed] = MU_140KEV["bed"]
    # the SPECT's view: the diaphragm and upper abdomen move with breathing, the heart on it less, the body wall
    # and spine not at all
    moving = (np.clip((depth_in - fat - CHEST_WALL_MM) / 20.0, 0.0, 1.0)
              * np.clip((spine_y - a.spine_radius_mm - y) / 20.0, 0.0, 1.0))
    activity = _as_scanned(activity, moving, heart, grid, scan)
    return activity.astype(np.float32), mu.astype(np.float32), truth


class BodyWall(NamedTuple):
    """The body at some points (mm): its semi-axes at their height (it widens towards the abdomen), their
    approximate depth under the skin (negative outside; the back lies flat on the curved pallet: its
    half-ellipse is deeper by the flattening and cut there), the subcutaneous fat's thickness in their direction
    and the pallet's top (y) beneath them."""

    half_width: np.ndarray
    half_depth: np.ndarray
    depth_under_skin: np.ndarray
    fat: np.ndarray
    pallet_top: np.ndarray


def _body_wall(a: Anatomy, x, y, z) -> BodyWall:
    """The :class:`BodyWall` of ``a`` at points ``x, y, z`` (arrays or floats, mm)."""
    widen = 1.0 - a.taper_per_100mm * np.asarray(z) / 100.0
    half_w, half_d = a.body_semi_axes_xy_mm[0] * widen, a.body_semi_axes_xy_mm[1] * widen
    half_d_back = np.where(np.asarray(y) > 0, half_d + a.back_flattening_mm * widen, half_d)
    rho = np.sqrt((x / half_w) ** 2 + (y / half_d_back) ** 2)  # 1 on the skin
    pallet_top = half_d - np.asarray(x) ** 2 / (2 * PALLET_RADIUS_MM)
    depth_in = np.minimum((1.0 - rho) * np.sqrt(half_w * half_d), pallet_top - y)
    theta = np.arctan2(y, x)
    u1, t1, u2, t2 = a.fat_unevenness
    fat = a.fat_mm * np.maximum(1.0 + u1 * np.cos(theta - np.deg2rad(t1)) + u2 * np.cos(2 * (theta - np.deg2rad(t2))),
                                0.3)
    return BodyWall(half_w, half_d, depth_in, fat, pallet_top)


def _supine_breasts(b: Breasts, half_w, half_d, depth_in, fat, x, y, z) -> np.ndarray:
    """Both breasts of a woman lying supine: a mound draped over the anterolateral chest wall on each side, not a
    ball standing on it. Supine, the breast flattens against the chest wall and slides sideways towards the axilla,
    its inner edge at the sternum's side (the prone-to-supine deformation of breast imaging: Hipwell et al., Phys Med
    Biol 2016;61:R1, a review; and any thoracic CT of a supine woman). Here each breast covers the skin from
    :data:`BREAST_MEDIAL_EDGE_MM` beside the midline to 1.3 × ``radius_mm`` lateral of its centre at ``offset_x_mm``
    (along the skin), and ``radius_mm`` head- and footwards of ``z_mm``, with an ellipsoidal profile whose height
    keeps the volume that the upright ellipsoid of ``radius_mm`` and ``projection_mm`` had in front of the chest
    (0.316 of it). Breast tissue replaces the subcutaneous fat under it. Points ``x, y, z`` (mm); the body wall's
    ``half_w, half_d, depth_in, fat`` at them."""
    lateral_mm = 1.3 * b.radius_mm
    medial_mm = max(b.offset_x_mm - BREAST_MEDIAL_EDGE_MM, 0.3 * b.radius_mm)
    head_foot_mm = b.radius_mm
    volume_mm3 = 0.316 * (4.0 / 3.0) * np.pi * b.radius_mm**2 * b.projection_mm
    height_mm = volume_mm3 / ((2.0 / 3.0) * np.pi * 0.5 * (medial_mm + lateral_mm) * head_foot_mm)
    phi = np.arctan2(y / half_d, x / half_w)  # the point's angle on the body's ellipse: −90° anterior, 0° left
    breasts = np.zeros(np.shape(depth_in), dtype=bool)
    for side in (-1, 1):
        cos_centre = np.clip(b.offset_x_mm / half_w, 0.0, 1.0)  # the centre's skin point at each height
        centre_phi = np.arctan2(-np.sqrt(1.0 - cos_centre**2), side * cos_centre)
        turn = np.angle(np.exp(1j * (phi - centre_phi)))
        middle = centre_phi + 0.5 * turn  # the ellipse's arc length per radian there: ds/dφ
        lateral_of_centre = side * turn * np.hypot(half_w * np.sin(middle), half_d * np.cos(middle))  # mm, skin
        along = lateral_of_centre / np.where(lateral_of_centre > 0, lateral_mm, medial_mm)
        profile = 1.0 - along**2 - ((z - b.z_mm) / head_foot_mm) ** 2
        height = height_mm * np.sqrt(np.clip(profile, 0.0, None))
        breasts |= (profile > 0) & (-depth_in <= height) & (depth_in < fat) & (y < 0)
    return breasts


def heart_inside_chest_wall(a: Anatomy) -> Anatomy:
    """``a`` with the heart moved posteriorly, if need be, until the outer surfaces of the LV and RV lie inside
    the chest wall (at least :data:`CHEST_WALL_MM` under the fat): the apex and the RV touch the inner chest
    wall, they are not in it. Drawn heart positions can otherwise put a long LV's apex into the ribs
    and fat of a shallow chest, where it escapes attenuation altogether."""
    for _ in range(30):
        points = _heart_surface_points(a)
        wall = _body_wall(a, points[:, 0], points[:, 1], points[:, 2])
        shortfall = float(np.max(wall.fat + CHEST_WALL_MM - wall.depth_under_skin))
        if shortfall <= 0.05:
            return a
        c = a.heart_centre_xyz_mm
        a = replace(a, heart_centre_xyz_mm=(c[0], c[1] + shortfall + 0.1, c[2]))
    raise ValueError(f"cannot fit the heart inside the chest wall of {a}")


def _heart_surface_points(a: Anatomy, n_along: int = 16, n_around: int = 24) -> np.ndarray:
    """Points ``[N, 3]`` (world x, y, z mm) on the outer surfaces of the LV and RV shells (:func:`_render_heart`)."""
    long_axis = _lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg)
    front = short_axis_direction(long_axis, FRONT_XYZ)  # any basis ⟂ to the axis samples the rings
    side = np.cross(long_axis, front)
    long, short = a.lv_semi_axes_mm
    base = LV_BASE * long
    phi = np.linspace(0.0, 2 * np.pi, n_around, endpoint=False)
    surfaces = []
    for offset, semi_long, semi_short in ((np.zeros(3), long, short), _rv_ellipsoid(a)):
        along = np.linspace(max(base, -semi_long), semi_long, n_along)
        radius = semi_short * np.sqrt(np.clip(1.0 - (along / semi_long) ** 2, 0.0, None))
        ring = np.cos(phi)[:, None] * front + np.sin(phi)[:, None] * side  # [around, 3]
        points = along[:, None, None] * long_axis + radius[:, None, None] * ring[None]  # [along, around, 3]
        surfaces.append(points.reshape(-1, 3) + offset)
    return np.concatenate(surfaces) + np.asarray(a.heart_centre_xyz_mm)


BREATHING_PHASES = 8
HEART_OF_DIAPHRAGM_MOTION = 0.6
"""The heart's craniocaudal breathing motion as a fraction of the diaphragm's: 0.6 (Wang et al., Magn. Reson. Med.
33:713, 1995, navigator MR of the coronary arteries against the right dome; the correction factor coronary MR
angiography uses since). The heart is pulled along by the diaphragm it rests on, not carried with it."""


def _as_scanned(activity: np.ndarray, moving: np.ndarray, heart: np.ndarray, grid: ImageGrid,
                scan: ScanConditions) -> np.ndarray:
    """The activity ``[z, y, x]`` as the SPECT records it: the ``moving`` fraction (0–1) of each voxel averaged
    over the breathing cycle — craniocaudal position −A cos⁴(πt) at uniform t (Lujan et al., Med. Phys. 26:715,
    1999: longer at end-expiration), centred on its mean, which manual SPECT–CT alignment matches to the CT; A is
    ``scan.breathing_mm`` for the diaphragm and upper abdomen and :data:`HEART_OF_DIAPHRAGM_MOTION` of it for
    the ``heart`` (a boolean mask of its voxels) — and all of it shifted by the residual misregistration."""
    heart = heart.astype(np.float64)
    shift_zyx = np.array(scan.misregistration_xyz_mm[::-1]) / np.array(grid.voxel_zyx_mm)
    if np.any(shift_zyx != 0):
        activity, heart = (ndimage.shift(v, shift_zyx, order=1, mode="nearest") for v in (activity, heart))
    if scan.breathing_mm <= 0:
        return activity
    phases = (np.arange(BREATHING_PHASES) + 0.5) / BREATHING_PHASES
    cycle = -np.cos(np.pi * phases) ** 4
    cycle -= cycle.mean()

    def breathing(part: np.ndarray, amplitude_mm: float) -> np.ndarray:
        return np.mean([ndimage.shift(part, (amplitude_mm * c / grid.voxel_zyx_mm[0], 0, 0), order=1,
                                      mode="nearest") for c in cycle], axis=0)

    moved = (breathing(activity * (1.0 - heart), scan.breathing_mm)
             + breathing(activity * heart, HEART_OF_DIAPHRAGM_MOTION * scan.breathing_mm))
    return (1.0 - moving) * activity + moving * moved


def _render_heart(x, y, z, a: Anatomy, uptake: Uptake, soft: float, put, activity: np.ndarray
                  ) -> tuple[LVTruth, np.ndarray]:
    """LV shell (with defect), LV and RV blood pools, RV wall, atrial blood; returns the LV truth and the mask of
    the heart's voxels (``[z, y, x]`` bool: everything it put). RV and atria
    scale with the LV's short axis (30 mm in the reference heart)."""
    long_axis, anterior, _ = _lv_frame(a)
    rel = np.stack([x - a.heart_centre_xyz_mm[0], y - a.heart_centre_xyz_mm[1], z - a.heart_centre_xyz_mm[2]], axis=-1)
    long, short = a.lv_semi_axes_mm
    scale = short / 30.0
    outer, inner = _lv_shell(rel, a)

    # RV: a larger, thinner shell on the right-anterior side (the LV shell, put later, forms the septum), then atria
    rv_offset, rv_long, rv_short = _rv_ellipsoid(a)
    rv_rel = rel - rv_offset
    rv_along = rv_rel @ long_axis
    rv_across = np.linalg.norm(rv_rel - rv_along[..., None] * long_axis, axis=-1)
    base = LV_BASE * long
    rv_outer = ((rv_along / rv_long) ** 2 + (rv_across / rv_short) ** 2 <= 1.0) & (rv_along > base)
    rv_inner = ((rv_along / (rv_long - 5)) ** 2 + (rv_across / (rv_short - 5)) ** 2 <= 1.0) & (rv_along > base)
    put(rv_outer, soft, uptake.right_ventricle)
    put(rv_inner, soft, uptake.blood_pool)
    atria = np.linalg.norm(rel - (base - 27.0 * scale) * long_axis, axis=-1) < 34.0 * scale
    put(atria, soft, uptake.blood_pool)

    put(outer, soft, 1.0)
    put(inner, soft, uptake.blood_pool)
    defect = None
    if uptake.defect is not None:
        segment = _segments(rel, a) * (outer & ~inner)
        activity[np.isin(segment, uptake.defect.segments)] *= 1.0 - uptake.defect.severity
        defect = asdict(uptake.defect)
    truth = LVTruth(tuple(float(v) for v in a.heart_centre_xyz_mm), tuple(float(v) for v in long_axis),
                    tuple(float(v) for v in anterior), defect)
    return truth, rv_outer | atria | outer


def _rv_ellipsoid(a: Anatomy) -> tuple[np.ndarray, float, float]:
    """``(offset_xyz_mm, semi_long_mm, semi_short_mm)`` of the RV's outer ellipsoid: its centre from the LV centre
    (to the patient's right, and forward: the patient's anterior ⟂ to the LV's long axis; scaled with the LV's
    short axis, 30 mm in the reference heart) and its semi-axes along and across the LV's long axis. In the
    short-axis frame (:func:`anterior_direction`) the RV then lies on the septum (φ ≈ −90°)."""
    front = short_axis_direction(_lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg), FRONT_XYZ)
    long, short = a.lv_semi_axes_mm
    scale = short / 30.0
    right_mm, anterior_mm = RV_OFFSET_RIGHT_ANTERIOR_MM
    offset = scale * (anterior_mm * front - np.array([right_mm, 0.0, 0.0]))
    return offset, RV_SEMI_AXES_OF_LV[0] * long, RV_SEMI_AXES_OF_LV[1] * short


def _lv_shell(rel: np.ndarray, a: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """``(outer, cavity)`` masks of the LV at the points ``rel`` (mm from the LV centre, ``[..., 3]``)."""
    long_axis = _lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg)
    along = rel @ long_axis
    across = np.linalg.norm(rel - along[..., None] * long_axis, axis=-1)
    long, short = a.lv_semi_axes_mm
    base = LV_BASE * long
    cavity_long, cavity_short = lv_cavity_semi_axes_mm(long, short, a.lv_wall_mm)
    outer = ((along / long) ** 2 + (across / short) ** 2 <= 1.0) & (along >= base)
    inner = ((along / cavity_long) ** 2 + (across / cavity_short) ** 2 <= 1.0) & (along >= base)
    return outer, inner


def lv_segment_map(grid: ImageGrid, anatomy: Anatomy) -> np.ndarray:
    """AHA segment (1–17) of every LV myocardium voxel of ``grid``, 0 elsewhere (``[z, y, x]`` int8)."""
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    c = anatomy.heart_centre_xyz_mm
    rel = np.stack([x - c[0], y - c[1], z - c[2]], axis=-1)
    outer, inner = _lv_shell(rel, anatomy)
    return (_segments(rel, anatomy) * (outer & ~inner)).astype(np.int8)


def _segments(rel: np.ndarray, a: Anatomy) -> np.ndarray:
    """AHA segment of every point ``rel`` (mm from the LV centre, ``[..., 3]``), myocardium or not."""
    long_axis, anterior, lateral = _lv_frame(a)
    along = rel @ long_axis
    phi = np.degrees(np.arctan2(rel @ lateral, rel @ anterior))
    long = a.lv_semi_axes_mm[0]
    return aha_segment(along, phi, LV_BASE * long, lv_cavity_semi_axes_mm(*a.lv_semi_axes_mm, a.lv_wall_mm)[0])


HEAD_XYZ = np.array([0.0, 0.0, 1.0])  # the patient's superior direction
FRONT_XYZ = np.array([0.0, -1.0, 0.0])  # the patient's anterior direction
VERTICAL_AXIS_COS = 0.99  # a long axis within 8° of the head–foot axis: see anterior_direction


def short_axis_direction(long_axis: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """``towards`` (x, y, z) projected onto the short-axis plane (⟂ to the unit ``long_axis``), normalised."""
    u = np.asarray(long_axis, np.float64)
    projected = np.asarray(towards, np.float64) - u * np.dot(u, towards)
    return projected / np.linalg.norm(projected)


def anterior_direction(long_axis: np.ndarray) -> np.ndarray:
    """The LV's anterior direction (unit, ⟂ to the unit ``long_axis`` base → apex): the patient's superior
    direction (+z) projected onto the short-axis plane.

    This is the standard reorientation's convention (AHA 17-segment model, Cerqueira et al., *Circulation*
    105:539, 2002; the ASNC imaging guidelines): the long axis is found in a transaxial slice (azimuth), then in
    the vertical long-axis slice, a plane that contains the body's head–foot axis (elevation); short-axis slices
    are shown with the vertical long-axis plane's upper side up (anterior wall) and its normal, a horizontal
    direction, from septum (left) to lateral wall (right). For a heart pointing left, forward and down, the
    anterior wall thus faces up and forward, the inferior wall the diaphragm, the septum the right ventricle.
    (The patient's anterior (−y) projected instead turns the frame by ≈ 60° about the long axis for a 45°
    azimuth, labelling the diaphragmatic wall "septal" — mumap's convention before 0.5.0.) An axis within 8°
    of the head–foot axis (no LV lies so), where the projection of +z vanishes, takes the patient's anterior."""
    towards = FRONT_XYZ if abs(long_axis[2]) > VERTICAL_AXIS_COS else HEAD_XYZ
    return short_axis_direction(long_axis, towards)


def _lv_frame(a: Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (x, y, z): long axis (base → apex), anterior and lateral directions ⟂ to it
    (:func:`anterior_direction`; lateral towards the patient's left)."""
    long_axis = _lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg)
    anterior = anterior_direction(long_axis)
    lateral = np.cross(long_axis, anterior)
    return long_axis, anterior, lateral if lateral[0] > 0 else -lateral


def aha_segment(along: np.ndarray, phi_deg: np.ndarray, base: float, cavity_tip: float) -> np.ndarray:
    """AHA 17-segment number from the position along the long axis and the angle φ about it.

    φ = 0° anterior, +90° lateral (−90° septal). Basal and mid rings have 6 segments of 60°
    (1/7 anterior, 2/8 anteroseptal, 3/9 inferoseptal, 4/10 inferior, 5/11 inferolateral,
    6/12 anterolateral), the apical ring 4 of 90° (13 anterior, 14 septal, 15 inferior, 16 lateral),
    and 17 is the apex beyond the cavity tip.
    """
    third = (cavity_tip - base) / 3.0
    six = np.round(-phi_deg / 60.0).astype(int) % 6
    four = np.round(-phi_deg / 90.0).astype(int) % 4
    return np.where(along > cavity_tip, 17,
                    np.where(along > base + 2 * third, 13 + four,
                             np.where(along > base + third, 7 + six, 1 + six)))


def thorax_phantom(grid: ImageGrid) -> tuple[np.ndarray, np.ndarray]:
    """``(activity, mu)`` of the reference patient (default :class:`Anatomy`, :class:`Uptake`)."""
    activity, mu, _ = render(grid, Anatomy(), Uptake())
    return activity, mu


def _lv_axis(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector (x, y, z) base → apex: anterior (−y), turned left (+x), tilted down (−z)."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])

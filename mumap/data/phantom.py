"""Anthropomorphic thorax phantoms: patients, anatomy, sestamibi uptake, perfusion defects.

A study is rendered from three seeded draws: a :class:`Patient` (sex, age, height, weight, as in an
MPI cohort), an :class:`Anatomy` derived from the patient with random variability, and an
:class:`Uptake` (tissue activities, optional coronary-territory defect) per protocol, so a stress and
a rest study of one patient share the anatomy. :func:`render` turns them into an activity image
(relative uptake, myocardium = 1), a μ-map (cm⁻¹ at 140.5 keV) and the LV ground truth.

Sizes follow typical adult anatomy at heart level, varied with sex, height and BMI: body 30–40 cm lateral ×
20–28 cm AP, subcutaneous fat 0.5–4 cm, lungs ≈10–12 cm wide and 15–18 cm AP on the diaphragm (right dome
1–2 cm above the left), heart centre 2–4 cm left of and anterior to the body centre, LV long axis
anterior-left-inferior, vertebral body 3–4 cm, ribs ≈1 cm at 2.5–3 cm spacing, breasts of radius 5–9 cm, a
curved 1–2 cm bed pallet ≈45 cm wide under the body. μ values are the NIST table at 140.5 keV,
:data:`mumap.spect.attenuation.MU_140KEV` (its docstring gives the source and the mixtures).

Coordinates are mm from the grid centre along the patient axes x (left), y (posterior), z (head). The
phantom works in (x, y, z) order, unlike mumap's arrays and grids (``[z, y, x]``, ``*_zyx_mm``): its
coordinate tuples are named ``*_xyz_mm`` (``heart_centre_xyz_mm``; with two axes ``*_xy_mm``), and the
images it renders are ``[z, y, x]`` like every mumap image. The heart sits at the grid centre's height (z = 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

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
    """Both breasts: radius (mm, x and z), forward projection (mm), x offset of each (mm), height z (mm)."""

    radius_mm: float
    projection_mm: float
    offset_x_mm: float
    z_mm: float


@dataclass(frozen=True)
class Anatomy:
    """Body geometry in mm. Defaults: a 75 kg, 175 cm man."""

    body_semi_axes_xy_mm: tuple[float, float] = (170.0, 115.0)
    taper_per_100mm: float = 0.03  # relative widening of the body towards the abdomen
    fat_mm: float = 15.0
    breasts: Breasts | None = None
    lung_semi_axes_xyz_mm: tuple[float, float, float] = (58.0, 75.0, 120.0)
    diaphragm_z_mm: tuple[float, float] = (-50.0, -70.0)  # right, left dome apex
    heart_centre_xyz_mm: tuple[float, float, float] = (30.0, -30.0, 0.0)  # LV centre
    lv_semi_axes_mm: tuple[float, float] = (45.0, 28.0)  # outer: long, short
    lv_wall_mm: float = 10.0
    lv_azimuth_deg: float = 45.0  # long axis from sagittal towards the left
    lv_elevation_deg: float = 30.0  # long axis below the transaxial plane
    spine_radius_mm: float = 18.0
    rib_spacing_mm: float = 28.0
    rib_phase_mm: float = 0.0
    bed_gap_mm: float = 5.0
    bed_thickness_mm: float = 15.0


def anatomy_from_dict(values: dict) -> Anatomy:
    """The :class:`Anatomy` stored in a study's ``truth.json`` (``dataclasses.asdict`` form)."""
    values = dict(values)
    breasts = values.pop("breasts", None)
    tuples = {k: tuple(v) for k, v in values.items() if isinstance(v, list)}
    return Anatomy(**{**values, **tuples, "breasts": Breasts(**breasts) if breasts else None})


def sample_anatomy(patient: Patient, rng: np.random.Generator) -> Anatomy:
    """Anatomy scaled from height and weight, with per-patient variability."""
    size = np.sqrt(patient.weight_kg / patient.height_cm / (75.0 / 175.0))  # cross-section scale
    width = 170.0 * size**0.8 * (0.93 if patient.sex == "F" else 1.0) * rng.uniform(0.95, 1.05)
    depth = 115.0 * size**1.2 * rng.uniform(0.93, 1.07)
    fat = float(np.clip(4.0 + 2.2 * (patient.bmi - 20.0), 5.0, 40.0) * rng.uniform(0.8, 1.2))
    breasts = None
    if patient.sex == "F":
        radius = float(np.clip(45.0 + 2.0 * (patient.bmi - 20.0), 50.0, 90.0) * rng.uniform(0.85, 1.15))
        projection = float(np.clip(radius * rng.uniform(0.6, 1.1), 30.0, 100.0))
        ptosis = rng.uniform(0.0, 1.0) * (0.5 + patient.age / 150.0) * radius
        breasts = Breasts(radius, projection, width * rng.uniform(0.38, 0.5), float(-ptosis + rng.uniform(-15, 15)))
    lung_scale = patient.height_cm / 175.0
    lv_long, lv_short, elevation = rng.uniform(40.0, 50.0), rng.uniform(25.0, 31.0), rng.uniform(20.0, 40.0)
    # the heart rests on the left dome: its lowest point (LV centre at z = 0) is ≈ 25–40 mm down; in men
    # the dome reaches up beside the inferior wall (abdomen instead of lung around it), the source of
    # inferior-wall attenuation artefacts; the right dome is 1–2 cm above the left
    sin_el = np.sin(np.deg2rad(elevation))
    heart_bottom = -np.sqrt((lv_long * sin_el) ** 2 + lv_short**2 * (1 - sin_el**2))
    left_dome = heart_bottom + (rng.uniform(5.0, 25.0) if patient.sex == "M" else -rng.uniform(0.0, 25.0))
    right_dome = left_dome + rng.uniform(10.0, 20.0)
    return Anatomy(
        body_semi_axes_xy_mm=(round(width, 1), round(depth, 1)),
        taper_per_100mm=rng.uniform(0.0, 0.06),
        fat_mm=round(fat, 1),
        breasts=breasts,
        lung_semi_axes_xyz_mm=(0.34 * width, 0.65 * depth, 120.0 * lung_scale * rng.uniform(0.9, 1.1)),
        diaphragm_z_mm=(right_dome, left_dome),
        heart_centre_xyz_mm=(rng.uniform(20.0, 40.0), -rng.uniform(20.0, 40.0) * depth / 115.0, 0.0),
        lv_semi_axes_mm=(lv_long, lv_short),
        lv_wall_mm=rng.uniform(8.0, 12.0),
        lv_azimuth_deg=rng.uniform(30.0, 60.0),
        lv_elevation_deg=elevation,
        spine_radius_mm=rng.uniform(15.0, 20.0),
        rib_spacing_mm=rng.uniform(25.0, 30.0),
        rib_phase_mm=rng.uniform(0.0, 25.0),
        bed_gap_mm=rng.uniform(0.0, 10.0),
        bed_thickness_mm=rng.uniform(10.0, 20.0),
    )


@dataclass(frozen=True)
class Defect:
    """A perfusion defect: coronary ``territory``, affected AHA ``segments``, uptake reduction 0–0.7."""

    territory: Literal["LAD", "LCX", "RCA"]
    segments: tuple[int, ...]
    severity: float


@dataclass(frozen=True)
class Uptake:
    """Sestamibi uptake relative to the myocardium (= 1)."""

    blood_pool: float = 0.12
    liver: float = 0.6
    right_ventricle: float = 0.4
    lung: float = 0.05
    soft_tissue: float = 0.08
    stomach: float = 0.3
    defect: Defect | None = None


def sample_uptake(protocol: Literal["stress", "rest"], rng: np.random.Generator, defect_probability: float) -> Uptake:
    """Tissue uptake for one study (rest: more hepato-biliary activity); a defect with the given probability."""
    defect = None
    if rng.random() < defect_probability:
        territory = str(rng.choice(list(TERRITORY_SEGMENTS)))
        segments = TERRITORY_SEGMENTS[territory]
        keep = rng.random(len(segments)) < 0.7
        keep[rng.integers(len(segments))] = True
        defect = Defect(territory, tuple(int(s) for s, k in zip(segments, keep, strict=True) if k),
                        round(float(rng.uniform(0.1, 0.7)), 3))
    hepatic = 1.3 if protocol == "rest" else 1.0
    return Uptake(
        blood_pool=rng.uniform(0.10, 0.15),
        liver=float(np.clip(rng.uniform(0.4, 0.95) * hepatic, 0.4, 1.2)),
        right_ventricle=rng.uniform(0.3, 0.5),
        lung=rng.uniform(0.03, 0.07),
        soft_tissue=rng.uniform(0.05, 0.10),
        stomach=rng.uniform(0.1, 1.0),
        defect=defect,
    )


@dataclass(frozen=True)
class LVTruth:
    """Ground truth of the left ventricle in world mm (x, y, z) from the grid centre."""

    centre_xyz_mm: tuple[float, float, float]
    long_axis: tuple[float, float, float]  # unit vector, base → apex
    anterior_axis: tuple[float, float, float]  # unit vector ⟂ long axis, towards the anterior wall
    defect: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


def render(grid: ImageGrid, anatomy: Anatomy, uptake: Uptake) -> tuple[np.ndarray, np.ndarray, LVTruth]:
    """``(activity, mu, truth)``: relative uptake and μ (cm⁻¹), both ``[z, y, x]`` float32."""
    a = anatomy
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    widen = 1.0 - a.taper_per_100mm * z / 100.0
    half_w, half_d = a.body_semi_axes_xy_mm[0] * widen, a.body_semi_axes_xy_mm[1] * widen
    rho = np.sqrt((x / half_w) ** 2 + (y / half_d) ** 2)  # 1 on the skin
    depth_in = (1.0 - rho) * np.sqrt(half_w * half_d)  # ≈ mm under the skin
    body = rho <= 1.0
    mu = np.zeros(grid.shape)
    activity = np.zeros(grid.shape)

    def put(mask: np.ndarray, mu_value: float, uptake_value: float) -> None:
        mu[mask], activity[mask] = mu_value, uptake_value

    put(body, MU_140KEV["soft_tissue"], uptake.soft_tissue)
    put(body & (depth_in < a.fat_mm), MU_140KEV["adipose"], uptake.soft_tissue)
    if a.breasts is not None:
        b = a.breasts
        for side in (-1, 1):
            centre_y = -a.body_semi_axes_xy_mm[1] + 0.25 * b.projection_mm
            breast = ((x - side * b.offset_x_mm) / b.radius_mm) ** 2 + ((y - centre_y) / b.projection_mm) ** 2 \
                + ((z - b.z_mm) / b.radius_mm) ** 2 <= 1.0
            put(breast & (y < 0), MU_140KEV["breast"], uptake.soft_tissue)

    # thoracic cavity: lungs above the diaphragm domes, liver and stomach below
    lx, ly, lz = a.lung_semi_axes_xyz_mm
    for side, dome in ((-1, a.diaphragm_z_mm[0]), (1, a.diaphragm_z_mm[1])):
        cx = side * 0.5 * a.body_semi_axes_xy_mm[0]
        dome_surface = dome - ((x - cx) ** 2 + y**2) / (2 * 150.0)
        lung = (((x - cx) / lx) ** 2 + ((y - 0.05 * half_d) / ly) ** 2 + ((z - dome - 0.8 * lz) / lz) ** 2 <= 1.0)
        put(lung & (z > dome_surface) & (depth_in > a.fat_mm + 15.0), MU_140KEV["lung"], uptake.lung)
        if side < 0:
            liver = ((x + 0.35 * half_w) / (0.55 * half_w)) ** 2 + (y / (0.7 * half_d)) ** 2 \
                + ((z - dome + 60.0) / 90.0) ** 2 <= 1.0
            put(liver & (z <= dome_surface) & (depth_in > a.fat_mm + 10.0), MU_140KEV["soft_tissue"], uptake.liver)
        else:
            stomach = ((x - 0.45 * half_w) / 45.0) ** 2 + ((y + 0.15 * half_d) / 40.0) ** 2 \
                + ((z - dome + 55.0) / 50.0) ** 2 <= 1.0
            put(stomach & (z <= dome_surface), MU_140KEV["soft_tissue"], uptake.stomach)

    # skeleton: ribs (bands under the fat, sloping up posteriorly), sternum, vertebra
    rib_z = (z - 0.25 * y - a.rib_phase_mm) % a.rib_spacing_mm
    ribs = body & (depth_in > a.fat_mm + 3.0) & (depth_in < a.fat_mm + 13.0) & (rib_z < 10.0) \
        & ~((np.abs(x) < 35.0) & (y < 0))
    put(ribs, MU_140KEV["rib"], uptake.soft_tissue)
    sternum = (np.abs(x) < 15.0) & (y < 0) & (depth_in > a.fat_mm) & (depth_in < a.fat_mm + 12.0) & (z > -60.0)
    put(sternum & body, MU_140KEV["spongy_bone"], uptake.soft_tissue)
    spine_y = a.body_semi_axes_xy_mm[1] - 45.0 - 0.3 * a.fat_mm
    r_spine = np.hypot(x, y - spine_y)
    put(r_spine <= a.spine_radius_mm, MU_140KEV["cortical_bone"], uptake.soft_tissue)
    put(r_spine <= a.spine_radius_mm - 3.0, MU_140KEV["spongy_bone"], uptake.soft_tissue)
    put((np.abs(x) < 8.0) & (y > spine_y + a.spine_radius_mm) & (y < spine_y + a.spine_radius_mm + 20.0),
        MU_140KEV["cortical_bone"], uptake.soft_tissue)

    truth = _render_heart(x, y, z, a, uptake, put, activity)

    # bed: a curved pallet just below (posterior of) the body, in the μ-map only
    back = a.body_semi_axes_xy_mm[1] * (1.0 - a.taper_per_100mm * z / 100.0)
    top = back + a.bed_gap_mm - x**2 / (2 * 1200.0)
    bed = (y >= top) & (y < top + a.bed_thickness_mm) & (np.abs(x) < 225.0) & ~body
    mu[bed] = MU_140KEV["bed"]
    return activity.astype(np.float32), mu.astype(np.float32), truth


def _render_heart(x, y, z, a: Anatomy, uptake: Uptake, put, activity: np.ndarray) -> LVTruth:
    """LV shell (with defect), LV and RV blood pools, RV wall, atrial blood; returns the LV truth."""
    long_axis, anterior, _ = _lv_frame(a)
    rel = np.stack([x - a.heart_centre_xyz_mm[0], y - a.heart_centre_xyz_mm[1], z - a.heart_centre_xyz_mm[2]], axis=-1)
    along = rel @ long_axis
    across = np.linalg.norm(rel - along[..., None] * long_axis, axis=-1)
    long, short = a.lv_semi_axes_mm
    base = -0.3 * long

    # RV: a larger, thinner shell on the right-anterior side, then atria at the base
    rv_rel = rel + (np.array([28.0, 0.0, 0.0]) - 12.0 * anterior)
    rv_along = rv_rel @ long_axis
    rv_across = np.linalg.norm(rv_rel - rv_along[..., None] * long_axis, axis=-1)
    rv_outer = ((rv_along / (0.9 * long)) ** 2 + (rv_across / (1.15 * short)) ** 2 <= 1.0) & (rv_along > base)
    rv_inner = ((rv_along / (0.9 * long - 5)) ** 2 + (rv_across / (1.15 * short - 5)) ** 2 <= 1.0) & (rv_along > base)
    put(rv_outer, MU_140KEV["soft_tissue"], uptake.right_ventricle)
    put(rv_inner, MU_140KEV["soft_tissue"], uptake.blood_pool)
    atria = np.linalg.norm(rel - (base - 25.0) * long_axis, axis=-1) < 32.0
    put(atria, MU_140KEV["soft_tissue"], uptake.blood_pool)

    outer = ((along / long) ** 2 + (across / short) ** 2 <= 1.0) & (along >= base)
    inner = ((along / (long - a.lv_wall_mm)) ** 2 + (across / (short - a.lv_wall_mm)) ** 2 <= 1.0) & (along >= base)
    put(outer, MU_140KEV["soft_tissue"], 1.0)
    put(inner, MU_140KEV["soft_tissue"], uptake.blood_pool)
    defect = None
    if uptake.defect is not None:
        segment = _segments(rel, a) * (outer & ~inner)
        activity[np.isin(segment, uptake.defect.segments)] *= 1.0 - uptake.defect.severity
        defect = asdict(uptake.defect)
    return LVTruth(tuple(float(v) for v in a.heart_centre_xyz_mm), tuple(float(v) for v in long_axis),
                   tuple(float(v) for v in anterior), defect)


def lv_segment_map(grid: ImageGrid, anatomy: Anatomy) -> np.ndarray:
    """AHA segment (1–17) of every LV myocardium voxel of ``grid``, 0 elsewhere (``[z, y, x]`` int8)."""
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    c = anatomy.heart_centre_xyz_mm
    rel = np.stack([x - c[0], y - c[1], z - c[2]], axis=-1)
    long_axis, _, _ = _lv_frame(anatomy)
    along = rel @ long_axis
    across = np.linalg.norm(rel - along[..., None] * long_axis, axis=-1)
    long, short = anatomy.lv_semi_axes_mm
    wall = anatomy.lv_wall_mm
    base = -0.3 * long
    outer = ((along / long) ** 2 + (across / short) ** 2 <= 1.0) & (along >= base)
    inner = ((along / (long - wall)) ** 2 + (across / (short - wall)) ** 2 <= 1.0) & (along >= base)
    return (_segments(rel, anatomy) * (outer & ~inner)).astype(np.int8)


def _segments(rel: np.ndarray, a: Anatomy) -> np.ndarray:
    """AHA segment of every point ``rel`` (mm from the LV centre, ``[..., 3]``), myocardium or not."""
    long_axis, anterior, lateral = _lv_frame(a)
    along = rel @ long_axis
    phi = np.degrees(np.arctan2(rel @ lateral, rel @ anterior))
    long = a.lv_semi_axes_mm[0]
    return aha_segment(along, phi, -0.3 * long, long - a.lv_wall_mm)


def _lv_frame(a: Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors (x, y, z): long axis (base → apex), anterior and lateral directions ⟂ to it."""
    long_axis = _lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg)
    anterior = np.array([0.0, -1.0, 0.0]) + long_axis * long_axis[1]
    anterior /= np.linalg.norm(anterior)
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

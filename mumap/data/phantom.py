"""A simple analytic thorax at heart level: activity (relative sestamibi uptake) and μ-map (cm⁻¹).

This is the geometric core the synthetic cohort builds on: body, lungs, spine, liver and a left
ventricle whose long axis points anterior-left-inferior. Sizes follow the typical adult anatomy of
``DESIGN.md`` §4. μ at 140.5 keV comes from the NIST tables shipped with PyTomography
(``tests/data/test_phantom.py`` recomputes them): soft tissue = muscle 0.159, water 0.153,
cortical bone 0.291; lung = lung tissue scaled to an inflated density of 0.30 g/cm³ (0.0456).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mumap.spect.geometry import ImageGrid

MU_140KEV = {  # cm⁻¹ at 140.5 keV
    "air": 0.0,
    "lung": 0.0456,
    "adipose": 0.145,
    "water": 0.153,
    "soft_tissue": 0.159,
    "spongy_bone": 0.19,
    "cortical_bone": 0.291,
}

UPTAKE = {  # sestamibi uptake relative to myocardium
    "myocardium": 1.0,
    "blood_pool": 0.12,
    "liver": 0.6,
    "lung": 0.05,
    "soft_tissue": 0.08,
}


@dataclass(frozen=True)
class Thorax:
    """Anatomy in mm; offsets are (x, y, z) from the grid centre (x left, y posterior, z head)."""

    body_semi_axes_mm: tuple[float, float] = (170.0, 115.0)
    lung_semi_axes_mm: tuple[float, float, float] = (55.0, 75.0, 110.0)
    lung_offset_mm: tuple[float, float, float] = (85.0, 10.0, 30.0)
    diaphragm_z_mm: tuple[float, float] = (-45.0, -60.0)  # right, left dome heights
    liver_offset_mm: tuple[float, float, float] = (-60.0, 0.0, -110.0)
    liver_semi_axes_mm: tuple[float, float, float] = (90.0, 80.0, 60.0)
    spine_offset_mm: tuple[float, float] = (0.0, 85.0)
    spine_radius_mm: float = 18.0
    heart_offset_mm: tuple[float, float, float] = (30.0, -30.0, -10.0)
    lv_semi_axes_mm: tuple[float, float] = (45.0, 28.0)  # outer: long, short
    lv_wall_mm: float = 10.0
    lv_azimuth_deg: float = 45.0  # long axis from sagittal towards the left
    lv_elevation_deg: float = 30.0  # long axis below the transaxial plane


def thorax_phantom(grid: ImageGrid, anatomy: Thorax | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(activity, mu)`` on ``grid``, both ``[z, y, x]`` float32: relative uptake and cm⁻¹."""
    a = anatomy or Thorax()
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    body = (x / a.body_semi_axes_mm[0]) ** 2 + (y / a.body_semi_axes_mm[1]) ** 2 <= 1.0
    mu = np.where(body, MU_140KEV["soft_tissue"], MU_140KEV["air"])
    activity = np.where(body, UPTAKE["soft_tissue"], 0.0)

    for side, dome in ((-1, a.diaphragm_z_mm[0]), (1, a.diaphragm_z_mm[1])):
        ox, oy, oz = a.lung_offset_mm
        lung = _ellipsoid(x - side * ox, y - oy, z - oz, a.lung_semi_axes_mm) & (z > dome) & body
        mu[lung], activity[lung] = MU_140KEV["lung"], UPTAKE["lung"]
    liver = _ellipsoid(x - a.liver_offset_mm[0], y - a.liver_offset_mm[1], z - a.liver_offset_mm[2],
                       a.liver_semi_axes_mm) & body
    mu[liver], activity[liver] = MU_140KEV["soft_tissue"], UPTAKE["liver"]

    r_spine = np.hypot(x - a.spine_offset_mm[0], y - a.spine_offset_mm[1])
    mu[r_spine <= a.spine_radius_mm] = MU_140KEV["cortical_bone"]
    mu[r_spine <= a.spine_radius_mm - 3.0] = MU_140KEV["spongy_bone"]

    long_axis = _lv_axis(a.lv_azimuth_deg, a.lv_elevation_deg)
    rel = np.stack([x - a.heart_offset_mm[0], y - a.heart_offset_mm[1], z - a.heart_offset_mm[2]], axis=-1)
    along = rel @ long_axis  # mm towards the apex
    across = np.linalg.norm(rel - along[..., None] * long_axis, axis=-1)
    outer_long, outer_short = a.lv_semi_axes_mm
    wall = a.lv_wall_mm
    apex_side = along >= -0.25 * outer_long  # the base is open
    outer = ((along / outer_long) ** 2 + (across / outer_short) ** 2 <= 1.0) & apex_side
    inner = ((along / (outer_long - wall)) ** 2 + (across / (outer_short - wall)) ** 2 <= 1.0) & apex_side
    mu[outer] = MU_140KEV["soft_tissue"]
    activity[outer] = UPTAKE["myocardium"]
    activity[inner] = UPTAKE["blood_pool"]
    return activity.astype(np.float32), mu.astype(np.float32)


def _ellipsoid(x: np.ndarray, y: np.ndarray, z: np.ndarray, semi_axes: tuple[float, float, float]) -> np.ndarray:
    return (x / semi_axes[0]) ** 2 + (y / semi_axes[1]) ** 2 + (z / semi_axes[2]) ** 2 <= 1.0


def _lv_axis(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector (x, y, z) base → apex: anterior (−y), turned left (+x), tilted down (−z)."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])

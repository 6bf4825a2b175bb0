"""The cohort shows the classic nAC artefacts (over a batch of studies): breast → anterior wall, men → inferior wall."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from mumap.data import io
from mumap.data.phantom import Patient, anatomy_from_dict, lv_segment_map
from mumap.data.synthesize import PRESETS, StudyPlan, synthesize_study

PRESET = replace(PRESETS["quick"], counts=(1.5e7, 1.5e7), defect_probability=0.0)
WALLS = {"anterior": (1, 7, 13), "inferior": (4, 10, 15)}
MEN = [Patient(f"P{i:04d}", "M", 62, 178.0, 92.0) for i in range(4)]
WOMEN = [Patient(f"P{i:04d}", "F", 62, 163.0, 88.0) for i in range(4, 8)]  # BMI 33: large breasts


@pytest.fixture(scope="module")
def wall_ratios(tmp_path_factory) -> dict[str, dict[str, list[float]]]:
    """Per sex and wall: (nAC wall / nAC myocardium) ÷ (CTAC wall / CTAC myocardium), one value per study."""
    root = tmp_path_factory.mktemp("artefacts")
    plans = [StudyPlan(i, f"S{i:04d}", p, "stress", "train") for i, p in enumerate(MEN + WOMEN)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(synthesize_study, [PRESET] * len(plans), plans, [11] * len(plans),
                      [root / p.study_id for p in plans]))
    ratios: dict[str, dict[str, list[float]]] = {"M": {w: [] for w in WALLS}, "F": {w: [] for w in WALLS}}
    for plan in plans:
        truth = json.loads((root / plan.study_id / "truth.json").read_text())
        first, last = truth["slices"]
        segments = lv_segment_map(PRESET.grid, anatomy_from_dict(truth["anatomy"]))[first:last]
        nac, ctac = (io.load_nifti(root / plan.study_id / f"{name}.nii.gz")[0] for name in ("nac", "ctac"))
        for wall, wall_segments in WALLS.items():
            inside = np.isin(segments, wall_segments)
            relative = [image[inside].mean() / image[segments > 0].mean() for image in (nac, ctac)]
            ratios[plan.patient.sex][wall].append(float(relative[0] / relative[1]))
    return ratios


def test_women_with_large_breasts_lose_anterior_wall_counts(wall_ratios):
    women, men = np.mean(wall_ratios["F"]["anterior"]), np.mean(wall_ratios["M"]["anterior"])
    assert women < 0.97
    assert women < men - 0.05


def test_men_lose_inferior_wall_counts(wall_ratios):
    men, women = np.mean(wall_ratios["M"]["inferior"]), np.mean(wall_ratios["F"]["inferior"])
    assert men < 0.97
    assert men < women - 0.05

"""The OOD score: its features on a rendered phantom with known anatomy, and the reference's statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from mumap.data.phantom import Anatomy, Uptake, render
from mumap.evaluation import ood
from mumap.evaluation.polar import find_lv
from mumap.spect.geometry import ImageGrid

GRID = ImageGrid((32, 56, 72), (6.4, 6.4, 6.4))  # wide enough for arms at the sides


def _image(anatomy: Anatomy, uptake: Uptake | None = None) -> tuple[np.ndarray, tuple, tuple]:
    activity, _, _ = render(GRID, anatomy, uptake or Uptake())
    origin = tuple(float(GRID.centres_mm(i)[0]) for i in range(3))
    return ndimage.gaussian_filter(activity, 13.0 / 2.355 / 6.4), GRID.voxel_zyx_mm, origin


@pytest.mark.slow
def test_features_measure_the_body_the_arms_and_the_heart():
    anatomy = Anatomy(body_semi_axes_xy_mm=(150.0, 105.0))
    features = ood.study_features(*_image(anatomy))
    assert set(features) == set(ood.FEATURES)
    # the LV as the phantom has it: axis 45° from anterior to the left, 30° down; its centre left of the body's
    assert features["lv_azimuth_deg"] == pytest.approx(anatomy.lv_azimuth_deg, abs=6.0)
    assert features["lv_elevation_deg"] == pytest.approx(anatomy.lv_elevation_deg, abs=6.0)
    assert 10.0 < features["lv_right_left_mm"] < 50.0 and features["lv_anterior_posterior_mm"] < 0  # left, anterior
    assert features["body_width_lv_mm"] == pytest.approx(300.0, abs=30.0)  # 2 × 150 mm, the edge blurred
    assert features["outside_body_log_fraction"] == pytest.approx(np.log(1e-3), abs=0.5)  # arms raised: nothing
    arms = ood.study_features(*_image(dataclasses.replace(anatomy, arms_down=True)))
    assert arms["outside_body_log_fraction"] > features["outside_body_log_fraction"] + 3.0  # arms beside the body
    assert arms["lv_azimuth_deg"] == pytest.approx(features["lv_azimuth_deg"])  # the rest unchanged


def _blob(image: np.ndarray, origin, centre_xyz_mm: np.ndarray, peak: float, sigma_mm: float = 10.0) -> np.ndarray:
    """``image`` with a Gaussian blob of ``peak`` counts centred at ``centre_xyz_mm`` (a hot gut loop)."""
    z, y, x = np.meshgrid(*(origin[i] + GRID.voxel_zyx_mm[i] * np.arange(GRID.shape[i]) for i in range(3)),
                          indexing="ij")
    r2 = (x - centre_xyz_mm[0]) ** 2 + (y - centre_xyz_mm[1]) ** 2 + (z - centre_xyz_mm[2]) ** 2
    return image + peak * np.exp(-r2 / (2 * sigma_mm**2))


@pytest.mark.slow
def test_hot_beside_lv_sees_a_hot_loop_against_the_inferior_wall_and_not_one_far_away():
    image, voxel, origin = _image(Anatomy())
    frame = find_lv(image, voxel, origin)
    quiet = ood.study_features(image, voxel, origin)["hot_beside_lv"]
    assert 0.1 < quiet < 0.9  # spill-over of the wall and the blood pools, the RV, the liver's edge: below the wall
    inferior = np.asarray(frame.centre_xyz_mm) - (frame.short_mm + 15.0) * np.asarray(frame.anterior)
    beside = ood.study_features(_blob(image, origin, inferior, 2.5 * image.max()), voxel, origin)
    assert beside["hot_beside_lv"] > 1.0  # 2.5 × the wall's counts 15 mm outside its surface: above it
    far = np.asarray(frame.centre_xyz_mm) - np.array([130.0, 0.0, 0.0])  # on the patient's right, in the body
    assert ood.study_features(_blob(image, origin, far, 2.5 * image.max()), voxel, origin)["hot_beside_lv"] \
        == pytest.approx(quiet, abs=0.02)


@pytest.mark.slow
def test_a_hot_liver_does_not_move_the_lv_within_the_body():
    # the liver's dome at the LV's height, as hot as the cohort's hottest rest liver (1.2 × the myocardium): it sets
    # the 99th percentile, and the default outline at the LV's slice shrinks to little more than heart and liver
    anatomy = Anatomy(body_semi_axes_xy_mm=(150.0, 105.0), diaphragm_z_mm=(-20.0, -40.0))
    quiet = ood.study_features(*_image(anatomy))
    hot = ood.study_features(*_image(anatomy, Uptake(liver=1.2)))
    assert hot["body_width_lv_mm"] < 0.6 * quiet["body_width_lv_mm"]  # the case the position's outline is for
    assert hot["lv_right_left_mm"] == pytest.approx(quiet["lv_right_left_mm"], abs=3.0)
    assert hot["lv_anterior_posterior_mm"] == pytest.approx(quiet["lv_anterior_posterior_mm"], abs=3.0)


def test_reference_scores_are_the_largest_z_and_the_threshold_the_validation_studies_largest():
    rng = np.random.default_rng(0)
    names = list(ood.FEATURES)
    spread = np.array([10.0 * (ood.FEATURES[name][1] or 1.0) for name in names])  # well above every floor
    training = [dict(zip(names, 100.0 + spread * rng.normal(size=len(names)), strict=True)) for _ in range(50)]
    values = np.array([[f[n] for n in names] for f in training])
    mean, std = values.mean(axis=0), values.std(axis=0, ddof=1)
    validation = [dict(zip(names, mean + 1.5 * std, strict=True)), dict(zip(names, mean - 0.5 * std, strict=True))]
    reference = ood.fit_reference(training, validation)
    assert reference.threshold == pytest.approx(1.5) and reference.studies == 50
    depth = names.index("body_depth_mm")
    odd = dict(zip(names, mean, strict=True)) | {"body_depth_mm": mean[depth] + 4.0 * std[depth]}
    assessment = reference.assess(odd)
    assert assessment["score"] == pytest.approx(4.0) and assessment["out_of_distribution"]
    assert assessment["beyond"] == {"body_depth_mm": pytest.approx(4.0)}
    assert "body depth at its largest cross-section (mm) 4.0 SD above" in reference.describe(assessment["beyond"])
    assert not reference.assess(dict(zip(names, mean, strict=True)))["out_of_distribution"]
    assert ood.OODReference.from_dict(reference.to_dict()) == reference
    stored = reference.to_dict()  # plain Python data: a model file holding it loads with weights_only
    assert all(type(v) is float for key in ("mean", "std") for v in stored[key]) and type(stored["threshold"]) is float
    with pytest.raises(ValueError, match="≥ 3 training and ≥ 1 validation"):
        ood.fit_reference(training[:2], validation)


def test_a_feature_constant_in_training_gets_its_floor_not_a_zero_spread():
    names = list(ood.FEATURES)
    training = [dict.fromkeys(names, 1.0) | {"outside_body_log_fraction": np.log(1e-3), "body_mean_counts": 4.0}
                for _ in range(5)]  # no arms down, one count level: every feature constant
    reference = ood.fit_reference(training, training[:1])
    assert reference.threshold == 0.0
    z = reference.z_scores(training[0] | {"outside_body_log_fraction": np.log(1e-3) + 1.0, "body_mean_counts": 5.0})
    assert z["outside_body_log_fraction"] == pytest.approx(1.0 / 0.5)  # the floor of FEATURES
    assert z["body_mean_counts"] == pytest.approx(1.0 / (0.05 * 4.0))  # 5 % of the mean

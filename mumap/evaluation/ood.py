"""How far a study lies outside the training cohort: an out-of-distribution (OOD) score of the input image.

The score compares a study's features with the training cohort's, feature by feature: each becomes a z-score
(its difference from the training studies' mean in units of their standard deviation), and the score is the
largest |z| — so a warning names what is unusual ("body depth 4.1 SD above the training cohort"), as a
physicist would check it. The features are what makes a patient hard for a μ-map network and for the polar
map, measured on the image ``mumap predict`` gets (nAC or SC, no CT):

- the body: largest axial cross-section, its depth, the width and depth at the LV's slice (obesity, breasts),
  and the counts outside the body outline relative to the body (arms at the sides, not raised);
- the count level inside the body;
- the heart, from :func:`~mumap.evaluation.polar.find_lv`: the LV's position relative to the body's centre (on an
  outline a hot liver cannot shrink, :data:`POSITION_OUTLINE_FRACTION`),
  its long axis's azimuth and elevation, its size and wall, the fit's quality (score, cavity contrast,
  correlation, the rival fit's ratio) and the hottest count just outside the LV's wall relative to the wall's
  (liver, gut or gallbladder against the inferior wall).

Activity beside the wall is what misleads a polar map — reconstruction spill-over and scatter into the inferior
wall, and a wrong normalisation — and what clinics image again after a delay, as the synthetic cohort does (a study
is acquired again while the abdomen within 15 mm of the LV wall is hot). A hot gut far from the heart harms neither
the polar map nor the μ-map and is common (the cohort keeps those studies), so it is not a feature: an earlier one,
the hottest count more than 45 mm from the LV's centre, warned on such normal studies (``docs/BENCHMARKS.md``); a
hot organ that draws the LV fit away shows in the rival fit's ratio.

The network's own bottleneck features (averaged over the volume, reduced to principal components, with a
Mahalanobis distance) were tried as well and separated the hard cohort from the test split no better than the
body's features alone (``docs/BENCHMARKS.md``, evaluation report), so they are not used. The threshold is
chosen on the validation split (:func:`fit_reference`); ``mumap export`` stores the reference in the model file
and ``mumap predict`` warns above it. Written here: no maintained library offers OOD scores of SPECT inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress
from scipy import ndimage

from mumap.data import io
from mumap.data.body import body_outline
from mumap.evaluation.polar import LVFrame, find_lv, world_coordinates
from mumap.utils.parallel import map_jobs

FEATURES = {  # name: (what it measures (units), the smallest spread trusted — about its measurement's resolution)
    "body_area_max_mm2": ("largest axial cross-section of the body (mm²)", 2000.0),
    "body_depth_mm": ("body depth at its largest cross-section (mm)", 5.0),
    "body_width_lv_mm": ("body width at the LV's slice (mm)", 5.0),
    "body_depth_lv_mm": ("body depth at the LV's slice (mm)", 5.0),
    "outside_body_log_fraction": ("log of the voxels with counts outside the body outline ÷ the body's (arms down)",
                                  0.5),
    "body_mean_counts": ("mean counts inside the body", 0.0),  # floor: 5 % of the mean (any scanner's count scale)
    "lv_right_left_mm": ("LV centre left of the body's centre at its slice (mm)", 3.0),
    "lv_anterior_posterior_mm": ("LV centre posterior of the body's centre at its slice (mm)", 3.0),
    "lv_azimuth_deg": ("LV long axis from anterior towards the left (°)", 3.0),
    "lv_elevation_deg": ("LV long axis below the axial plane (°)", 3.0),
    "lv_long_mm": ("LV outer long semi-axis (mm)", 2.0),
    "lv_short_mm": ("LV outer short semi-axis (mm)", 2.0),
    "lv_wall_mm": ("LV wall thickness (mm)", 1.0),
    "lv_score": ("LV fit score", 0.02),
    "lv_cavity_contrast": ("LV cavity contrast", 0.02),
    "lv_correlation": ("LV fit correlation", 0.02),
    "lv_rival_log_ratio": ("log of the best fit elsewhere ÷ the LV fit's score", 0.1),
    "hot_beside_lv": ("hottest count 6–25 mm outside the LV wall ÷ the wall's hottest (liver or gut against "
                      "the wall)", 0.05),
}
POSITION_OUTLINE_FRACTION = 0.05
"""The threshold (fraction of the smoothed image's 99th percentile, :func:`~mumap.data.body.body_outline`) of the
outline whose centre at the LV's slice the LV's position is measured from. At the outline's default of 10 % a hot
liver or gut, which sets the 99th percentile, leaves little more than the heart and the liver inside the outline at
that slice, and the LV seemed far right of (or behind) the body's centre — 6.5 SD in a normal test study of the
quick cohort with its arms down, 3–7 SD in hard patients; at 5 % the outline follows the skin. The body's size
keeps the default outline: measured at 5 % (arms at the sides then merge with the body) it separated the hard
cohorts from normal studies no better (``docs/BENCHMARKS.md``, evaluation report)."""
BESIDE_LV_MM = (6.0, 25.0)
"""The shell beside the LV wall that ``hot_beside_lv`` reads: this far outside the fitted outer surface (mm; inside
its first 6 mm the wall's own blur), from 10 mm above the base plane to beyond the apex."""


def study_features(image: np.ndarray, voxel_zyx_mm, origin_zyx_mm) -> dict[str, float]:
    """The :data:`FEATURES` of one input image ``[z, y, x]`` (counts; nAC or SC) on its grid."""
    image = np.asarray(image, dtype=np.float64)
    body = body_outline(image)
    if not body.any():
        raise ValueError("no body in the image (no counts above the outline threshold)")
    smooth = ndimage.gaussian_filter(image, 1.0)
    counted = smooth > 0.1 * np.percentile(smooth, 99)  # the outline's threshold, every region (arms too)
    area = body.sum(axis=(1, 2)) * voxel_zyx_mm[1] * voxel_zyx_mm[2]
    widest = int(np.argmax(area))
    frame = find_lv(image, voxel_zyx_mm, origin_zyx_mm)
    centre = np.asarray(frame.centre_xyz_mm)
    lv_slice = int(np.clip(round((centre[2] - origin_zyx_mm[0]) / voxel_zyx_mm[0]), 0, image.shape[0] - 1))
    if not body[lv_slice].any():
        lv_slice = widest
    rows, columns = np.nonzero(body_outline(image, fraction=POSITION_OUTLINE_FRACTION)[lv_slice] | body[lv_slice])
    body_centre_x = origin_zyx_mm[2] + voxel_zyx_mm[2] * columns.mean()
    body_centre_y = origin_zyx_mm[1] + voxel_zyx_mm[1] * rows.mean()
    axis = np.asarray(frame.long_axis)
    return {
        "body_area_max_mm2": float(area.max()),
        "body_depth_mm": _extent(body[widest], 0, voxel_zyx_mm[1]),
        "body_width_lv_mm": _extent(body[lv_slice], 1, voxel_zyx_mm[2]),
        "body_depth_lv_mm": _extent(body[lv_slice], 0, voxel_zyx_mm[1]),
        "outside_body_log_fraction": float(np.log((counted & ~body).sum() / body.sum() + 1e-3)),
        "body_mean_counts": float(image[body].mean()),
        "lv_right_left_mm": float(centre[0] - body_centre_x),
        "lv_anterior_posterior_mm": float(centre[1] - body_centre_y),
        "lv_azimuth_deg": float(np.degrees(np.arctan2(axis[0], -axis[1]))),
        "lv_elevation_deg": float(np.degrees(np.arcsin(np.clip(-axis[2], -1.0, 1.0)))),
        "lv_long_mm": frame.long_mm, "lv_short_mm": frame.short_mm, "lv_wall_mm": frame.wall_mm,
        "lv_score": frame.score, "lv_cavity_contrast": frame.cavity_contrast, "lv_correlation": frame.correlation,
        "lv_rival_log_ratio": float(np.log(frame.rival_score / max(frame.score, 1e-3) + 1e-3)),
        "hot_beside_lv": _beside_lv(smooth, frame, voxel_zyx_mm, origin_zyx_mm),
    }


def _beside_lv(smooth: np.ndarray, frame: LVFrame, voxel_zyx_mm, origin_zyx_mm) -> float:
    """The maximum of ``smooth`` in the :data:`BESIDE_LV_MM` shell around the fitted LV ÷ its maximum inside the
    LV's outer surface (+ 3 mm); 0 when the shell leaves the image or the LV holds no counts."""
    offset = world_coordinates(smooth.shape, voxel_zyx_mm, origin_zyx_mm) - np.asarray(frame.centre_xyz_mm)
    along = offset @ np.asarray(frame.long_axis)
    across = np.linalg.norm(offset - along[..., None] * np.asarray(frame.long_axis), axis=-1)

    def inside(grown_mm: float) -> np.ndarray:  # inside the outer ellipsoid grown by grown_mm
        return (along / (frame.long_mm + grown_mm)) ** 2 + (across / (frame.short_mm + grown_mm)) ** 2 <= 1.0

    inner, outer = BESIDE_LV_MM
    wall = inside(3.0) & (along >= frame.base_mm - 5.0)
    shell = inside(outer) & ~inside(inner) & (along >= frame.base_mm - 10.0)
    if not shell.any() or not wall.any() or smooth[wall].max() <= 0:
        return 0.0
    return float(smooth[shell].max() / smooth[wall].max())


def file_features(path: Path) -> dict[str, float]:
    """:func:`study_features` of a NIfTI image; errors name the file."""
    image, voxel_zyx_mm, origin_zyx_mm = io.load_nifti(path)
    try:
        return study_features(image, voxel_zyx_mm, origin_zyx_mm)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _extent(mask_yx: np.ndarray, axis: int, voxel_mm: float) -> float:
    """Extent (mm) of a 2-D mask along ``axis`` (0: y, 1: x)."""
    indices = np.nonzero(mask_yx.any(axis=1 - axis))[0]
    return float(indices[-1] - indices[0] + 1) * voxel_mm


@dataclass(frozen=True)
class OODReference:
    """The training cohort's feature statistics (mean, standard deviation per :data:`FEATURES` name) and the
    score above which a study is out of distribution; plain data, stored in the model file."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    threshold: float
    studies: int  # training studies behind the statistics

    def z_scores(self, features: dict[str, float]) -> dict[str, float]:
        """Each feature's distance from the training cohort's mean in its standard deviations."""
        return {name: (features[name] - mean) / std for name, mean, std in zip(self.names, self.mean, self.std,
                                                                                  strict=True)}

    def score(self, features: dict[str, float]) -> float:
        """The OOD score: the largest |z| of the study's features."""
        return float(max(abs(z) for z in self.z_scores(features).values()))

    def assess(self, features: dict[str, float]) -> dict:
        """Score, threshold, whether the study is out of distribution, and the features beyond the threshold
        (``{name: z}``, largest first), for ``prediction.json`` and the report."""
        z = self.z_scores(features)
        beyond = {name: round(v, 2) for name, v in sorted(z.items(), key=lambda item: -abs(item[1]))
                  if abs(v) > self.threshold}
        score = self.score(features)
        return {"score": round(score, 3), "threshold": round(self.threshold, 3),
                "out_of_distribution": score > self.threshold, "beyond": beyond}

    def describe(self, beyond: dict[str, float]) -> str:
        """``beyond`` in words: "body depth … 4.1 SD above the training cohort; …"."""
        return "; ".join(f"{FEATURES[name][0]} {abs(z):.1f} SD {'above' if z > 0 else 'below'} the training cohort"
                         for name, z in beyond.items())

    def to_dict(self) -> dict:
        return {**asdict(self), "names": list(self.names), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> OODReference:
        return cls(tuple(data["names"]), tuple(data["mean"]), tuple(data["std"]), float(data["threshold"]),
                   int(data["studies"]))


def fit_reference(training: Sequence[dict[str, float]], validation: Sequence[dict[str, float]]) -> OODReference:
    """The reference of a training cohort's features: mean and standard deviation per feature (the deviation
    at least the feature's floor in :data:`FEATURES`, so that a feature constant in a small cohort does not turn
    every difference into an alarm); the threshold is the largest score of the validation studies (in
    distribution by construction: none of them is warned about)."""
    if len(training) < 3 or not validation:
        raise ValueError(f"an OOD reference needs ≥ 3 training and ≥ 1 validation studies, got {len(training)} "
                         f"and {len(validation)}")
    names = tuple(FEATURES)
    values = np.array([[features[name] for name in names] for features in training])
    floors = [FEATURES[name][1] or 0.05 * abs(mean) for name, mean in zip(names, values.mean(axis=0), strict=True)]
    std = np.maximum(values.std(axis=0, ddof=1), np.maximum(floors, 1e-12))
    provisional = OODReference(names, tuple(float(v) for v in values.mean(axis=0)), tuple(float(v) for v in std),
                               np.inf, len(training))
    threshold = max(provisional.score(features) for features in validation)
    return OODReference(names, provisional.mean, provisional.std, float(threshold), len(training))


def cohort_reference(root: str | Path, kind: str = "nac", progress: bool = True, workers: int = 1) -> OODReference:
    """:func:`fit_reference` of a dataset: the features of its train split's ``kind`` images, the threshold from
    its val split's (one :func:`~mumap.evaluation.polar.find_lv` per study: ≈ 10 s each on a CPU core; one study
    per worker process at a time on ``workers`` processes)."""
    root = Path(root)
    rows = {split: io.read_split(root, split) for split in ("train", "val")}
    paths = [root / row[kind] for split in ("train", "val") for row in rows[split]]
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("training cohort's features (OOD reference)", total=len(paths))
        features = map_jobs(file_features, [(path,) for path in paths], workers, lambda: bar.advance(task))
    try:
        return fit_reference(features[:len(rows["train"])], features[len(rows["train"]):])
    except ValueError as err:
        raise ValueError(f"{root / 'studies.csv'}: {err}") from err

"""Polar-map metrics of the paper's evaluation (Sec. 2.5): segment APE, pixel distance, Pearson R; and the
per-study rank statistics of the uncertainty and OOD checks (Spearman ρ, AUROC). The μ-map metric NMAE, which
training logs too, is :func:`mumap.training.metrics.nmae`."""

from __future__ import annotations

import numpy as np
from scipy import stats


def segment_ape(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Absolute percent error per segment: |X − CTAC| / CTAC × 100 (%), for segment scores such as
    the 17 AHA means of a polar map (in % of max) against the CTAC ones."""
    scores, reference = np.asarray(scores, np.float64), np.asarray(reference, np.float64)
    if scores.shape != reference.shape:
        raise ValueError(f"segment scores {scores.shape} and reference {reference.shape} differ in shape")
    if np.any(reference <= 0):
        raise ValueError("segment APE needs positive reference scores")
    return np.abs(scores - reference) / reference * 100.0


def pixel_differences(polar_map: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Absolute pixel-wise differences of two polar maps in %-points (both in % of max), flat, over the
    pixels that both maps cover (NaN marks pixels outside a bullseye)."""
    polar_map, reference = np.asarray(polar_map, np.float64), np.asarray(reference, np.float64)
    if polar_map.shape != reference.shape:
        raise ValueError(f"polar maps {polar_map.shape} and {reference.shape} differ in shape")
    both = np.isfinite(polar_map) & np.isfinite(reference)
    if not both.any():
        raise ValueError("the polar maps share no pixel")
    return np.abs(polar_map[both] - reference[both])


def pixel_distance(polar_map: np.ndarray, reference: np.ndarray) -> float:
    """Mean absolute pixel-wise difference of two polar maps in %-points (see :func:`pixel_differences`)."""
    return float(pixel_differences(polar_map, reference).mean())


def pearson_r(values: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation coefficient of paired values (e.g. all polar-map pixels of a split), NaN pairs skipped."""
    values, reference = np.ravel(np.asarray(values, np.float64)), np.ravel(np.asarray(reference, np.float64))
    both = np.isfinite(values) & np.isfinite(reference)
    if both.sum() < 2 or np.ptp(values[both]) == 0 or np.ptp(reference[both]) == 0:
        raise ValueError("Pearson R needs at least two pairs with spread in both")
    return float(np.corrcoef(values[both], reference[both])[0, 1])


def spearman(values, reference) -> float:
    """Spearman's rank correlation of two per-study sequences; NaN with fewer than 3 finite pairs."""
    values, reference = np.asarray(values, float), np.asarray(reference, float)
    finite = np.isfinite(values) & np.isfinite(reference)
    return float(stats.spearmanr(values[finite], reference[finite]).statistic) if finite.sum() >= 3 else float("nan")


def auroc(negatives, positives) -> float:
    """Area under the ROC curve of a score that should be higher for ``positives`` than ``negatives``: the
    probability that a random positive scores above a random negative (ties count half; Mann–Whitney U)."""
    negatives, positives = np.asarray(negatives, float), np.asarray(positives, float)
    if not len(negatives) or not len(positives):
        return float("nan")
    return float(stats.mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives)))

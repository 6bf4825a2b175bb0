"""Metrics on values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mumap.evaluation.metrics import auroc, pearson_r, pixel_differences, pixel_distance, segment_ape, spearman


def test_segment_ape():
    np.testing.assert_allclose(segment_ape([90.0, 55.0, 80.0], [100.0, 50.0, 80.0]), [10.0, 10.0, 0.0])
    with pytest.raises(ValueError, match="positive"):
        segment_ape([1.0], [0.0])
    with pytest.raises(ValueError, match="shape"):
        segment_ape([1.0, 2.0], [1.0])


def test_pixel_distance_skips_pixels_outside_either_map():
    a = np.array([[100.0, 80.0], [np.nan, 50.0]])
    b = np.array([[97.0, 84.0], [10.0, np.nan]])
    assert pixel_differences(a, b).tolist() == [3.0, 4.0]
    assert pixel_distance(a, b) == pytest.approx(3.5)  # (3 + 4) / 2
    with pytest.raises(ValueError, match="share no pixel"):
        pixel_distance(np.array([np.nan]), np.array([1.0]))


def test_pearson_r():
    assert pearson_r([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert pearson_r([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # hand-computed: x = (1, 2, 3, 4), y = (1, 3, 2, 4): cov 1.0 / (var 1.25) → R = 0.8
    assert pearson_r([1.0, 2.0, 3.0, 4.0, np.nan], [1.0, 3.0, 2.0, 4.0, 7.0]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="spread"):
        pearson_r([1.0, 1.0], [1.0, 2.0])


def test_auroc_and_spearman_on_known_rankings():
    assert auroc([0.1, 0.2, 0.3], [0.4, 0.5]) == 1.0
    assert auroc([0.4, 0.5], [0.1, 0.2, 0.3]) == 0.0
    assert auroc([1.0, 2.0], [1.0, 2.0]) == 0.5  # ties count half
    assert auroc([0.1, 0.3], [0.2]) == 0.5
    assert np.isnan(auroc([], [1.0]))
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 2, 3, np.nan], [3, 2, 1, 0]) == pytest.approx(-1.0)  # NaN pairs left out
    assert np.isnan(spearman([1, 2], [1, 2]))

"""The study montage: slices through the LV of the four volumes, plus a row of projections when given."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from mumap.data import io
from mumap.data.montage import study_montage
from mumap.utils.atomic import TMP_PREFIX

pytestmark = pytest.mark.slow  # on the tiny cohort


def test_montage_with_and_without_projections(tiny_cohort, tmp_path):
    row = io.read_split(tiny_cohort, "train", max_studies=1)[0]
    study = tiny_cohort / row["id"]
    projections = np.load(study / "projections.npz")["photopeak"]
    with_views = imread(study_montage(study, tmp_path / "with.png", projections))
    without = imread(study_montage(study, tmp_path / "without.png"))
    assert with_views.shape[1] == without.shape[1] == 12 * 90  # 12 in at 90 dpi
    assert with_views.shape[0] > without.shape[0] + 2 * 90  # the row of views: 3 in × 40/56 (detector rows/columns)
    assert np.array_equal(with_views[0, 0, :3], [1.0, 1.0, 1.0]) and with_views[..., :3].std() > 0.1  # drawn
    assert not list(tmp_path.glob(TMP_PREFIX + "*"))

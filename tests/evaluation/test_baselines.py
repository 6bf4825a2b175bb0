"""The uniform body-contour μ-map finds the body from the nAC image alone."""

from __future__ import annotations

import csv

import numpy as np

from mumap.data import io
from mumap.data.phantom import MU_140KEV
from mumap.evaluation.baselines import body_outline, uniform_mu_map


def test_body_outline_matches_the_true_body(tiny_cohort):
    with open(tiny_cohort / "studies.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        nac = io.load_nifti(tiny_cohort / row["nac"])[0]
        mu = io.load_nifti(tiny_cohort / row["mumap"])[0]
        body = (mu > 0) & ~np.isclose(mu, MU_140KEV["bed"])
        found = body_outline(nac)
        assert (found & body).sum() / (found | body).sum() > 0.7  # 9.6 mm voxels: the rim is a third of it
        uniform = uniform_mu_map(nac)
        assert set(np.unique(uniform).astype(float).round(4).tolist()) == {0.0, round(MU_140KEV["water"], 4)}

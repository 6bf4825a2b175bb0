"""The analytic thorax: μ values from the NIST tables, anatomy where DESIGN.md puts it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mumap.data.phantom import MU_140KEV, UPTAKE, Thorax, thorax_phantom
from mumap.spect.geometry import ImageGrid


@pytest.mark.parametrize(("material", "nist_file", "density_scale"), [
    ("water", "water", 1.0), ("soft_tissue", "muscle", 1.0), ("adipose", "adipose", 1.0),
    ("cortical_bone", "bonecortical", 1.0), ("lung", "lungtissue", 0.30 / 1.05),
])
def test_mu_values_come_from_the_nist_tables(material, nist_file, density_scale):
    pytomography = pytest.importorskip("pytomography")
    from pytomography.utils.nist_data import get_mu_from_spectrum_interp

    path = os.path.join(os.path.dirname(pytomography.__file__), "data", "NIST_attenuation_data", f"{nist_file}.csv")
    assert MU_140KEV[material] == pytest.approx(get_mu_from_spectrum_interp(path, 140.5) * density_scale, rel=0.01)


def test_thorax_anatomy():
    grid = ImageGrid((48, 80, 96), (4.8, 4.8, 4.8))
    activity, mu = thorax_phantom(grid)
    assert activity.shape == mu.shape == grid.shape and activity.dtype == np.float32
    z, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    myocardium = activity == UPTAKE["myocardium"]
    assert myocardium.sum() > 100
    heart = np.array([x[myocardium].mean(), y[myocardium].mean()])
    assert heart[0] > 10 and heart[1] < -10  # left of and anterior to the body centre
    assert set(np.unique(mu).tolist()) <= {np.float32(v).item() for v in MU_140KEV.values()}
    assert np.isclose(mu, MU_140KEV["lung"]).sum() > 0.1 * (mu > 0).sum()  # lungs fill much of the chest
    body_width = np.ptp(x[(mu > 0) & (np.abs(z) < 3)])
    assert 300 < body_width <= 2 * Thorax().body_semi_axes_mm[0]
    assert activity[mu == 0].max() == 0.0  # no activity outside the body

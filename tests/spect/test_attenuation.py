"""The μ table at 140.5 keV: NIST's values, physically ordered, one water value."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mumap.spect.attenuation import MU_140KEV, MU_WATER_140KEV


def test_water_is_nist_water_at_140_5_kev():
    # NIST SRD 126, liquid water (1.00 g/cm³): μ/ρ = 0.1707 cm²/g at 100 keV, 0.1505 cm²/g at 150 keV;
    # interpolated linearly in log μ/ρ vs log energy: 0.1536 cm⁻¹ at 140.5 keV
    nist = np.exp(np.interp(np.log(140.5), np.log([100.0, 150.0]), np.log([0.1707, 0.1505])))
    assert MU_WATER_140KEV == MU_140KEV["water"] == pytest.approx(nist, rel=0.005)  # the table's 3 digits


@pytest.mark.parametrize(("material", "nist_file", "density_scale"), [
    ("water", "water", 1.0), ("soft_tissue", "muscle", 1.0), ("adipose", "adipose", 1.0),
    ("breast", "breast", 1.0), ("cortical_bone", "bonecortical", 1.0), ("lung", "lungtissue", 0.30 / 1.05),
])
def test_mu_values_come_from_the_nist_tables(material, nist_file, density_scale):
    pytomography = pytest.importorskip("pytomography")
    from pytomography.utils.nist_data import get_mu_from_spectrum_interp

    path = os.path.join(os.path.dirname(pytomography.__file__), "data", "NIST_attenuation_data", f"{nist_file}.csv")
    assert MU_140KEV[material] == pytest.approx(get_mu_from_spectrum_interp(path, 140.5) * density_scale, rel=0.01)


def test_mixtures_are_their_volume_fractions():
    bone, soft = MU_140KEV["cortical_bone"], MU_140KEV["soft_tissue"]
    assert MU_140KEV["spongy_bone"] == pytest.approx(0.2 * bone + 0.8 * soft, abs=5e-5)
    assert MU_140KEV["rib"] == pytest.approx(0.5 * bone + 0.5 * soft, abs=5e-5)


def test_denser_matter_attenuates_more():
    order = ["air", "lung", "bed", "adipose", "water", "breast", "soft_tissue", "spongy_bone", "rib", "cortical_bone"]
    assert sorted(MU_140KEV, key=MU_140KEV.get) == order
    assert MU_140KEV["cortical_bone"] > MU_140KEV["soft_tissue"] > MU_140KEV["lung"] > MU_140KEV["air"] == 0.0

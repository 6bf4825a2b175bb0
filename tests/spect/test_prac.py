"""PRAC: identity without attenuation, correction of attenuation, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mumap.data.phantom import thorax_phantom
from mumap.spect.geometry import Acquisition, Collimator, ImageGrid
from mumap.spect.osem import osem
from mumap.spect.prac import prac, prac_projector
from mumap.spect.projector import SPECTProjector
from tests.helpers import rel_l2

pytestmark = pytest.mark.slow  # every test reconstructs a phantom with OSEM and PRAC
GRID = ImageGrid((24, 40, 48), (9.6, 9.6, 9.6))


def _reconstructions(activity: torch.Tensor, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise-free parallel acquisition with attenuation, OSEM 10 × 3 without (nAC) and with it (AC)."""
    projector = SPECTProjector(GRID, Acquisition.parallel_for(GRID), n_subsets=3)
    attenuating = projector.with_attenuation(mu)
    projections = attenuating.forward(activity)
    return osem(projector, projections, n_iterations=10), osem(attenuating, projections, n_iterations=10)


def _nac(activity: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    return _reconstructions(activity, mu)[0]


@pytest.fixture(scope="module")
def cylinder():
    """Uniform activity in a 15 cm radius water cylinder."""
    _, y, x = np.meshgrid(*(GRID.centres_mm(i) for i in range(3)), indexing="ij")
    r = np.hypot(x, y)
    inside = torch.from_numpy(r < 150.0).float()
    return inside, 0.153 * inside, torch.from_numpy(r < 40.0), torch.from_numpy((r > 100.0) & (r < 130.0))


@pytest.fixture(scope="module")
def thorax():
    activity, mu = (torch.from_numpy(a) for a in thorax_phantom(GRID))
    return activity, mu, *_reconstructions(activity, mu)


def test_prac_flattens_the_attenuation_cupping_of_a_uniform_cylinder(cylinder):
    activity, mu, centre, rim = cylinder
    nac = _nac(activity, mu)
    ctac = prac(nac, mu, prac_projector(GRID))
    cupping = {name: float(img[centre].mean() / img[rim].mean()) for name, img in (("nac", nac), ("ctac", ctac))}
    assert cupping["nac"] < 0.7  # deep activity looks much weaker without AC
    assert cupping["ctac"] == pytest.approx(1.0, abs=0.1)


def test_prac_with_the_true_mu_map_approaches_attenuation_corrected_osem(thorax):
    """PRAC of the nAC image comes close to OSEM that modelled attenuation on the original data."""
    activity, mu, nac, direct_ac = thorax
    ctac = prac(nac, mu, prac_projector(GRID))
    body = activity > 0

    def normalised_error(image: torch.Tensor) -> float:
        return rel_l2(image[body] / image[body].mean(), direct_ac[body] / direct_ac[body].mean())

    assert normalised_error(ctac) < 0.7 * normalised_error(nac)  # PRAC is an approximation of true AC
    assert float(ctac.sum()) == pytest.approx(float(direct_ac.sum()), rel=0.1)  # AC puts the counts back


def test_prac_without_attenuation_keeps_the_nac_image(thorax):
    _, mu, nac, _ = thorax
    same = prac(nac, torch.zeros_like(mu), prac_projector(GRID), n_iterations=10)
    assert float(same.sum()) == pytest.approx(float(nac.sum()), rel=0.01)
    assert rel_l2(same, nac) < 0.12  # 10 × 3 OSEM of its own projections: unrecovered fine detail only


def test_prac_needs_an_attenuation_free_parallel_projector(thorax):
    _, mu, nac, _ = thorax
    converging = SPECTProjector(GRID, Acquisition(collimator=Collimator(kind="multifocal")))
    with pytest.raises(ValueError, match="parallel-hole"):
        prac(nac, mu, converging)
    with pytest.raises(ValueError, match="parallel-hole"):
        prac(nac, mu, prac_projector(GRID).with_attenuation(mu))
    with pytest.raises(ValueError, match="negative"):
        prac(-nac - 1, mu, prac_projector(GRID))

"""The evaluation benchmark on a small grid: every step of a study's evaluation is timed, once, and the
summary line adds up the steps the paper's evaluation takes."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from mumap.bench import evaluation as bench
from mumap.data.phantom import TERRITORY_SEGMENTS, Anatomy, Defect, Uptake, render


@pytest.mark.slow
def test_the_steps_add_up_to_the_study_s_time_and_the_summary_line(monkeypatch, capsys):
    walls = []

    def timed(nac, mu, grid):
        start = time.perf_counter()
        steps = time_study(nac, mu, grid)
        walls.append((time.perf_counter() - start, steps))
        return steps

    time_study = bench.time_study
    monkeypatch.setattr(bench, "time_study", timed)
    summary = bench.main(["--size", "32x32x16", "--repeats", "1"])
    out = capsys.readouterr().out.strip().splitlines()

    [(wall, steps)] = walls
    assert list(steps) == ["system matrix", "PRAC CTAC", "PRAC DLAC", "PRAC uniform AC", "LV frame", "4 polar maps"]
    assert all(s > 0 for s in steps.values())
    assert 0.9 * wall < sum(steps.values()) <= wall  # no work of the study outside the timers
    printed = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out if line.startswith("| ")
               and not line.startswith("| step")}
    assert printed.pop("total (with uniform AC)") == pytest.approx(sum(steps.values()), abs=0.006)
    assert printed == pytest.approx(steps, abs=0.006)
    match = re.fullmatch(r"seconds_per_study=(\d+\.\d) polar_seconds=(\d+\.\d)", out[-1])
    assert match, out[-1]
    paper = sum(steps.values()) - steps["PRAC uniform AC"]  # PRAC with CTAC and DLAC, LV frame, polar maps
    assert summary["seconds_per_study"] == pytest.approx(paper)
    assert summary["polar_seconds"] == pytest.approx(steps["LV frame"] + steps["4 polar maps"])
    assert float(match.group(1)) == pytest.approx(paper, abs=0.051)
    assert float(match.group(2)) == pytest.approx(summary["polar_seconds"], abs=0.051)


@pytest.mark.slow
def test_the_study_is_the_attenuated_phantom_that_ctac_restores():
    """The nAC image holds a quarter of the phantom's counts (× 10³, the projections' scale); PRAC with the
    true μ-map, as timed, restores them."""
    grid = bench.parse_size("32x32x16")
    nac, mu = bench.nac_study(grid)
    activity, _, _ = render(grid, Anatomy(), Uptake(defect=Defect("LAD", TERRITORY_SEGMENTS["LAD"], 0.4)))
    assert nac.shape == mu.shape == grid.shape
    assert np.isfinite(nac).all() and nac.min() >= 0 and 0.1 < mu.max() < 0.3  # cm⁻¹: soft tissue to bone
    truth = 1e3 * activity.sum()
    assert nac.sum() < 0.4 * truth
    assert bench.prac(nac, mu, bench.prac_projector(grid)).numpy().sum() == pytest.approx(truth, rel=0.05)

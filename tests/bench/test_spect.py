"""The SPECT benchmark: its measuring helpers on known inputs, and a run on a small grid whose printed
differences to PyTomography and speed-ups are checked against each other and the README's bound."""

from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import pytest
import torch

from mumap.bench import spect as bench
from mumap.spect.geometry import Acquisition


def test_rel_diff_is_the_relative_l2_difference_over_the_mask():
    peer = torch.tensor([3.0, 4.0, 100.0])
    ours = torch.tensor([3.0, 5.0, 0.0])
    assert bench.rel_diff(ours, peer, torch.tensor([True, True, False])) == pytest.approx(1 / 5)
    assert bench.rel_diff(ours, peer) == pytest.approx(math.hypot(1, 100) / math.hypot(3, 4, 100))


def test_parse_size_is_x_by_y_by_z_over_the_paper_s_field_of_view():
    grid = bench.parse_size("128x96x64")
    assert grid.shape == (64, 96, 128)
    assert grid.voxel_zyx_mm == pytest.approx((4.8, 4.8, 4.8))
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "128x128"])


def test_inside_orbit_is_the_disc_of_the_orbit_radius():
    grid = bench.parse_size("128x128x4")
    acquisition = Acquisition.parallel_for(grid)
    inside = bench.inside_orbit(grid, acquisition).numpy()
    assert inside.shape == grid.shape
    assert inside[:, 64, 64].all() and not inside[:, 0, 0].any() and not inside[:, 64, 0].any()
    disc = math.pi * (acquisition.radius_cm * 10) ** 2 / bench.FOV_MM**2
    assert inside[0].mean() == pytest.approx(disc, rel=0.01)


def test_peak_rss_sees_a_64_mib_allocation_and_measure_takes_the_median(monkeypatch):
    with bench.PeakRSS() as memory:
        block = np.ones(64 * 2**20, dtype=np.uint8)
        del block
    assert 60 < memory.mib < 80
    ticks = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # calls of 3 s, 1 s and 2 s
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(ticks))
    calls = iter(range(3))
    result = bench.measure(lambda: torch.tensor(next(calls)), repeats=3)
    assert result.seconds == 2.0 and int(result.result) == 2


@pytest.mark.slow
def test_bench_agrees_with_pytomography_and_prints_consistent_speed_ups(capsys):
    pytest.importorskip("pytomography")
    bench.main(["--sizes", "32x32x8", "--repeats", "1", "--stir-sizes", "32x32x8"])
    out = capsys.readouterr().out.strip().splitlines()
    rows = [line.split("|")[1:-1] for line in out if line.startswith("| 32×32×8 (19.2)") and line.count("|") == 9]
    assert [row[1].strip().split(" ")[0] for row in rows] == ["forward", "backward", "PRAC"]
    for _, _, ours_s, peer_s, speedup, ours_mib, peer_mib, diff in rows:
        # the times are printed to 1 ms and the speed-up to 0.1: it must lie in the interval that rounding allows
        ours, peer, half_ms = float(ours_s), float(peer_s), 0.0005
        low, high = (peer - half_ms) / (ours + half_ms), (peer + half_ms) / max(ours - half_ms, 1e-9)
        assert low - 0.05 <= float(speedup.strip().rstrip("×")) <= high + 0.05
        assert float(ours_mib) >= 0 and float(peer_mib) >= 0
        assert float(diff) <= 0.025  # the bound README and docs/BENCHMARKS.md state
    match = re.fullmatch(r"speedup_vs_pytomography=(\S+) rel_diff=(\S+)", out[-1])
    assert match, out[-1]
    speedup, diff = float(match.group(1)), float(match.group(2))
    assert math.isfinite(speedup) and speedup > 0
    assert speedup == pytest.approx(float(rows[-1][4].strip().rstrip("×")), abs=0.06)  # the PRAC row
    assert diff == pytest.approx(float(rows[-1][7]), abs=1e-4) and 0 < diff <= 0.025

    if importlib.util.find_spec("stir") is None:
        assert any("STIR is not installed: run `make stir`" in line for line in out)
        return
    backends = {row[1].strip(): row for row in (line.split("|")[1:-1] for line in out
                                                if line.startswith("| 32×32×8 (19.2)") and line.count("|") == 7)}
    assert list(backends) == ["native", "PyTomography", "STIR"]
    assert float(backends["native"][2]) == pytest.approx(float(rows[-1][2]), abs=1e-3)  # the PRAC row's time
    stir_diff = float(backends["STIR"][4])
    assert 0 < stir_diff <= 0.1 and float(backends["STIR"][2]) > 0  # a 19.2 mm grid: coarser than the bench's
    assert out[-2] == f"stir_vs_native_rel_diff={stir_diff:.4f}"

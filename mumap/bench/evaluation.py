"""Benchmark: evaluation time per study — PRAC with two μ-maps plus the LV frame and four polar maps.

    python -m mumap.bench.evaluation [--size 128x128x64] [--repeats 2]

The study is the reference thorax phantom (:func:`mumap.data.phantom.render`, default anatomy, an LAD
defect) on the paper's reconstruction grid, acquired with attenuation through the parallel-hole
model and reconstructed by OSEM without it into an nAC image (not timed). Timed, as the report does per study:
the PRAC system matrix, PRAC (10 iterations × 3 subsets) with the true μ-map (CTAC) and with a second
μ-map (DLAC; here the true one scaled by 0.97, so the work is the same), the LV frame found on CTAC,
and polar maps (512 × 512) of CTAC, DLAC, nAC and a uniform-AC image, each with its hot-neighbour check
(:func:`~mumap.evaluation.polar.extracardiac_excess`). The last line is
``seconds_per_study=<s> polar_seconds=<s>`` (target: ≤ 60 s per study at 128×128×64 on 2 cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mumap.bench.spect import parse_size
from mumap.data.phantom import TERRITORY_SEGMENTS, Anatomy, Defect, Uptake, render
from mumap.evaluation.polar import extracardiac_excess, find_lv, polar_map
from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.osem import osem
from mumap.spect.prac import prac, prac_projector
from mumap.spect.projector import SPECTProjector


def nac_study(grid: ImageGrid) -> tuple[np.ndarray, np.ndarray]:
    """``(nAC image, μ-map)`` of the reference phantom with an LAD defect, OSEM 10 × 3 without attenuation
    of its attenuated parallel-hole projections."""
    uptake = Uptake(defect=Defect("LAD", TERRITORY_SEGMENTS["LAD"], 0.4))
    activity, mu, _ = render(grid, Anatomy(), uptake)
    scanner = SPECTProjector(grid, Acquisition.parallel_for(grid), n_subsets=3)
    projections = scanner.with_attenuation(mu).forward(torch.from_numpy(activity)) * 1e3
    return osem(scanner, projections, n_iterations=10).numpy(), mu


def time_study(nac: np.ndarray, mu: np.ndarray, grid: ImageGrid) -> dict[str, float]:
    """Seconds of each evaluation step for one study."""
    origin = tuple(float(grid.centres_mm(i)[0]) for i in range(3))
    seconds = {}
    start = time.perf_counter()
    projector = prac_projector(grid)
    seconds["system matrix"] = time.perf_counter() - start
    images = {"nAC": nac}
    for name, mu_map in (("CTAC", mu), ("DLAC", 0.97 * mu), ("uniform AC", np.where(mu > 0, 0.153, 0.0))):
        start = time.perf_counter()
        images[name] = prac(nac, mu_map, projector).numpy()
        seconds[f"PRAC {name}"] = time.perf_counter() - start
    start = time.perf_counter()
    frame = find_lv(images["CTAC"], grid.voxel_zyx_mm, origin, same_acquisition=[nac])
    seconds["LV frame"] = time.perf_counter() - start
    start = time.perf_counter()
    for image in images.values():
        polar_map(image, frame, grid.voxel_zyx_mm, origin)
        extracardiac_excess(image, frame, grid.voxel_zyx_mm, origin)
    seconds["4 polar maps"] = time.perf_counter() - start
    return seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("128x128x64"),
                        help="X×Y×Z voxels over a 614.4 mm field of view (128 → 4.8 mm)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    grid = args.size
    nac, mu = nac_study(grid)
    runs = [time_study(nac, mu, grid) for _ in range(args.repeats)]
    steps = {name: float(np.median([run[name] for run in runs])) for name in runs[0]}
    nz, ny, nx = grid.shape
    print(f"threads={torch.get_num_threads()} grid={nx}x{ny}x{nz} voxel={grid.voxel_zyx_mm[0]:.1f} mm "
          f"repeats={args.repeats}")
    print("| step | s (median) |")
    print("|---|---|")
    for name, value in steps.items():
        print(f"| {name} | {value:.2f} |")
    total = sum(steps.values())
    paper_total = total - steps["PRAC uniform AC"]  # the paper's evaluation: PRAC × 2 + polar maps
    print(f"| total (with uniform AC) | {total:.2f} |")
    summary = {"seconds_per_study": paper_total, "polar_seconds": steps["LV frame"] + steps["4 polar maps"]}
    print(f"seconds_per_study={summary['seconds_per_study']:.1f} polar_seconds={summary['polar_seconds']:.1f}")
    return summary


if __name__ == "__main__":
    main()

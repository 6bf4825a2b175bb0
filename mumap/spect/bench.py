"""Benchmark: mumap's projector vs PyTomography's on the same parallel-hole problem, in one process.

    python -m mumap.spect.bench [--sizes 64x64x64 128x128x64] [--repeats 5] [--prac-repeats 1]

For each grid (nz×ny×nx given as X×Y×Z), on the analytic thorax with its μ-map, 34 views, PSF on:
forward projection with attenuation, backprojection with attenuation, and a full PRAC
(10 iterations × 3 subsets, each side building its own system matrices inside the timed call).
Prints medians, the peak resident-memory increase during each call, and the relative L2
difference ``‖ours − peer‖ / ‖peer‖``; the last line is
``speedup_vs_pytomography=<x> rel_diff=<d>`` for the PRAC of the largest grid.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mumap.data.phantom import thorax_phantom
from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.prac import prac, prac_projector
from mumap.spect.projector import SPECTProjector
from mumap.spect.pytomography_peer import PyTomographyPeer, pytomography_prac

FOV_MM = 614.4  # transaxial field of view: 128 × 4.8 mm, the paper's reconstruction grid


class PeakRSS:
    """Peak increase of this process's resident memory (MiB) while the block runs (sampled every 5 ms)."""

    def __enter__(self) -> PeakRSS:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._base = self._peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.mib = (self._peak - self._base) / 2**20

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._rss())


@dataclass
class Measurement:
    seconds: float
    peak_mib: float
    result: torch.Tensor


def measure(fn: Callable[[], torch.Tensor], repeats: int) -> Measurement:
    """Median wall time of ``repeats`` calls, the largest peak-memory increase, the last result."""
    times, peaks = [], []
    for _ in range(repeats):
        with PeakRSS() as memory:
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        peaks.append(memory.mib)
    return Measurement(statistics.median(times), max(peaks), result)


def rel_diff(ours: torch.Tensor, peer: torch.Tensor) -> float:
    return float((ours.double() - peer.double()).norm() / peer.double().norm())


def parse_size(text: str) -> ImageGrid:
    """``"128x128x64"`` (X×Y×Z) → grid with 614.4 mm transaxial FOV and cubic voxels."""
    try:
        nx, ny, nz = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must look like 128x128x64 (X×Y×Z), got {text!r}") from err
    h = FOV_MM / nx
    return ImageGrid((nz, ny, nx), (h, h, h))


def bench_grid(grid: ImageGrid, repeats: int, prac_repeats: int) -> list[tuple[str, Measurement, Measurement]]:
    activity, mu = (torch.from_numpy(a) for a in thorax_phantom(grid))
    acquisition = Acquisition.parallel_for(grid)
    ours = SPECTProjector(grid, acquisition, psf=True).with_attenuation(mu)
    peer = PyTomographyPeer(grid, acquisition, mu=mu, psf=True)
    projections = ours.forward(activity)
    rows = [
        ("forward (34 views, att + PSF)", measure(lambda: ours.forward(activity), repeats),
         measure(lambda: peer.forward(activity), repeats)),
        ("backward (34 views, att + PSF)", measure(lambda: ours.adjoint(projections), repeats),
         measure(lambda: peer.adjoint(projections), repeats)),
        ("PRAC 10 it × 3 subsets (att + PSF)",
         measure(lambda: prac(activity, mu, prac_projector(grid)), prac_repeats),
         measure(lambda: pytomography_prac(activity, mu, grid), prac_repeats)),
    ]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[parse_size("64x64x64"), parse_size("128x128x64")])
    parser.add_argument("--repeats", type=int, default=5, help="calls per forward/backward timing (median)")
    parser.add_argument("--prac-repeats", type=int, default=1, help="calls per PRAC timing (median)")
    args = parser.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    print("| grid (x×y×z, mm) | operation | mumap s | PyTomography s | speed-up | mumap peak MiB | "
          "PyTomography peak MiB | rel. L2 diff |")
    print("|---|---|---|---|---|---|---|---|")
    last = None
    for grid in args.sizes:
        nz, ny, nx = grid.shape
        label = f"{nx}×{ny}×{nz} ({grid.voxel_mm[2]:.1f})"
        for name, ours, peer in bench_grid(grid, args.repeats, args.prac_repeats):
            speedup = peer.seconds / ours.seconds
            diff = rel_diff(ours.result, peer.result)
            print(f"| {label} | {name} | {ours.seconds:.3f} | {peer.seconds:.3f} | {speedup:.1f}× | "
                  f"{ours.peak_mib:.0f} | {peer.peak_mib:.0f} | {diff:.4f} |", flush=True)
            last = (speedup, diff)
    print(f"speedup_vs_pytomography={last[0]:.2f} rel_diff={last[1]:.4f}")


if __name__ == "__main__":
    main()

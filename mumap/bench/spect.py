"""Benchmark: mumap's projector vs PyTomography's on the same parallel-hole problem, in one process.

    python -m mumap.bench.spect [--sizes 64x64x64 128x128x64] [--repeats 5] [--prac-repeats 1]
                                [--stir-sizes 64x64x64]

For each grid (nz×ny×nx given as X×Y×Z), on the analytic thorax with its μ-map, 34 views, PSF on:
forward projection with attenuation, backprojection with attenuation, and a full PRAC
(10 iterations × 3 subsets, each side building its own system matrices inside the timed call).
Prints medians, the peak resident-memory increase during each call, and the relative L2
difference ``‖ours − peer‖ / ‖peer‖`` (images: inside the orbit, see :func:`inside_orbit`); the
last line is
``speedup_vs_pytomography=<x> rel_diff=<d>`` for the PRAC of the largest grid.

Then, on the ``--stir-sizes`` grids, the same PRAC by STIR (:mod:`mumap.spect.stir_backend`, ``make stir``) beside
the native and PyTomography ones, and ``stir_vs_native_rel_diff=<d>`` (inside the orbit, the last STIR grid) on a
line of its own; a message instead when STIR is not installed. STIR's SPECTUB keeps its whole matrix in memory
(1.3 GB at 64×64×64 with the PSF, about 16× that at 128×128×64), so it is not run on every grid.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mumap.data.phantom import thorax_phantom
from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.prac import prac, prac_projector
from mumap.spect.projector import SPECTProjector
from mumap.spect.pytomography_peer import PyTomographyPeer, pytomography_prac
from mumap.spect.stir_backend import STIR_MISSING, stir, stir_prac

FOV_MM = 614.4  # transaxial field of view: 128 × 4.8 mm, the paper's reconstruction grid


class PeakRSS:
    """Peak resident memory (MiB) of this process while the block runs, above its level at entry.

    Before the block, freed heap memory is handed back to the OS (``malloc_trim``) so that memory
    the allocator re-uses counts again, and the kernel's high-water mark is reset
    (``/proc/self/clear_refs``); after it, the mark (``VmHWM``) is read. Where either is not
    available the block's RSS is sampled every 2 ms instead.
    """

    def __enter__(self) -> PeakRSS:
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._exact = True
        except OSError:
            self._exact = False
        self._base = self._peak = _status_kib("VmRSS")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        peak = _status_kib("VmHWM") if self._exact else max(self._peak, _status_kib("VmRSS"))
        self.mib = max(peak - self._base, 0) / 1024

    def _sample(self) -> None:
        while not self._exact and not self._stop.wait(0.002):
            self._peak = max(self._peak, _status_kib("VmRSS"))


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {key}")


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


def rel_diff(ours: torch.Tensor, peer: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """``‖ours − peer‖ / ‖peer‖`` (L2), over ``mask`` if given."""
    ours, peer = ours.double(), peer.double()
    if mask is not None:
        ours, peer = ours[mask], peer[mask]
    return float((ours - peer).norm() / peer.norm())


def inside_orbit(grid: ImageGrid, acquisition: Acquisition) -> torch.Tensor:
    """Voxels nearer the rotation axis than the detector: in front of the detector at every angle.

    With a 61 cm field of view and a 28 cm orbit the grid corners lie behind the detector plane at
    some angles; mumap does not backproject there (no ray passes), PyTomography does (it has no
    detector position). Image comparisons are made inside the orbit.
    """
    _, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    _, cy, cx = acquisition.rotation_centre_zyx_mm
    return torch.from_numpy(np.hypot(y - cy, x - cx) < acquisition.radius_cm * 10.0)


def parse_size(text: str) -> ImageGrid:
    """``"128x128x64"`` (X×Y×Z) → grid with 614.4 mm transaxial FOV and cubic voxels."""
    try:
        nx, ny, nz = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must look like 128x128x64 (X×Y×Z), got {text!r}") from err
    h = FOV_MM / nx
    return ImageGrid((nz, ny, nx), (h, h, h))


def bench_grid(
    grid: ImageGrid, repeats: int, prac_repeats: int, depth_subsamples: int = 4
) -> list[tuple[str, Measurement, Measurement, float]]:
    """(operation, ours, peer, relative difference) for forward, backward and PRAC on ``grid``."""
    activity, mu = (torch.from_numpy(a) for a in thorax_phantom(grid))
    acquisition = Acquisition.parallel_for(grid)
    ours = SPECTProjector(grid, acquisition, psf=True, depth_subsamples=depth_subsamples).with_attenuation(mu)
    peer = PyTomographyPeer(grid, acquisition, mu=mu, psf=True)
    projections = ours.forward(activity)
    orbit = inside_orbit(grid, acquisition)
    rows = []
    for name, run_ours, run_peer, mask in (
        ("forward (34 views, att + PSF)", lambda: ours.forward(activity), lambda: peer.forward(activity), None),
        ("backward (34 views, att + PSF)", lambda: ours.adjoint(projections), lambda: peer.adjoint(projections),
         orbit),
        ("PRAC 10 it × 3 subsets (att + PSF)",
         lambda: prac(activity, mu, prac_projector(grid, depth_subsamples=depth_subsamples)),
         lambda: pytomography_prac(activity, mu, grid), orbit),
    ):
        n = prac_repeats if name.startswith("PRAC") else repeats
        a, b = measure(run_ours, n), measure(run_peer, n)
        rows.append((name, a, b, rel_diff(a.result, b.result, mask)))
    return rows


def stir_rows(grid: ImageGrid, native: Measurement, peer: Measurement, prac_repeats: int
              ) -> tuple[Measurement, float, float]:
    """STIR's PRAC on ``grid`` (the bench's thorax) and its differences to the ``native`` and PyTomography (``peer``)
    PRAC results inside the orbit."""
    activity, mu = (torch.from_numpy(a) for a in thorax_phantom(grid))
    measured = measure(lambda: stir_prac(activity, mu, grid), prac_repeats)
    orbit = inside_orbit(grid, Acquisition.parallel_for(grid))
    return measured, rel_diff(measured.result, native.result, orbit), rel_diff(measured.result, peer.result, orbit)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        default=[parse_size("64x64x64"), parse_size("128x128x64")])
    parser.add_argument("--repeats", type=int, default=5, help="calls per forward/backward timing (median)")
    parser.add_argument("--prac-repeats", type=int, default=1, help="calls per PRAC timing (median)")
    parser.add_argument("--depth-subsamples", type=int, default=4, help="mumap's sub-samples per ray step")
    parser.add_argument("--stir-sizes", nargs="*", type=parse_size, default=[parse_size("64x64x64")],
                        help="grids of --sizes on which STIR's PRAC is run too (none: STIR is skipped)")
    args = parser.parse_args(argv)
    try:
        stir()
        stir_grids = [grid for grid in args.sizes if grid in args.stir_sizes]
    except ImportError:
        stir_grids = []
        print(f"{STIR_MISSING}: its PRAC is not timed")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    print("| grid (x×y×z, mm) | operation | mumap s | PyTomography s | speed-up | mumap peak MiB | "
          "PyTomography peak MiB | rel. L2 diff |")
    print("|---|---|---|---|---|---|---|---|")
    last, pracs = None, {}
    for grid in args.sizes:
        label = _label(grid)
        rows = bench_grid(grid, args.repeats, args.prac_repeats, args.depth_subsamples)
        for name, ours, peer, diff in rows:
            speedup = peer.seconds / ours.seconds
            print(f"| {label} | {name} | {ours.seconds:.3f} | {peer.seconds:.3f} | {speedup:.1f}× | "
                  f"{ours.peak_mib:.0f} | {peer.peak_mib:.0f} | {diff:.4f} |", flush=True)
            last = (speedup, diff)
        if grid in stir_grids:
            _, native_prac, peer_prac, _ = rows[-1]  # the PRAC row
            pracs[grid] = (native_prac, peer_prac)
    stir_results = {grid: stir_rows(grid, native, peer, args.prac_repeats) for grid, (native, peer) in pracs.items()}
    if stir_results:  # printed after STIR has run: it writes blank lines to stdout
        print("\n| grid (x×y×z, voxel mm) | PRAC 10 it × 3 subsets by | s | peak MiB | rel. L2 diff vs native | "
              "rel. L2 diff vs PyTomography |")
        print("|---|---|---|---|---|---|")
    for grid, (measured, stir_diff, stir_peer_diff) in stir_results.items():
        native, peer = pracs[grid]
        print(f"| {_label(grid)} | native | {native.seconds:.3f} | {native.peak_mib:.0f} | – | – |")
        print(f"| {_label(grid)} | PyTomography | {peer.seconds:.3f} | {peer.peak_mib:.0f} | – | – |")
        print(f"| {_label(grid)} | STIR | {measured.seconds:.3f} | {measured.peak_mib:.0f} | {stir_diff:.4f} | "
              f"{stir_peer_diff:.4f} |")
    if stir_results:
        print(f"stir_vs_native_rel_diff={list(stir_results.values())[-1][1]:.4f}")
    print(f"speedup_vs_pytomography={last[0]:.2f} rel_diff={last[1]:.4f}")


def _label(grid: ImageGrid) -> str:
    nz, ny, nx = grid.shape
    return f"{nx}×{ny}×{nz} ({grid.voxel_zyx_mm[2]:.1f})"


if __name__ == "__main__":
    main()

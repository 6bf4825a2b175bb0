"""STIR's SPECTUB forward projection against mumap's native one, on the analytic thorax, per grid.

``python scripts/stir_agreement.py [ZxYxX@mm ...]`` (after ``make stir``) renders the reference thorax
(:func:`mumap.data.phantom.thorax_phantom`: the patient in mm, so a smaller grid crops it) on each grid, projects it
with both models in PRAC's parallel geometry (:meth:`Acquisition.parallel_for`) — without attenuation and PSF,
with attenuation, with the PSF, with both — and prints the relative L2 difference of the projections, the share of
the squared difference in the three detector rows at each axial end and the difference without those rows.
Default grids: the quick and hard cohorts' grid (the one the evaluation runs PRAC on), the test suite's 9.6 mm grid
and three crops. Times are wall-clock of the whole row (STIR's matrices with the PSF take most of it).
"""

from __future__ import annotations

import sys
import time

import torch

from mumap.bench.spect import rel_diff
from mumap.data.phantom import thorax_phantom
from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.projector import SPECTProjector
from mumap.spect.stir_backend import STIRProjector

DEFAULT_GRIDS = ("40x80x80@6.4", "24x40x48@9.6", "24x60x72@6.4", "16x80x80@6.4", "32x64x64@4.8")
CASES = ((False, False), (True, False), (False, True), (True, True))  # (attenuation, PSF)
EDGE_ROWS = 3


def parse_grid(text: str) -> ImageGrid:
    """``"40x80x80@6.4"`` (Z×Y×X @ voxel mm) → cubic-voxel grid."""
    try:
        shape, voxel_mm = text.lower().split("@")
        nz, ny, nx = (int(n) for n in shape.split("x"))
        h = float(voxel_mm)
    except ValueError as err:
        raise SystemExit(f"grid must look like 40x80x80@6.4 (Z×Y×X @ voxel mm), got {text!r}") from err
    return ImageGrid((nz, ny, nx), (h, h, h))


def agreement(grid: ImageGrid, attenuation: bool, psf: bool) -> tuple[float, float, float]:
    """(relative L2 difference, share of the squared difference in the axial end rows, difference without them)."""
    activity, mu = (torch.from_numpy(a) for a in thorax_phantom(grid))
    acquisition = Acquisition.parallel_for(grid)
    native = SPECTProjector(grid, acquisition, psf=psf)
    if attenuation:
        native = native.with_attenuation(mu)
    stir = STIRProjector(grid, acquisition, mu=mu if attenuation else None, psf=psf).forward(activity).double()
    ours = native.forward(activity).double()
    squared = (stir - ours).pow(2).sum(dim=(0, 2))  # per detector row
    edge_share = float((squared[:EDGE_ROWS].sum() + squared[-EDGE_ROWS:].sum()) / squared.sum())
    inner = slice(EDGE_ROWS, -EDGE_ROWS)
    return rel_diff(stir, ours), edge_share, rel_diff(stir[:, inner], ours[:, inner])


def main(argv: list[str]) -> None:
    grids = [parse_grid(text) for text in (argv or DEFAULT_GRIDS)]
    print("| grid (z×y×x @ mm) | FOV z × x (mm) | none | attenuation | PSF | both | both: end-row share / "
          "without end rows | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for grid in grids:
        start = time.perf_counter()
        results = [agreement(grid, attenuation, psf) for attenuation, psf in CASES]
        nz, ny, nx = grid.shape
        h = grid.voxel_zyx_mm[0]
        cells = " | ".join(f"{100 * diff:.2f} %" for diff, _, _ in results)
        _, share, inner = results[-1]
        print(f"| {nz}×{ny}×{nx} @ {h:g} | {nz * h:.0f} × {nx * h:.0f} | {cells} | {share:.2f} / {100 * inner:.2f} % "
              f"| {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

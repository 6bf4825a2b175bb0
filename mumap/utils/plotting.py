"""Shared figure plumbing: a headless matplotlib backend (import ``plt`` from here), atomic PNG writes
and the one figure of orthogonal slices through volumes.

Agg is chosen only when nothing chose a backend (``MPLBACKEND`` unset), so that Jupyter kernels, which
set it, keep their inline plots after importing mumap."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure, SubFigure

from mumap.utils.atomic import atomic_path

__all__ = ["PLANES", "plane_heights", "plt", "save_figure", "slice_figure"]

# plane → (its slice, head up, of a [z, y, x] volume through voxel (z, y, x); the volume axes of its rows and columns)
PLANES: dict[str, tuple[Callable[[np.ndarray, Sequence[int]], np.ndarray], tuple[int, int]]] = {
    "transaxial": (lambda v, i: v[i[0]], (1, 2)),
    "coronal": (lambda v, i: v[:, i[1]][::-1], (0, 2)),
    "sagittal": (lambda v, i: v[:, :, i[2]][::-1], (0, 1)),
}


def save_figure(fig: Figure, path: Path, dpi: int = 90) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (:func:`~mumap.utils.atomic.atomic_path`), then close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def plane_heights(shape: Sequence[int], voxel_zyx_mm: Sequence[float],
                  planes: Sequence[str] = tuple(PLANES)) -> list[float]:
    """Height over width (mm/mm) of the slices in each of ``planes`` of a volume ``[z, y, x]`` of ``shape`` and
    voxel size ``voxel_zyx_mm`` (dz, dy, dx): the relative heights of :func:`slice_figure`'s rows."""
    extent_zyx_mm = [n * h for n, h in zip(shape, voxel_zyx_mm, strict=True)]
    return [extent_zyx_mm[PLANES[plane][1][0]] / extent_zyx_mm[PLANES[plane][1][1]] for plane in planes]


def slice_figure(columns: Mapping[str, tuple[np.ndarray, str, float | None, str]],
                 voxel_zyx_mm: Sequence[float], centre_index: Sequence[int] | None = None,
                 planes: Sequence[str] = tuple(PLANES), title: str = "",
                 figure: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """Slices through voxel ``centre_index`` ``(z, y, x)`` (default: the volume centre) of volumes ``[z, y, x]``
    on one grid of voxel size ``voxel_zyx_mm`` (dz, dy, dx): one column per ``{title: (volume, colour map, vmax,
    colour-bar label)}`` (colour scale 0…vmax, None: the slice's maximum; one colour bar per column), one row
    per plane of ``planes`` (see :data:`PLANES`; coronal and sagittal head up), pixels drawn with their true
    aspect ratio, each row as high as its slices are (in mm, relative to their width). Draws into ``figure``
    (e.g. a :class:`SubFigure` of a larger figure) or a new one."""
    first = next(iter(columns.values()))[0]
    index = tuple(n // 2 for n in first.shape) if centre_index is None else tuple(centre_index)
    heights = plane_heights(first.shape, voxel_zyx_mm, planes)
    if figure is None:
        figure = plt.figure(figsize=(3.6 * len(columns), 1.0 + 3.0 * sum(heights)), layout="constrained")
    axes = figure.subplots(len(planes), len(columns), squeeze=False, height_ratios=heights)
    for col, (name, (volume, cmap, vmax, label)) in enumerate(columns.items()):
        for row, plane in enumerate(planes):
            cut, (down, across) = PLANES[plane]
            shown = axes[row, col].imshow(cut(volume, index), cmap=cmap, vmin=0, vmax=vmax,
                                          aspect=voxel_zyx_mm[down] / voxel_zyx_mm[across])
            axes[row, col].set_title(f"{name}, {plane}", fontsize=8)
            axes[row, col].axis("off")
        figure.colorbar(shown, ax=axes[:, col], fraction=0.046, label=label)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure

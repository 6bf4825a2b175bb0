"""Shared figure plumbing: a headless matplotlib backend (import ``plt`` from here) and atomic PNG writes.

Agg is chosen only when nothing chose a backend (``MPLBACKEND`` unset), so that Jupyter kernels, which
set it, keep their inline plots after importing mumap."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["plt", "save_figure"]


def save_figure(fig: Figure, path: Path, dpi: int = 90) -> Path:
    """Write ``fig`` as PNG to ``path`` via a temporary file (never half-written), then close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path

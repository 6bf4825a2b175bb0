"""Shared figure plumbing: the headless matplotlib backend (import ``plt`` from here) and atomic PNG writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

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

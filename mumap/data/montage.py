"""A PNG montage of one study, so a person can look at what was made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mumap.data import io
from mumap.figures import plt, save_figure


def study_montage(study_dir: Path, path: Path, projections: np.ndarray | None = None) -> Path:
    """nAC, SC, CTAC and μ-map through the LV centre in three planes, plus four projections."""
    truth = json.loads((study_dir / "truth.json").read_text())
    volumes = {name: io.load_nifti(study_dir / f"{name}.nii.gz") for name in ("nac", "sc", "ctac", "mumap")}
    image, voxel_mm, origin_mm = volumes["nac"]
    cx, cy, cz = truth["lv"]["centre_mm"]
    index = [int(np.clip(round((c - o) / h), 0, n - 1))
             for c, o, h, n in zip((cz, cy, cx), origin_mm, voxel_mm, image.shape, strict=True)]
    planes = {"transaxial": lambda v: v[index[0]], "coronal": lambda v: v[:, index[1]][::-1],
              "sagittal": lambda v: v[:, :, index[2]][::-1]}
    rows = len(planes) + (projections is not None)
    fig, axes = plt.subplots(rows, 4, figsize=(12, 3 * rows), squeeze=False)
    for col, (name, (volume, _, _)) in enumerate(volumes.items()):
        for row, (plane, cut) in enumerate(planes.items()):
            ax = axes[row, col]
            shown = ax.imshow(cut(volume), cmap="gray" if name == "mumap" else "inferno",
                              vmin=0, vmax=float(np.percentile(volume, 99.9)) or None,
                              aspect=voxel_mm[0] / voxel_mm[1] if plane != "transaxial" else 1.0)
            ax.set_title(f"{name} {plane}", fontsize=8)
            ax.axis("off")
            fig.colorbar(shown, ax=ax, fraction=0.046, label="cm⁻¹" if name == "mumap" else "counts")
    if projections is not None:
        views = np.linspace(0, len(projections) - 1, 4).round().astype(int)
        angles = truth["acquisition"]["angles_deg"]
        for col, view in enumerate(views):
            ax = axes[-1, col]
            ax.imshow(projections[view][::-1], cmap="gray")  # head up
            ax.set_title(f"photopeak view {view} (θ = {angles[view]:.0f}°)", fontsize=8)
            ax.axis("off")
    a = truth["anatomy"]
    fig.suptitle(f"{truth['study_id']}: body {a['body_semi_axes_mm'][0] * 2 / 10:.0f}×"
                 f"{a['body_semi_axes_mm'][1] * 2 / 10:.0f} cm, breasts: {'yes' if a['breasts'] else 'no'}, "
                 f"defect: {truth['uptake']['defect']}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)

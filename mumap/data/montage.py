"""A PNG montage of one study, so a person can look at what was made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mumap.data import io
from mumap.utils.plotting import plane_heights, plt, save_figure, slice_figure

KINDS = ("nac", "sc", "ctac", "mumap")  # one column each


def study_montage(study_dir: Path, path: Path, projections: np.ndarray | None = None) -> Path:
    """nAC, SC, CTAC and μ-map (colour scale 0 … their 99.9th percentile) in three planes through the LV
    centre (:func:`~mumap.utils.plotting.slice_figure`), plus a row of four photopeak views from
    ``projections [view, row, column]`` (counts) when given; written as PNG to ``path``."""
    truth = json.loads((study_dir / "truth.json").read_text())
    volumes = {name: io.load_nifti(study_dir / f"{name}.nii.gz") for name in KINDS}
    image, voxel_zyx_mm, origin_zyx_mm = volumes["nac"]
    cx, cy, cz = truth["lv"]["centre_xyz_mm"]
    index = [int(np.clip(round((c - o) / h), 0, n - 1))
             for c, o, h, n in zip((cz, cy, cx), origin_zyx_mm, voxel_zyx_mm, image.shape, strict=True)]
    columns = {name: (volume, "gray" if name == "mumap" else "inferno",
                      float(np.percentile(volume, 99.9)) or None, "μ (cm⁻¹)" if name == "mumap" else "counts")
               for name, (volume, _, _) in volumes.items()}
    heights_in = [2.6 * sum(plane_heights(image.shape, voxel_zyx_mm))]  # 4 columns in 12 in: slices ≈ 2.6 in wide
    if projections is not None:
        heights_in.append(3.0 * projections.shape[1] / projections.shape[2] + 0.3)  # 4 views, 3 in wide each
    fig = plt.figure(figsize=(12, 0.4 + sum(heights_in)), layout="constrained")
    slices, views = (fig, None) if projections is None else fig.subfigures(2, 1, height_ratios=heights_in)
    slice_figure(columns, voxel_zyx_mm, index, figure=slices)
    if projections is not None:
        shown = np.linspace(0, len(projections) - 1, 4).round().astype(int)
        angles = truth["acquisition"]["angles_deg"]
        for ax, view in zip(views.subplots(1, len(shown)), shown, strict=True):
            ax.imshow(projections[view][::-1], cmap="gray")  # head up
            ax.set_title(f"photopeak view {view} (θ = {angles[view]:.0f}°)", fontsize=8)
            ax.axis("off")
    a, scan, defect = truth["anatomy"], truth.get("scan", {}), truth["uptake"]["defect"]
    breasts = f"breasts r {a['breasts']['radius_mm']:.0f} mm" if a["breasts"] else "no breasts"
    defect = f"{defect['territory']} {defect['severity']:.2f} {defect.get('kind', '')}" if defect else "none"
    width, depth = (2 * v / 10 for v in a["body_semi_axes_xy_mm"])
    fig.suptitle(f"{truth['study_id']} ({truth['patient']['sex']}, {truth['protocol']}): body {width:.0f}×{depth:.0f}"
                 f" cm, {breasts}, arms {'down' if a.get('arms_down') else 'up'}, left dome z "
                 f"{a['diaphragm_z_mm'][1]:.0f} mm, breathing {scan.get('breathing_mm', 0):.0f} mm, defect: {defect}",
                 fontsize=9)
    return save_figure(fig, path)

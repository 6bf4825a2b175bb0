"""Side-by-side montage of the same studies in two cohorts (e.g. built by two mumap versions).

``python scripts/compare_cohorts.py OLD NEW S0000 S0005 --out montage.png`` draws, per study, nAC, CTAC and
μ-map of both cohorts in three planes through the true LV centre (each pair on one colour scale), so that a
change of the simulator can be looked at, not only measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mumap.data import io
from mumap.utils.plotting import plane_heights, plt, save_figure, slice_figure

KINDS = {"nac": ("inferno", "counts"), "ctac": ("inferno", "counts"), "mumap": ("gray", "μ (cm⁻¹)")}


def _centre_index(study: Path, shape, voxel_zyx_mm, origin_zyx_mm) -> list[int]:
    cx, cy, cz = json.loads((study / "truth.json").read_text())["lv"]["centre_xyz_mm"]
    return [int(np.clip(round((c - o) / h), 0, n - 1))
            for c, o, h, n in zip((cz, cy, cx), origin_zyx_mm, voxel_zyx_mm, shape, strict=True)]


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("studies", nargs="+")
    parser.add_argument("--labels", nargs=2, default=("old", "new"))
    parser.add_argument("--out", type=Path, default=Path("cohort_comparison.png"))
    args = parser.parse_args(argv)
    heights = []
    panels = []
    for study_id in args.studies:
        columns, centre = {}, None
        for kind, (cmap, label) in KINDS.items():
            pair = [io.load_nifti(root / study_id / f"{kind}.nii.gz") for root in (args.old, args.new)]
            vmax = max(float(np.percentile(volume, 99.9)) for volume, _, _ in pair)
            for (volume, _, _), name in zip(pair, args.labels, strict=True):
                columns[f"{study_id} {name} {kind}"] = (volume, cmap, vmax, label)
            if centre is None:
                centre = _centre_index(args.new / study_id, pair[1][0].shape, pair[1][1], pair[1][2])
                voxel_zyx_mm, shape = pair[1][1], pair[1][0].shape
        panels.append((columns, voxel_zyx_mm, centre))
        heights.append(2.2 * sum(plane_heights(shape, voxel_zyx_mm)))
    fig = plt.figure(figsize=(16, 0.5 + sum(heights)), layout="constrained")
    for sub, (columns, voxel_zyx_mm, centre) in zip(fig.subfigures(len(panels), 1, height_ratios=heights),
                                                    panels, strict=True):
        slice_figure(columns, voxel_zyx_mm, centre, figure=sub)
    return save_figure(fig, args.out)


if __name__ == "__main__":
    print(main())

"""Stripes across hot organs in nAC images, and the projector's ``footprint_rays`` that removes them.

``python scripts/footprint_stripes.py data/quick/S0004 --out docs/figures/nac_stripes_footprint_rays.png``
reconstructs the study's recorded photopeak projections (``projections.npz``) again with the cohort's own OSEM
(the preset's iterations and subsets, no attenuation, no scatter correction: the ``nac`` image), once with one ray
per detector pixel and once with :class:`~mumap.spect.projector.SPECTProjector`'s ``footprint_rays`` = 4, and
draws coronal and sagittal slices through the LV and the axial profile through the hottest point below it. It
prints how far the image with the projector's default rays (:data:`~mumap.spect.projector.FOOTPRINT_RAYS`) is
from the study's ``nac.nii.gz`` (it should be the same image) and, for both, the stripes' strength: the mean
|second difference| along z over the mean, within the body below the LV.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mumap.data import io
from mumap.data.synthesize import PRESETS
from mumap.spect.geometry import Acquisition, Collimator
from mumap.spect.osem import osem
from mumap.spect.projector import FOOTPRINT_RAYS, SPECTProjector
from mumap.utils.plotting import plt, save_figure

RECORDED = ("truth.json", "projections.npz", "nac.nii.gz", "../dataset.json")


def recorded_acquisition(truth: dict) -> Acquisition:
    """The study's acquisition from its ``truth.json``."""
    fields = {k: v for k, v in truth["acquisition"].items() if k != "angles_deg"}
    fields["collimator"] = Collimator(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in fields["collimator"].items()})
    return Acquisition(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def stripes(image: np.ndarray, region: np.ndarray) -> float:
    """Mean |second difference along z| ÷ mean value, over ``region`` (interior slices)."""
    second = np.abs(image[2:] - 2 * image[1:-1] + image[:-2])
    inside = region[1:-1]
    return float(second[inside].mean() / image[1:-1][inside].mean())


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Draws the figure; returns the default-ray image's largest difference to ``nac.nii.gz`` (÷ its maximum) and
    the stripes' strength with 1 and 4 rays (``stripes_1``, ``stripes_4``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a synthetic study's folder (data/quick/S0004)")
    parser.add_argument("--out", type=Path, default=Path("nac_stripes_footprint_rays.png"))
    args = parser.parse_args(argv)
    missing = [str(args.study / name) for name in RECORDED if not (args.study / name).is_file()]
    if missing:
        parser.error(f"{args.study} is not a synthetic study folder: no {', '.join(missing)}")
    truth = json.loads((args.study / "truth.json").read_text())
    preset = PRESETS[json.loads((args.study.parent / "dataset.json").read_text())["preset"]]
    acquisition = recorded_acquisition(truth)
    photopeak = torch.from_numpy(np.load(args.study / "projections.npz")["photopeak"].astype(np.float32))
    nac, voxel_zyx_mm, origin_zyx_mm = io.load_nifti(args.study / "nac.nii.gz")
    first, last = truth["slices"]
    images = {}
    for rays in (1, 4):
        scanner = SPECTProjector(preset.grid, acquisition, n_subsets=preset.subsets, footprint_rays=rays)
        images[rays] = osem(scanner, photopeak, n_iterations=preset.iterations).numpy()[first:last]
    difference = float(np.abs(images[FOOTPRINT_RAYS] - nac).max() / nac.max())
    print(f"{args.study}: {FOOTPRINT_RAYS} ray(s) per pixel, the projector's default, vs nac.nii.gz: "
          f"max |difference| {difference:.2e} of the maximum")

    centre = [round((truth["lv"]["centre_xyz_mm"][2 - i] - origin_zyx_mm[i]) / voxel_zyx_mm[i]) for i in range(3)]
    body = images[1] > 0.1 * np.percentile(images[1], 99.9)
    below = np.zeros_like(body)
    below[: max(centre[0] - 2, 3)] = True
    region = body & below
    hot = np.unravel_index(np.argmax(np.where(region, images[1], -np.inf)), images[1].shape)
    strength = {rays: stripes(image, region) for rays, image in images.items()}

    fig = plt.figure(figsize=(13, 5))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.9])
    profile = fig.add_subplot(grid[:, 2])
    vmax = np.percentile(images[1], 99.8)
    z_mm = origin_zyx_mm[0] + voxel_zyx_mm[0] * np.arange(images[1].shape[0])
    for row, (rays, image) in enumerate(images.items()):
        title = f"{rays} ray{'s' if rays > 1 else ''} per pixel"
        for column, (view, section) in enumerate((("coronal", image[:, centre[1], :]),
                                                  ("sagittal", image[:, :, centre[2]]))):
            axis = fig.add_subplot(grid[row, column])
            axis.imshow(section, origin="lower", cmap="gray", vmax=vmax)
            stripes_note = f" (stripes {strength[rays]:.2f})" if column else ""
            axis.set_title(f"nAC {view} through the LV, {title}{stripes_note}", fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
        profile.plot(z_mm, image[:, hot[1], hot[2]], label=title)
    profile.set_title("z profile through the hottest voxel below the LV", fontsize=9)
    profile.set_xlabel("z (mm)")
    profile.set_ylabel("counts per voxel")
    profile.legend()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, args.out)
    for rays, value in strength.items():
        print(f"stripes (mean |second difference along z| / mean, body below the LV), {rays} ray(s): {value:.4f}")
    print(f"-> {args.out}")
    return {"difference_to_nac": difference, **{f"stripes_{rays}": value for rays, value in strength.items()}}


if __name__ == "__main__":
    main()

"""Montages of the cohort's telling patients, to look at what the simulator makes.

``python scripts/realism_examples.py data/quick --out docs/figures`` writes ``realism_<kind>.png`` (nAC, SC,
CTAC and μ-map through the LV, and four photopeak views; :func:`mumap.data.montage.study_montage`) for: the
woman with the largest breasts, the man whose left diaphragm dome reaches highest above the heart's lowest
point, and the first patient scanned with the arms down.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mumap.data import io
from mumap.data.montage import study_montage
from mumap.data.phantom import lv_lowest_z_mm


def _dome_above_heart_mm(anatomy: dict) -> float:
    """How far the left dome's apex lies above the LV's lowest point (mm; the LV centre is at z = 0)."""
    return anatomy["diaphragm_z_mm"][1] - lv_lowest_z_mm(*anatomy["lv_semi_axes_mm"], anatomy["lv_elevation_deg"])


def pick(root: Path) -> dict[str, str]:
    """Study ids: ``large_breasts``, ``high_left_dome``, ``arms_down``."""
    truths = {row["id"]: json.loads((root / row["truth"]).read_text()) for row in io.read_studies(root / "studies.csv")}
    women = {k: t for k, t in truths.items() if t["anatomy"]["breasts"]}
    men = {k: t for k, t in truths.items() if t["patient"]["sex"] == "M"}
    arms = [k for k, t in truths.items() if t["anatomy"]["arms_down"]]
    if not (women and men and arms):
        raise ValueError(f"{root}: the cohort lacks a woman, a man or a patient with arms down")
    return {"large_breasts": max(women, key=lambda k: women[k]["anatomy"]["breasts"]["radius_mm"]),
            "high_left_dome": max(men, key=lambda k: _dome_above_heart_mm(men[k]["anatomy"])),
            "arms_down": arms[0]}


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    written = []
    for kind, study in pick(args.cohort).items():
        projections = np.load(args.cohort / study / "projections.npz")["photopeak"]
        written.append(study_montage(args.cohort / study, args.out / f"realism_{kind}.png", projections))
        print(f"{kind}: {study} -> {written[-1]}")
    return written


if __name__ == "__main__":
    main()

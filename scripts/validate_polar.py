"""Validate the automatic polar maps on a synthetic cohort against its ``truth.json``.

``python scripts/validate_polar.py data/quick [ctac|nac|sc|prac][+nac…]`` finds the LV in every study's image of
that column (``prac``: PRAC of the nAC with the study's CT μ-map, the CTAC of the evaluation report and the realism
report), with ``+nac`` (or any other column) together with the other reconstructions of the same acquisition, as
those reports find it (``prac+nac``: ``find_lv(prac, same_acquisition=[nac])``), and reports, per study and in
summary: the long-axis angle error (°) and centre error (mm; also split along the true long axis — positive apical —
and across it, with the fitted base plane's position as a fraction of the long semi-axis) of
:func:`mumap.evaluation.polar.find_lv`; where the fitted apex (the outer ellipsoid's tip) and base plane lie along
the true axis against the phantom's (mm, positive apical; :func:`phantom_frame`); how far the polar map drawn on the
found frame lies from the one drawn on the true pose (the frame a reader gives who sets the true centre and long axis,
:func:`~mumap.evaluation.polar.reader_frame`), in the same image: the mean and the largest absolute difference of the
17 AHA segments' scores (percentage points) — what the frame's error costs the polar map; its fit's score and its
rival's
(:attr:`~mumap.evaluation.polar.LVFrame.score`, ``rival_score``), whether the frame is flagged uncertain (and in
summary how many wrong frames — axis > 10° or centre > 10 mm — are flagged, and how many right ones), how far a hot
neighbour of the wall lies above the wall's maximum in the map (:func:`~mumap.evaluation.polar.extracardiac_excess`,
flagged above :data:`~mumap.evaluation.polar.EXTRACARDIAC_EXCESS_MAX`; in summary how many, and the largest cost of a
frame neither flag catches), the case of a
``hard`` cohort's study; for studies with a defect, whether the lowest-scoring AHA segment of the polar map lies in
the defect (its simulated segments) and in its coronary territory; for defect-free studies, how uniform the map is
(lowest segment and the segments' coefficient of variation). With ``--json FILE`` it also writes the summary and
every study's record (its frame, errors, score, flag, case and lowest segment) to ``FILE``, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mumap.data import io
from mumap.data.phantom import LV_BASE, territory_segments
from mumap.evaluation.polar import (
    EXTRACARDIAC_EXCESS_MAX,
    LVFrame,
    extracardiac_excess,
    find_lv,
    polar_map,
    reader_frame,
    segment_scores,
)
from mumap.spect.geometry import ImageGrid
from mumap.spect.prac import prac, prac_projector
from mumap.utils.atomic import write_text_atomic


def load_image(root: Path, row: dict, column: str, projectors: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image, voxel_zyx_mm, origin_zyx_mm)`` of a study's column, or its PRAC CTAC for ``prac``."""
    if column != "prac":
        return io.load_nifti(root / row[column])
    nac, voxel_zyx_mm, origin_zyx_mm = io.load_nifti(root / row["nac"])
    grid = ImageGrid(nac.shape, tuple(float(v) for v in voxel_zyx_mm))
    if grid not in projectors:
        projectors[grid] = prac_projector(grid)
    return prac(nac, io.load_nifti(root / row["mumap"])[0], projectors[grid]).numpy(), voxel_zyx_mm, origin_zyx_mm


def phantom_frame(study: dict) -> LVFrame:
    """The LV frame of the phantom a study was made from (its ``truth.json``): the LV ellipsoid's centre, long axis,
    anterior direction, outer semi-axes and wall, and its base plane (:data:`~mumap.data.phantom.LV_BASE` of the long
    semi-axis): where the anatomy has the LV's apex and base, against which a found frame's are measured."""
    lv, anatomy = study["lv"], study["anatomy"]
    long_mm, short_mm = anatomy["lv_semi_axes_mm"]
    return LVFrame(tuple(lv["centre_xyz_mm"]), tuple(lv["long_axis"]), tuple(lv["anterior_axis"]), long_mm, short_mm,
                   anatomy["lv_wall_mm"], LV_BASE * long_mm, correlation=1.0, cavity_contrast=1.0, source="reader")


def along_true_axis(frame: LVFrame, truth: LVFrame, position_mm: float, true_position_mm: float) -> float:
    """How far (mm, positive apical) the point ``position_mm`` along ``frame``'s axis from its centre lies from the
    point ``true_position_mm`` along the ``truth``'s, measured along the true axis."""
    point = np.add(frame.centre_xyz_mm, position_mm * np.asarray(frame.long_axis))
    true_point = np.add(truth.centre_xyz_mm, true_position_mm * np.asarray(truth.long_axis))
    return float((point - true_point) @ np.asarray(truth.long_axis))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a synthetic cohort (with truth.json per study)")
    parser.add_argument("column", nargs="?", default="ctac", help="ctac, nac, sc or prac, + others: ctac+nac")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary and per-study records here")
    args = parser.parse_args(argv)
    root_path, column = args.root, args.column
    try:
        rows = io.read_studies(root_path / "studies.csv")
    except io.DatasetError as err:
        parser.error(str(err))
    first, *same_acquisition = column.split("+")
    needed = {"truth", *("nac" if name == "prac" else name for name in (first, *same_acquisition))}
    if rows and needed - rows[0].keys():
        parser.error(f"{root_path / 'studies.csv'}: no column {', '.join(sorted(needed - rows[0].keys()))} "
                     f"(it has {', '.join(rows[0])})")
    angles, distances, in_defect, in_territory, severe, lowest, variation, seconds = [], [], [], [], [], [], [], []
    scores_of_frames, flagged, right, along, across, projectors, records = [], [], [], [], [], {}, []
    apex, base, polar_mean, polar_max, excess = [], [], [], [], []
    for row in rows:
        image, voxel_zyx_mm, origin_zyx_mm = load_image(root_path, row, first, projectors)
        others = [load_image(root_path, row, other, projectors)[0] for other in same_acquisition]
        study = json.loads((root_path / row["truth"]).read_text())
        truth, true_frame = study["lv"], phantom_frame(study)
        start = time.perf_counter()
        frame = find_lv(image, voxel_zyx_mm, origin_zyx_mm, same_acquisition=others)
        scores = segment_scores(polar_map(image, frame, voxel_zyx_mm, origin_zyx_mm, size=256))
        seconds.append(time.perf_counter() - start)
        excess.append(extracardiac_excess(image, frame, voxel_zyx_mm, origin_zyx_mm))
        true_pose = reader_frame(image, voxel_zyx_mm, origin_zyx_mm, truth["centre_xyz_mm"], truth["long_axis"])
        true_scores = segment_scores(polar_map(image, true_pose, voxel_zyx_mm, origin_zyx_mm, size=256))
        difference = np.abs(scores - true_scores)
        polar_mean.append(float(difference.mean()))
        polar_max.append(float(difference.max()))
        apex.append(along_true_axis(frame, true_frame, frame.long_mm, true_frame.long_mm))
        base.append(along_true_axis(frame, true_frame, frame.base_mm, true_frame.base_mm))
        angles.append(np.degrees(np.arccos(np.clip(np.dot(frame.long_axis, truth["long_axis"]), -1, 1))))
        offset = np.subtract(frame.centre_xyz_mm, truth["centre_xyz_mm"])
        distances.append(np.linalg.norm(offset))
        along.append(float(offset @ truth["long_axis"]))  # + apical, − basal
        across.append(float(np.linalg.norm(offset - along[-1] * np.asarray(truth["long_axis"]))))
        worst = int(np.argmin(scores)) + 1
        scores_of_frames.append(frame.score)
        flagged.append(frame.uncertain)
        right.append(angles[-1] <= 10 and distances[-1] <= 10)
        line = (f"{row['id']} axis {angles[-1]:5.1f}° centre {distances[-1]:5.1f} mm "
                f"(along the axis {along[-1]:+5.1f}, across {across[-1]:4.1f}; "
                f"base at {-frame.base_mm / frame.long_mm:.2f} of the long semi-axis; apex {apex[-1]:+5.1f}, "
                f"base plane {base[-1]:+5.1f}) polar map vs the true pose's {polar_mean[-1]:4.1f} "
                f"(max {polar_max[-1]:4.1f}) points "
                f"score {frame.score:.2f} rival "
                f"{frame.rival_score:.2f}{' UNCERTAIN' if frame.uncertain else ''} hot neighbour {excess[-1]:+.0%}"
                f"{' FLAGGED' if excess[-1] > EXTRACARDIAC_EXCESS_MAX else ''} lowest segment {worst:2d}"
                + (f" [{study['case']}]" if study.get("case") else ""))
        if truth["defect"]:
            defect = truth["defect"]
            in_defect.append(worst in defect["segments"])
            in_territory.append(worst in territory_segments(defect["territory"]))
            if defect["severity"] >= 0.3:
                severe.append(in_territory[-1])
            line += f" defect {defect['territory']} {defect['segments']} {defect['severity']:.0%}"
        else:
            lowest.append(scores.min())
            variation.append(scores.std() / scores.mean() * 100)
            line += f" no defect: min {scores.min():.0f} %, CV {variation[-1]:.1f} %"
        records.append({"id": row["id"], "case": study.get("case"), "axis_deg": float(angles[-1]),
                        "centre_mm": float(distances[-1]), "along_mm": along[-1], "across_mm": across[-1],
                        "long_mm": frame.long_mm, "base_mm": frame.base_mm, "apex_along_mm": apex[-1],
                        "base_along_mm": base[-1], "polar_mean_abs_pct": polar_mean[-1],
                        "polar_max_abs_pct": polar_max[-1],
                        "score": float(frame.score), "rival_score": float(frame.rival_score),
                        "uncertain": bool(frame.uncertain), "extracardiac_excess": excess[-1],
                        "lowest_segment": worst,
                        "centre_xyz_mm": list(frame.centre_xyz_mm), "long_axis": list(frame.long_axis)})
        print(line, flush=True)
    summary = {"studies": len(angles), "axis_median_deg": float(np.median(angles)),
               "axis_p95_deg": float(np.percentile(angles, 95)), "axis_within_10deg": float(np.mean(np.less_equal(
                   angles, 10))), "centre_median_mm": float(np.median(distances)),
               "centre_within_10mm": float(np.mean(np.less_equal(distances, 10))),
               "centre_along_axis_median_mm": float(np.median(along)), "centre_across_axis_median_mm": float(
                   np.median(across)),
               "apex_along_axis_median_mm": float(np.median(apex)), "apex_along_axis_max_abs_mm": float(
                   np.max(np.abs(apex))), "base_along_axis_median_mm": float(np.median(base)),
               "base_along_axis_max_abs_mm": float(np.max(np.abs(base))),
               "polar_mean_abs_median_pct": float(np.median(polar_mean)), "polar_mean_abs_max_pct": float(
                   np.max(polar_mean)), "polar_max_abs_max_pct": float(np.max(polar_max)),
               **{f"polar_mean_abs_median_pct_{kind}_frames": float(np.median(np.compress(chosen, polar_mean)))
                  if np.any(chosen) else None for kind, chosen in (("right", right), ("wrong", np.logical_not(right)))},
               "frame_score_median": float(np.median(scores_of_frames)), "wrong_frames": int(np.sum(~np.array(right))),
               "wrong_frames_flagged": int(np.sum(np.array(flagged) & ~np.array(right))),
               "right_frames_flagged": int(np.sum(np.array(flagged) & np.array(right))),
               "extracardiac_maps": int(np.sum(np.greater(excess, EXTRACARDIAC_EXCESS_MAX))),
               "polar_mean_abs_max_pct_unflagged": float(np.max(np.compress(
                   ~np.array(flagged) & np.less_equal(excess, EXTRACARDIAC_EXCESS_MAX), polar_mean), initial=0.0)),
               "centre_max_mm": float(np.max(distances)), "defect_studies": len(in_defect),
               "lowest_in_defect": float(np.mean(in_defect)), "lowest_in_territory": float(np.mean(in_territory)),
               "severe_defect_studies": len(severe), "severe_lowest_in_territory": float(np.mean(severe)),
               "normal_studies": len(lowest), "normal_min_segment_pct": float(np.min(lowest)),
               "normal_median_min_segment_pct": float(np.median(lowest)), "normal_median_cv_pct": float(
                   np.median(variation)), "seconds_per_study": float(np.mean(seconds))}
    print(json.dumps({column: summary}, indent=1))
    if args.json:
        write_text_atomic(args.json, json.dumps({"root": str(root_path), "column": column, "summary": summary,
                                                 "studies": records}, indent=1))
    return summary


if __name__ == "__main__":
    main()

"""Calibration report of a synthetic cohort against the paper's clinical statistics (no model needed).

    python -m mumap.evaluation.realism data/quick [--out data/quick/realism] [--max-studies N] [--ctac simulator]

Over every study of a cohort: the nAC image against its CTAC — PRAC (10 × 3) of the nAC image with the study's CT
μ-map, as the evaluation report makes it — with the project's own polar maps (the LV frame found on CTAC and nAC
together, :func:`~mumap.evaluation.polar.find_lv` with ``same_acquisition``, applied to both); segment APE, polar
pixel distance and Pearson R of segment scores and of pixels, pooled as the paper pools them
(:mod:`mumap.evaluation.report`), beside the paper's clinical nAC values (Huxohl et al. 2023, Sec. 3 with Figs. 6
and 7: APE 7.264 ± 5.481 %, pixel distance 8.559 ± 7.665, R 0.79 / 0.81). Also the true photopeak scatter fraction,
LV counts and mass, body size, and the sex-specific attenuation artefacts: per study the (nAC wall / nAC myocardium)
÷ (CTAC wall / CTAC myocardium) of the anterior and the inferior wall in the phantom's true AHA segments — below 1
where nAC loses counts (the diaphragm and the back: inferior, most in men; the breasts: anterior, in women lower
than in men). Where the differences sit: the segment range (maximum − minimum score) of the studies without a
defect, nAC and CTAC, beside clinical normal subjects' (:data:`CLINICAL_NORMAL_RANGE`), and their apex's score
relative to the mid-ventricular ring's, beside patients' AC images (:data:`CLINICAL_APEX_TO_MID_AC`); the mean
nAC − CTAC score per segment for women and men; and where the attenuation sits from the μ-map alone (the primaries'
transmission per AHA segment averaged over the orbit, :func:`segment_transmission`). Writes ``realism.md``,
``realism.json`` (pooled values under ``nac_segment_ape``, ``nac_pixel_distance``, ``nac_r_segments``,
``nac_r_pixels``, ``scatter_fraction``, ``lv_mass_g``, ``normal_segment_range_nac``, ``normal_apex_to_mid_ctac``,
``segment_difference_F``, ``transmission_F``, ``septal_lateral_transmission``, …; where the APE sits:
``without_defect``, the polar metrics of the studies without a defect, and ``nac_segment_ape_means_matched``, the
APE with each study's nAC segment scores moved so that their mean is its CTAC's), ``studies.csv``,
``segment_scores.csv`` (every study's 17 segment scores of nAC and of CTAC, for analyses beyond the report's) and the
Bland–Altman, pixel-correlation and mean-difference figures.

It lives in ``evaluation``, not ``data``: it needs the polar maps, which sit above the data layer.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.progress import Progress

from mumap.data import io
from mumap.data.phantom import MYOCARDIUM_G_PER_ML, anatomy_from_dict, lv_segment_map
from mumap.data.synthesize import PRESETS
from mumap.evaluation.figures import bland_altman_figure, mean_difference_figure, polar_correlation_figure
from mumap.evaluation.metrics import pearson_r, pixel_differences, segment_ape
from mumap.evaluation.polar import EXTRACARDIAC_EXCESS_MAX, extracardiac_excess, find_lv, polar_map, segment_scores
from mumap.evaluation.report import POLAR_SIZE
from mumap.spect.geometry import ImageGrid
from mumap.spect.prac import PRAC_BACKENDS, check_prac_backend, prac_projector, shared_prac_backend
from mumap.utils.atomic import write_csv_atomic, write_text_atomic
from mumap.utils.parallel import map_jobs
from mumap.utils.plotting import save_figure

PAPER_NAC = {"nac_segment_ape": (7.264, 5.481), "nac_pixel_distance": (8.559, 7.665), "nac_r_segments": 0.79,
             "nac_r_pixels": 0.81}  # Huxohl et al. 2023, nAC vs CTAC on their clinical test set
# Normal subjects (Tc-99m tetrofosmin, dual-head SPECT, Gd-153 transmission AC): the spread of the segment
# scores, maximum − minimum (% of max), of non-corrected and attenuation-corrected stress studies.
# Kluge R, Seese A, Sattler B, Knapp WH. Nuklearmedizin 1996;35(6):205–211.
CLINICAL_NORMAL_RANGE = {"nAC": (35.8, 10.8), "CTAC": (20.9, 3.3)}
# Apical thinning: in 21 patients (Tc-99m sestamibi SPECT/CT against 64-slice MDCT), the wall 5.1 ± 1.3 mm thick
# at the apex, 7.3 ± 1.3 in the apical and 9.9 ± 2.4 in the mid-ventricular walls, and the AC counts (of the
# maximum) 0.81 ± 0.05, 0.88 ± 0.04 and 0.91 ± 0.04: the apex's AC counts 0.89 of the mid walls'.
# J Nucl Med 2011;52(suppl 1):1131 (meeting abstract).
CLINICAL_APEX_TO_MID_AC = 0.81 / 0.91
APEX, MID = (17,), (7, 8, 9, 10, 11, 12)  # AHA segments
WALLS = {"anterior": (1, 7, 13), "inferior": (4, 10, 15)}  # AHA segments
SEPTAL, LATERAL = (2, 3, 8, 9, 14), (5, 6, 11, 12, 16)  # AHA segments
CTAC_SOURCES = ("prac", "simulator")  # PRAC of the nAC image, or the simulator's AC + SC reconstruction
FRAME_OK = (10.0, 10.0)  # a right LV frame: long axis within 10°, centre within 10 mm of the phantom's LV


def lv_mass_g(segments: np.ndarray, voxel_zyx_mm: Sequence[float]) -> float:
    """Mass (g) of the LV myocardium in an AHA segment map (:func:`~mumap.data.phantom.lv_segment_map`), at the
    density of myocardium, 1.05 g/ml."""
    return float((segments > 0).sum() * np.prod(voxel_zyx_mm) / 1000.0 * MYOCARDIUM_G_PER_ML)


def study_realism(root: Path, row: dict, preset_grid: ImageGrid, ctac_source: str = "prac",
                  prac_backend_name: str = "native") -> dict:
    """Polar maps of nAC and CTAC and the per-study figures of one cohort study. CTAC is PRAC of the nAC image
    with the study's μ-map (``prac``, as the evaluation and the paper make it; by ``prac_backend_name``) or the
    simulator's own reconstruction from the raw data with attenuation and TEW scatter correction
    (``simulator``), which tells what PRAC adds to the differences."""
    if ctac_source not in CTAC_SOURCES:
        raise ValueError(f"unknown CTAC source {ctac_source!r}: choose one of {', '.join(CTAC_SOURCES)}")
    nac, voxel_zyx_mm, origin_zyx_mm = io.load_nifti(root / row["nac"])
    truth = json.loads((root / row["truth"]).read_text())
    if ctac_source == "simulator":
        ctac = io.load_nifti(root / row["ctac"])[0]
    else:
        mu = io.load_nifti(root / row["mumap"])[0]
        grid = ImageGrid(nac.shape, tuple(float(v) for v in voxel_zyx_mm))
        ctac = shared_prac_backend(prac_backend_name, grid)(nac, mu).numpy()
    frame = find_lv(ctac, voxel_zyx_mm, origin_zyx_mm, same_acquisition=[nac])
    images = {"nAC": nac, "CTAC": ctac}
    maps = {name: polar_map(image, frame, voxel_zyx_mm, origin_zyx_mm, POLAR_SIZE) for name, image in images.items()}
    scores = {name: segment_scores(m) for name, m in maps.items()}
    first, last = truth["slices"]
    segments = lv_segment_map(preset_grid, anatomy_from_dict(truth["anatomy"]))[first:last]
    myocardium = segments > 0
    transmission = segment_transmission(io.load_nifti(root / row["mumap"])[0], segments, voxel_zyx_mm)
    walls = {}
    for wall, wall_segments in WALLS.items():
        inside = np.isin(segments, wall_segments)
        relative = [image[inside].mean() / image[myocardium].mean() for image in (nac, ctac)]
        walls[wall] = float(relative[0] / relative[1])
    axis_error = float(np.degrees(np.arccos(np.clip(np.dot(frame.long_axis, truth["lv"]["long_axis"]), -1.0, 1.0))))
    centre_error = float(np.linalg.norm(np.subtract(frame.centre_xyz_mm, truth["lv"]["centre_xyz_mm"])))
    body_xy_mm = truth["anatomy"]["body_semi_axes_xy_mm"]
    row_out = {
        "id": row["id"], "sex": row["sex"], "bmi": float(row["weight_kg"]) / (float(row["height_cm"]) / 100) ** 2,
        "body_width_mm": 2 * body_xy_mm[0], "body_depth_mm": 2 * body_xy_mm[1],
        "scatter_fraction": truth["scatter_fraction"],
        "lv_mass_g": lv_mass_g(segments, voxel_zyx_mm),
        "lv_counts_nac": float(nac[myocardium].sum()),
        "defect": truth["lv"]["defect"] is not None,
        **{f"segment_range_{name.lower()}": float(np.ptp(score)) for name, score in scores.items()},
        **{f"apex_to_mid_{name.lower()}": float(score[np.subtract(APEX, 1)].mean() / score[np.subtract(MID, 1)].mean())
           for name, score in scores.items()},
        "segment_ape": float(segment_ape(scores["nAC"], scores["CTAC"]).mean()),
        "pixel_distance": float(pixel_differences(maps["nAC"], maps["CTAC"]).mean()),
        **{f"{wall}_wall_ratio": value for wall, value in walls.items()},
        "frame_axis_error_deg": axis_error, "frame_centre_error_mm": centre_error,
        "frame_ok": axis_error <= FRAME_OK[0] and centre_error <= FRAME_OK[1],
        "frame_score": frame.score, "frame_uncertain": frame.uncertain,
        **{f"extracardiac_{name.lower()}": extracardiac_excess(image, frame, voxel_zyx_mm, origin_zyx_mm)
           for name, image in images.items()},
        "septal_lateral_transmission": float(transmission[np.subtract(SEPTAL, 1)].mean()
                                             / transmission[np.subtract(LATERAL, 1)].mean()),
    }
    return {"row": row_out, "maps": maps, "scores": scores, "transmission": transmission}


def segment_transmission(mu: np.ndarray, segments: np.ndarray, voxel_zyx_mm: Sequence[float]) -> np.ndarray:
    """Where attenuation sits, without reconstruction or polar maps: the primaries' transmission from each AHA
    segment to the detector averaged over the orbit (:meth:`~mumap.spect.projector.SPECTProjector.mean_transmission`
    along PRAC's parallel rays at the IQ·SPECT angles, no PSF) and over the segment's voxels, in % of the study's
    best-transmitting segment: ``(17,)``, index 0 = segment 1. ``mu [z, y, x]`` (cm⁻¹) and the segment map
    (:func:`~mumap.data.phantom.lv_segment_map`) share their grid."""
    grid = ImageGrid(mu.shape, tuple(float(v) for v in voxel_zyx_mm))
    mean = prac_projector(grid, psf=False, n_subsets=1).mean_transmission(mu).numpy()
    per_segment = np.array([mean[segments == s].mean() for s in range(1, 18)])
    return 100.0 * per_segment / per_segment.max()


def _spread(values) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def pooled_polar(results: list[dict]) -> dict:
    """nAC-vs-CTAC polar metrics of ``results`` pooled as the paper pools them: segment APE and pixel distance
    over all segments / pixels of all studies (mean ± std), Pearson R of all segment scores and of all pixels."""
    ape = np.concatenate([segment_ape(r["scores"]["nAC"], r["scores"]["CTAC"]) for r in results])
    pixel = np.concatenate([pixel_differences(r["maps"]["nAC"], r["maps"]["CTAC"]) for r in results])

    def stacked(kind: str, name: str) -> np.ndarray:
        return np.concatenate([np.ravel(r[kind][name]) for r in results])

    return {
        "studies": len(results),
        "nac_segment_ape": _spread(ape), "nac_pixel_distance": _spread(pixel),
        "nac_r_segments": pearson_r(stacked("scores", "nAC"), stacked("scores", "CTAC")),
        "nac_r_pixels": pearson_r(stacked("maps", "nAC"), stacked("maps", "CTAC")),
    }


def pooled(results: list[dict]) -> dict:
    """Cohort-level values: polar metrics pooled as the paper pools them (over all studies, and under
    ``frame_ok`` over the studies whose automatic LV frame is right), the rest mean ± std."""
    rows = [r["row"] for r in results]
    out = pooled_polar(results)
    right = [r for r in results if r["row"]["frame_ok"]]
    out["frame_ok"] = pooled_polar(right) if right else None
    defect_free = [r for r in results if not r["row"]["defect"]]
    out["without_defect"] = pooled_polar(defect_free) if defect_free else None
    out["nac_segment_ape_means_matched"] = _spread(np.concatenate([
        segment_ape(r["scores"]["nAC"] - r["scores"]["nAC"].mean() + r["scores"]["CTAC"].mean(), r["scores"]["CTAC"])
        for r in results]))
    out["frame_axis_error_deg"] = _spread([row["frame_axis_error_deg"] for row in rows])
    out["frames_wrong"] = sum(not row["frame_ok"] for row in rows)
    out["frames_wrong_flagged"] = sum(row["frame_uncertain"] and not row["frame_ok"] for row in rows)
    out["frames_right_flagged"] = sum(row["frame_uncertain"] and row["frame_ok"] for row in rows)
    out["extracardiac_maps"] = sum(max(row["extracardiac_nac"], row["extracardiac_ctac"]) > EXTRACARDIAC_EXCESS_MAX
                                   for row in rows)
    for key in ("scatter_fraction", "lv_mass_g", "lv_counts_nac", "bmi", "body_width_mm", "body_depth_mm",
                "septal_lateral_transmission"):
        out[key] = _spread([row[key] for row in rows])
    normal = [r["row"] for r in defect_free]
    for name in ("nac", "ctac"):
        for measure in ("segment_range", "apex_to_mid"):
            per_study = [row[f"{measure}_{name}"] for row in normal]
            out[f"normal_{measure}_{name}"] = _spread(per_study) if per_study else None
    for sex in ("F", "M"):
        of_sex = [row for row in rows if row["sex"] == sex]
        out[f"segment_difference_{sex}"] = (np.mean([r["scores"]["nAC"] - r["scores"]["CTAC"] for r in results
                                                     if r["row"]["sex"] == sex], axis=0).round(2).tolist()
                                            if of_sex else None)
        out[f"transmission_{sex}"] = (np.mean([r["transmission"] for r in results if r["row"]["sex"] == sex],
                                              axis=0).round(1).tolist() if of_sex else None)
        out[f"lv_mass_g_{sex}"] = _spread([row["lv_mass_g"] for row in of_sex]) if of_sex else None
        for wall in WALLS:
            out[f"{wall}_wall_ratio_{sex}"] = _spread([row[f"{wall}_wall_ratio"] for row in of_sex]) if of_sex else None
    return out


def summary_table(values: dict) -> str:
    """Markdown: the cohort's nAC-vs-CTAC statistics beside the paper's clinical ones."""
    def pm(entry) -> str:
        return f"{entry['mean']:.3f} ± {entry['std']:.3f}"

    right = values["frame_ok"]
    lines = [f"| nAC vs CTAC | paper (clinical) | this cohort, all {values['studies']} studies | ratio | the "
             f"{right['studies'] if right else 0} with a right LV frame | ratio |", "|---|---|---|---|---|---|"]
    for key, label in (("nac_segment_ape", "segment APE (%)"), ("nac_pixel_distance", "pixel distance (%-points)")):
        mean, std = PAPER_NAC[key]
        subset = f"{pm(right[key])} | {right[key]['mean'] / mean:.2f}" if right else "– | –"
        lines.append(f"| {label} | {mean:.3f} ± {std:.3f} | {pm(values[key])} | {values[key]['mean'] / mean:.2f} | "
                     f"{subset} |")
    for key, label in (("nac_r_segments", "Pearson R (17-segment scores)"),
                       ("nac_r_pixels", "Pearson R (polar pixels)")):
        subset = f"{right[key]:.3f}" if right else "–"
        lines.append(f"| {label} | {PAPER_NAC[key]:.2f} | {values[key]:.3f} | – | {subset} | – |")
    lines += ["", f"A right LV frame: the automatic frame (found on CTAC with the nAC) within {FRAME_OK[0]:.0f}° and "
              f"{FRAME_OK[1]:.0f} mm of the phantom's LV. Wrong frames: {values['frames_wrong']}, of which "
              f"{values['frames_wrong_flagged']} flagged uncertain by the frame itself; right frames flagged: "
              f"{values['frames_right_flagged']}. Studies with a hot neighbour above the wall's maximum in a polar map "
              f"(more than {EXTRACARDIAC_EXCESS_MAX:.0%}): {values['extracardiac_maps']}.", "", _where_ape_sits(values),
              "", "| cohort | value |", "|---|---|",
              f"| studies | {values['studies']} |",
              f"| photopeak scatter fraction | {pm(values['scatter_fraction'])} |",
              f"| LV mass (g): women / men | {_maybe(values['lv_mass_g_F'])} / {_maybe(values['lv_mass_g_M'])} |",
              f"| BMI | {pm(values['bmi'])} |",
              f"| body width × depth (mm) | {values['body_width_mm']['mean']:.0f} × "
              f"{values['body_depth_mm']['mean']:.0f} |"]
    for wall in WALLS:
        lines.append(f"| {wall} wall nAC/CTAC ratio: women / men | {_maybe(values[f'{wall}_wall_ratio_F'])} / "
                     f"{_maybe(values[f'{wall}_wall_ratio_M'])} |")
    clinical = " / ".join(f"{m:.1f} ± {s:.1f}" for m, s in CLINICAL_NORMAL_RANGE.values())
    lines.append(f"| segment range (max − min, %-points) without a defect: nAC / CTAC (normal subjects, Kluge "
                 f"1996: {clinical}) | {_maybe(values['normal_segment_range_nac'])} / "
                 f"{_maybe(values['normal_segment_range_ctac'])} |")
    lines.append(f"| apex (segment 17) ÷ mid-ventricular ring (7–12), score, without a defect: nAC / CTAC "
                 f"(patients' AC, their apex thinner on CT: {CLINICAL_APEX_TO_MID_AC:.2f}) | "
                 f"{_maybe(values['normal_apex_to_mid_nac'])} / {_maybe(values['normal_apex_to_mid_ctac'])} |")
    lines += ["", "Mean nAC − CTAC segment score (%-points), AHA segments 1–17:", "",
              "| | " + " | ".join(str(k) for k in range(1, 18)) + " |", "|---" * 18 + "|"]
    for sex, label in (("F", "women"), ("M", "men")):
        if values[f"segment_difference_{sex}"] is not None:
            lines.append(f"| {label} | " + " | ".join(f"{v:+.1f}" for v in values[f"segment_difference_{sex}"]) + " |")
    lines += ["", "Where attenuation sits: the primaries' transmission from each AHA segment averaged over the orbit "
              "(% of the study's best segment; from the μ-map alone), and septal / lateral (segments "
              f"{', '.join(map(str, SEPTAL))} / {', '.join(map(str, LATERAL))}): "
              f"{_maybe(values['septal_lateral_transmission'])}", "",
              "| | " + " | ".join(str(k) for k in range(1, 18)) + " |", "|---" * 18 + "|"]
    for sex, label in (("F", "women"), ("M", "men")):
        if values[f"transmission_{sex}"] is not None:
            lines.append(f"| {label} | " + " | ".join(f"{v:.0f}" for v in values[f"transmission_{sex}"]) + " |")
    return "\n".join(lines)


def _where_ape_sits(values: dict) -> str:
    """Markdown: the segment APE of the studies without a defect, and with each study's per-study offset taken
    out (its nAC map moved so that its mean segment score is its CTAC map's)."""
    free = values["without_defect"]
    alone = (f"The {free['studies']} studies without a defect alone: segment APE "
             f"{free['nac_segment_ape']['mean']:.3f}, pixel distance {free['nac_pixel_distance']['mean']:.3f}, "
             f"R {free['nac_r_segments']:.3f} / {free['nac_r_pixels']:.3f}. "
             if free else "No study without a defect. ")
    return (f"Where the segment APE sits: {alone}With each study's nAC segment scores moved so that their mean is its "
            f"CTAC's (the per-study normalisation offset taken out): segment APE "
            f"{values['nac_segment_ape_means_matched']['mean']:.3f}.")


def _maybe(entry: dict | None) -> str:
    return "–" if entry is None else f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def realism_report(root: str | Path, out: str | Path | None = None, max_studies: int | None = None,
                   progress: bool = True, ctac_source: str = "prac", prac_backend_name: str = "native",
                   workers: int = 1) -> dict:
    """Compute the calibration report of the cohort at ``root`` into ``out`` (default ``<root>/realism``); PRAC
    by ``prac_backend_name``; one study per worker process at a time (:func:`~mumap.utils.parallel.map_jobs`)."""
    check_prac_backend(prac_backend_name)
    root = Path(root)
    out = Path(out) if out else root / "realism"
    if not (root / "dataset.json").is_file():
        raise ValueError(f"{root}: no dataset.json — not a mumap cohort (build one with mumap synthesize)")
    meta = json.loads((root / "dataset.json").read_text())
    if meta.get("preset") not in PRESETS:
        raise ValueError(f"{root / 'dataset.json'}: the realism report needs a synthetic cohort (a preset of "
                         f"{', '.join(PRESETS)}), found preset {meta.get('preset')!r}")
    preset_grid = PRESETS[meta["preset"]].grid
    rows = io.read_studies(root / "studies.csv")[:max_studies]
    with Progress(disable=not progress) as bar:
        task = bar.add_task("realism", total=len(rows))
        results = map_jobs(study_realism, [(root, row, preset_grid, ctac_source, prac_backend_name) for row in rows],
                           workers, lambda: bar.advance(task))
    values = pooled(results)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "realism.json", json.dumps(values, indent=1))
    write_csv_atomic(out / "studies.csv", [r["row"] for r in results])
    write_csv_atomic(out / "segment_scores.csv", [
        {"id": r["row"]["id"], "image": image, **{str(s): float(v) for s, v in enumerate(r["scores"][image], 1)}}
        for r in results for image in ("nAC", "CTAC")])
    reference = np.stack([r["scores"]["CTAC"] for r in results])
    save_figure(bland_altman_figure({"nAC": np.stack([r["scores"]["nAC"] for r in results])}, reference,
                                    "17-segment scores, nAC against CTAC"), out / "bland_altman.png")
    save_figure(polar_correlation_figure({"nAC": [r["maps"]["nAC"] for r in results]},
                                         [r["maps"]["CTAC"] for r in results], title="polar-map pixels"),
                out / "correlation.png")
    groups = {label: [r["maps"]["nAC"] - r["maps"]["CTAC"] for r in results if r["row"]["sex"] == sex]
              for sex, label in (("F", "women"), ("M", "men"))}
    save_figure(mean_difference_figure({f"{label} ({len(maps)})": np.mean(maps, axis=0)
                                        for label, maps in groups.items() if maps},
                                       "nAC − CTAC, mean over the studies"), out / "difference.png")
    write_text_atomic(out / "realism.md", f"# Realism of `{root}` ({len(results)} studies)\n\n{summary_table(values)}"
                      "\n\n![Bland–Altman](bland_altman.png)\n\n![correlation](correlation.png)\n\n"
                      "![mean difference](difference.png)\n")
    return values


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-studies", type=int, default=None)
    parser.add_argument("--ctac", choices=CTAC_SOURCES, default="prac",
                        help="CTAC: PRAC of the nAC image with the μ-map (default, as the evaluation) or the "
                             "simulator's AC + scatter-corrected reconstruction from the raw data")
    parser.add_argument("--prac-backend", choices=PRAC_BACKENDS, default="native",
                        help="who runs PRAC: native (mumap, default), stir (make stir) or pytomography")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes, one study and one core each (default: every core)")
    args = parser.parse_args(argv)
    values = realism_report(args.cohort, args.out, args.max_studies, ctac_source=args.ctac,
                            prac_backend_name=args.prac_backend, workers=args.workers)
    print(summary_table(values))
    return values


if __name__ == "__main__":
    main()

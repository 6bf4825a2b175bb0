"""The evaluation report of a training run: ``python evaluate.py run=<training output dir> split=test``.

Per study of the split: the predicted μ-map (bed reinserted) → NMAE against the CT μ-map; PRAC (10 × 3, one
parallel-hole system matrix per grid) of the nAC image with the CT μ-map (CTAC), the predicted one (DLAC) and the
uniform body-contour one (uniform AC); the LV frame found **once, on CTAC and the nAC it was made from**
(:func:`~mumap.evaluation.polar.find_lv` with ``same_acquisition``) — as a reader orients the study once — and
applied to the CTAC, DLAC, nAC and uniform-AC images, so that their polar maps are pixel-aligned; 17-segment APE,
pixel distance and Pearson R against CTAC. NMAE uses the network's output as it is; PRAC gets it clipped at 0 (μ
cannot be negative). A frame the automatic search is unsure of (:attr:`~mumap.evaluation.polar.LVFrame.uncertain`)
is flagged, and so is a study one of whose polar maps has a hot neighbour against the wall, above the wall's own maximum
(:func:`~mumap.evaluation.polar.extracardiac_excess` above
:data:`~mumap.evaluation.polar.EXTRACARDIAC_EXCESS_MAX`): the summary lists those studies and gives the pooled polar
metrics with and without them. Frames given
by a reader (``lv_frames``: a JSON file ``{study id: {"centre_xyz_mm": [x, y, z], "long_axis": [x, y, z]}}``, world
mm, the centre of the LV ellipsoid as ``studies.csv``'s ``lv`` column gives it) replace the automatic ones. Each
study's uncertainty (:mod:`mumap.models.uncertainty`: Monte Carlo dropout, mean std ÷ μ range) is set against its
NMAE (Spearman ρ, Fig. 8). A second cohort (``hard``, e.g. of the ``hard`` preset) can be evaluated beside the
split: its table next to the split's, and every study's OOD score (:mod:`mumap.evaluation.ood`, against the
dataset's train split) with the AUROC that tells the two cohorts apart.

Pooling, as in the paper: NMAE mean ± std over studies; APE mean ± std over all study × segment
values; pixel distance mean ± std over all polar-map pixels of all studies; Pearson R twice, as the paper
reports it: over all study × segment scores (Fig. 6) and over all polar-map pixels (Fig. 7).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from mumap.data import io
from mumap.data.bed import read_bed_mask, reinsert_bed, remove_bed
from mumap.data.body import uniform_mu_map
from mumap.evaluation.figures import (
    bland_altman_figure,
    mu_map_figure,
    polar_correlation_figure,
    polar_maps_figure,
    uncertainty_error_figure,
)
from mumap.evaluation.metrics import auroc, pearson_r, pixel_differences, pixel_distance, segment_ape, spearman
from mumap.evaluation.ood import OODReference, cohort_reference, study_features
from mumap.evaluation.polar import (
    EXTRACARDIAC_EXCESS_MAX,
    extracardiac_excess,
    lv_frame,
    lv_pose,
    polar_map,
    segment_scores,
)
from mumap.models.uncertainty import MC_PASSES, dropout_layers, mc_dropout_std, normalised_uncertainty
from mumap.spect.geometry import ImageGrid
from mumap.spect.prac import check_prac_backend, shared_prac_backend
from mumap.training.checkpoints import load_module
from mumap.training.metrics import nmae
from mumap.training.modules import MuMapModule
from mumap.utils.atomic import atomic_path, write_csv_atomic, write_text_atomic
from mumap.utils.parallel import map_jobs
from mumap.utils.plotting import save_figure

METHODS = ("DLAC", "nAC", "uniform AC")  # each compared with CTAC
PAPER = {"nmae": "0.020 ± 0.007", "ape DLAC": "1.155 ± 0.769", "ape nAC": "7.264 ± 5.481",
         "pixel DLAC": "3.095 ± 3.199", "pixel nAC": "8.559 ± 7.665", "r segments DLAC": "0.97",
         "r segments nAC": "0.79", "r DLAC": "0.97", "r nAC": "0.81"}  # R: segment scores, polar pixels
POLAR_SIZE = 512  # the paper's polar grid (Fig. 7)
FIGURES = ("fig4_mu_map", "fig5_polar_maps", "fig6_bland_altman", "fig7_correlation", "fig8_uncertainty_error")


def evaluate_study(root: Path, row: dict, module: MuMapModule, given_frame: dict | None = None,
                   passes: int = MC_PASSES, ood: OODReference | None = None, prac_backend_name: str = "native"
                   ) -> dict:
    """All numbers and images of one study (see the module docstring), PRAC by ``prac_backend_name``
    (:func:`~mumap.spect.prac.shared_prac_backend`); ``given_frame`` (``centre_xyz_mm``,
    ``long_axis``) is a reader's frame; ``passes``: Monte Carlo dropout passes for the study's uncertainty (0:
    none); ``ood``: the training cohort's reference, for the study's OOD score of its first input image."""
    start = time.perf_counter()
    nac, voxel_zyx_mm, origin_zyx_mm = io.load_nifti(root / row["nac"])
    mu_ct, _, _ = io.load_nifti(root / row["mumap"])
    inputs = np.stack([io.load_nifti(root / row[c])[0] for c in module.hparams.inputs]).astype(np.float32)
    _, bed = remove_bed(mu_ct.astype(np.float32), read_bed_mask(root, row))
    predicted = reinsert_bed(module.predict_mu_map(torch.from_numpy(inputs)).cpu().numpy(), bed)
    uniform = reinsert_bed(uniform_mu_map(nac), bed)
    prac = shared_prac_backend(prac_backend_name, ImageGrid(nac.shape, tuple(float(v) for v in voxel_zyx_mm)))
    images = {"CTAC": prac(nac, mu_ct).numpy(), "DLAC": prac(nac, np.clip(predicted, 0, None)).numpy(), "nAC": nac,
              "uniform AC": prac(nac, uniform).numpy()}
    frame = lv_frame(images["CTAC"], voxel_zyx_mm, origin_zyx_mm, given_frame, same_acquisition=[nac])
    maps = {name: polar_map(image, frame, voxel_zyx_mm, origin_zyx_mm, POLAR_SIZE) for name, image in images.items()}
    scores = {name: segment_scores(m) for name, m in maps.items()}
    excess = {name: extracardiac_excess(image, frame, voxel_zyx_mm, origin_zyx_mm) for name, image in images.items()}
    row_out = {"id": row["id"], "nmae": float(nmae(torch.from_numpy(predicted), torch.from_numpy(mu_ct))),
               "nmae_uniform": float(nmae(torch.from_numpy(uniform), torch.from_numpy(mu_ct)))}
    for name in METHODS:
        row_out[f"ape {name}"] = float(segment_ape(scores[name], scores["CTAC"]).mean())
        row_out[f"pixel {name}"] = pixel_distance(maps[name], maps["CTAC"])
        row_out[f"r {name}"] = pearson_r(maps[name], maps["CTAC"])
    row_out["uncertainty"] = float("nan")
    if passes:
        std = mc_dropout_std(module.generator, torch.from_numpy(inputs), module.hparams.inputs,
                             module.hparams.normalization, module.hparams.patch_size, passes).cpu().numpy()
        row_out["uncertainty"] = normalised_uncertainty(std, predicted)
    if ood is not None:
        assessment = ood.assess(study_features(inputs[0], voxel_zyx_mm, origin_zyx_mm))
        row_out.update(ood_score=assessment["score"], ood_warned=assessment["out_of_distribution"],
                       ood_beyond=json.dumps(assessment["beyond"]))
    row_out["seconds"] = time.perf_counter() - start
    row_out.update({"lv_source": frame.source, "lv_score": frame.score, "lv_uncertain": frame.uncertain,
                    "lv": json.dumps(frame.to_dict()),
                    **{f"extracardiac {name}": value for name, value in excess.items()},
                    "extracardiac_map": max(excess.values()) > EXTRACARDIAC_EXCESS_MAX})
    return {"row": row_out, "maps": maps, "scores": scores, "mu": (mu_ct, predicted), "frame": frame,
            "voxel_zyx_mm": voxel_zyx_mm, "origin_zyx_mm": origin_zyx_mm}


def pooled(results: list[dict]) -> dict[str, float]:
    """Split-level metrics from per-study results (pooling as in the module docstring)."""
    out = {"studies": len(results), "nmae_mean": float(np.mean([r["row"]["nmae"] for r in results])),
           "nmae_std": float(np.std([r["row"]["nmae"] for r in results])),
           "nmae_uniform_mean": float(np.mean([r["row"]["nmae_uniform"] for r in results]))}
    for name in METHODS:
        ape = np.concatenate([segment_ape(r["scores"][name], r["scores"]["CTAC"]) for r in results])
        pixel = np.concatenate([pixel_differences(r["maps"][name], r["maps"]["CTAC"]) for r in results])
        values = np.concatenate([r["maps"][name].ravel() for r in results])
        reference = np.concatenate([r["maps"]["CTAC"].ravel() for r in results])
        segments = np.concatenate([r["scores"][name] for r in results])
        reference_segments = np.concatenate([r["scores"]["CTAC"] for r in results])
        out.update({f"ape {name} mean": float(ape.mean()), f"ape {name} std": float(ape.std()),
                    f"pixel {name} mean": float(pixel.mean()), f"pixel {name} std": float(pixel.std()),
                    f"r segments {name}": pearson_r(segments, reference_segments),
                    f"r {name}": pearson_r(values, reference)})
    out["seconds_per_study"] = float(np.mean([r["row"]["seconds"] for r in results]))
    return out


def summary_table(metrics: dict[str, float]) -> str:
    """Markdown table: ours (DLAC, nAC, uniform AC) next to the paper's figures."""
    lines = ["| metric | paper DLAC | ours DLAC | paper nAC | ours nAC | ours uniform AC |",
             "|---|---|---|---|---|---|",
             f"| NMAE of the μ-map | {PAPER['nmae']} | {metrics['nmae_mean']:.3f} ± {metrics['nmae_std']:.3f} | – | – "
             f"| {metrics['nmae_uniform_mean']:.3f} |"]
    for key, label in (("ape", "segment APE (%)"), ("pixel", "pixel distance (%-points)")):
        cells = [f"{metrics[f'{key} {m} mean']:.3f} ± {metrics[f'{key} {m} std']:.3f}" for m in METHODS]
        lines.append(f"| {label} | {PAPER[f'{key} DLAC']} | {cells[0]} | {PAPER[f'{key} nAC']} | {cells[1]} "
                     f"| {cells[2]} |")
    for key, label in (("r segments", "Pearson R (17-segment scores)"), ("r", "Pearson R (polar pixels)")):
        lines.append(f"| {label} | {PAPER[f'{key} DLAC']} | {metrics[f'{key} DLAC']:.3f} | {PAPER[f'{key} nAC']} | "
                     f"{metrics[f'{key} nAC']:.3f} | {metrics[f'{key} uniform AC']:.3f} |")
    return "\n".join(lines)


def write_report(run: str | Path, split: str = "test", checkpoint: str = "best", max_studies: int | None = None,
                 out: str | Path | None = None, progress: bool = True, lv_frames: str | Path | None = None,
                 hard: str | Path | None = None, hard_split: str = "test", prac_backend_name: str = "native",
                 workers: int = 1) -> dict:
    """Evaluate a run's checkpoint on a split into the report folder (default ``<run>/report-<split>``), and on
    the ``hard_split`` of a ``hard`` cohort beside it (:func:`report_split`), on ``workers`` processes."""
    check_prac_backend(prac_backend_name)
    cfg, module, checkpoint_path = load_module(run, checkpoint)
    return report_split(cfg.data.root, module, split, out or Path(run) / f"report-{split}", max_studies,
                        f"{run}, checkpoint `{checkpoint_path}`", progress, lv_frames, hard, hard_split,
                        prac_backend_name, workers)


def read_lv_frames(path: str | Path) -> dict[str, dict]:
    """Reader-given LV frames: a JSON object ``{study id: {"centre_xyz_mm": [x, y, z], "long_axis": [x, y, z]}}``."""
    path = Path(path)
    try:
        frames = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the LV frames ({err})") from err
    expected = '{"centre_xyz_mm": [x, y, z], "long_axis": [x, y, z]} (world mm)'
    if not isinstance(frames, dict):
        raise ValueError(f"{path}: the file needs {{study id: {expected}}}, got {type(frames).__name__}")
    for study, frame in frames.items():
        if not isinstance(frame, dict) or set(frame) != {"centre_xyz_mm", "long_axis"}:
            raise ValueError(f"{path}: {study} needs {expected}, got {frame}")
        try:
            lv_pose(frame["centre_xyz_mm"], frame["long_axis"])
        except ValueError as err:
            raise ValueError(f"{path}: {study}: {err}") from err
    return frames


def evaluate_studies(root: str | Path, module: MuMapModule, split: str, max_studies: int | None = None,
                     progress: bool = True, frames: dict[str, dict] | None = None, passes: int = MC_PASSES,
                     ood: OODReference | None = None, prac_backend_name: str = "native", workers: int = 1
                     ) -> list[dict]:
    """:func:`evaluate_study` of every study of a split (at most ``max_studies``), with a progress bar; the
    uncertainty only where the generator has dropout; PRAC by ``prac_backend_name``; one study per worker process
    at a time, each on one torch thread (:func:`~mumap.utils.parallel.map_jobs`: the same numbers for any
    ``workers``)."""
    root = Path(root)
    rows = io.read_split(root, split, max_studies)
    if not rows:
        raise ValueError(f"{root / 'studies.csv'}: no study in split {split!r}")
    passes = passes if dropout_layers(module.generator) else 0
    module.eval()
    jobs = [(root, row, module, (frames or {}).get(row["id"]), passes, ood, prac_backend_name) for row in rows]
    with Progress(disable=not progress) as bar:
        task = bar.add_task(f"evaluating {root.name}/{split}", total=len(rows))
        return map_jobs(evaluate_study, jobs, workers, lambda: bar.advance(task))


def split_metrics(results: list[dict]) -> dict:
    """:func:`pooled` metrics of a split's results, the studies with an uncertain LV frame, those with a polar map
    whose maximum is a hot neighbour's, the pooled metrics without either (``unflagged``), and how well the
    uncertainty ranks the studies' errors (Spearman ρ against NMAE)."""
    metrics = pooled(results)
    metrics["uncertain_frames"] = [r["row"]["id"] for r in results if r["row"]["lv_uncertain"]]
    metrics["extracardiac_maps"] = [r["row"]["id"] for r in results if r["row"]["extracardiac_map"]]
    unflagged = [r for r in results if not (r["row"]["lv_uncertain"] or r["row"]["extracardiac_map"])]
    metrics["unflagged"] = pooled(unflagged) if unflagged and len(unflagged) < len(results) else None
    uncertainty = np.array([r["row"]["uncertainty"] for r in results])
    metrics["uncertainty_mean"] = float(uncertainty.mean())
    metrics["uncertainty_spearman_nmae"] = spearman(uncertainty, [r["row"]["nmae"] for r in results])
    if "ood_score" in results[0]["row"]:
        metrics["ood_score_median"] = float(np.median([r["row"]["ood_score"] for r in results]))
        metrics["ood_warned"] = sum(r["row"]["ood_warned"] for r in results)
    return metrics


def report_split(root: str | Path, module: MuMapModule, split: str, out: str | Path,
                 max_studies: int | None = None, source: str = "", progress: bool = True,
                 lv_frames: str | Path | None = None, hard: str | Path | None = None, hard_split: str = "test",
                 prac_backend_name: str = "native", workers: int = 1) -> dict:
    """Evaluate ``module`` on a split of the dataset at ``root`` and write the report folder ``out``:
    ``metrics.json``, ``studies.csv``, ``polar/<study>.npz``, ``fig4…fig8`` PNGs and ``summary.md``. With
    ``hard`` (a cohort root, e.g. of the ``hard`` preset), its ``hard_split`` too: ``hard/studies.csv``,
    ``hard/polar/``, its metrics under ``hard`` in ``metrics.json``, its studies in Fig. 8, and its table beside
    the split's in ``summary.md``. PRAC by ``prac_backend_name`` (native, stir or pytomography); one study per
    worker process at a time on ``workers`` processes."""
    check_prac_backend(prac_backend_name)
    root, out = Path(root), Path(out)
    frames = read_lv_frames(lv_frames) if lv_frames else {}
    ood = cohort_reference(root, module.hparams.inputs[0], progress, workers) if hard else None
    groups = {split: evaluate_studies(root, module, split, max_studies, progress, frames, ood=ood,
                                      prac_backend_name=prac_backend_name, workers=workers)}
    if hard:
        groups["hard"] = evaluate_studies(hard, module, hard_split, None, progress, ood=ood,
                                          prac_backend_name=prac_backend_name, workers=workers)
    metrics = split_metrics(groups[split])
    for name, results in groups.items():
        folder = out if name == split else out / name
        for result in results:
            _save_npz(folder / "polar" / f"{result['row']['id']}.npz",
                      {**{f"map {k}": v for k, v in result["maps"].items()},
                       **{f"scores {k}": v for k, v in result["scores"].items()}})
        write_csv_atomic(folder / "studies.csv", [r["row"] for r in results])
        if name != split:
            metrics[name] = split_metrics(results)
    if hard:
        scores = {name: [r["row"]["ood_score"] for r in results] for name, results in groups.items()}
        pooled_rows = [r["row"] for results in groups.values() for r in results]
        metrics.update(ood_reference=ood.to_dict(), ood_auroc_hard=auroc(scores[split], scores["hard"]),
                       uncertainty_spearman_nmae_with_hard=spearman([r["uncertainty"] for r in pooled_rows],
                                                                    [r["nmae"] for r in pooled_rows]))
    metrics["prac_backend"] = prac_backend_name
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
    _figures(groups[split], out)
    save_figure(uncertainty_error_figure({name: ([r["row"]["uncertainty"] for r in results],
                                                 [r["row"]["nmae"] for r in results])
                                          for name, results in groups.items()}), out / "fig8_uncertainty_error.png")
    hard_section = ""
    if hard:
        hard_section = (f"## The hard cohort beside the {split} split\n\nHard cohort: `{hard}` ({hard_split}).\n\n"
                        f"{comparison_table({split: metrics, 'hard': metrics['hard']})}\n\n"
                        f"The OOD score (largest |z| of the input's features against the training split's; threshold "
                        f"{ood.threshold:.2f}, the validation split's largest) separates the hard cohort from the "
                        f"{split} split with AUROC {metrics['ood_auroc_hard']:.2f}; over both, the uncertainty's "
                        f"Spearman ρ against NMAE is {metrics['uncertainty_spearman_nmae_with_hard']:.2f}.\n\n")
    write_text_atomic(out / "summary.md", f"# Evaluation on {split} ({len(groups[split])} studies)\n\n"
                      f"Model: {source}; data: `{root}`; PRAC: {prac_backend_name}.\n\n{summary_table(metrics)}\n\n"
                      f"{flag_summary(metrics)}\n\n"
                      f"{uncertainty_summary(metrics)}\n\n{hard_section}"
                      + "".join(f"![{name}]({name}.png)\n\n" for name in FIGURES))
    return metrics


def uncertainty_summary(metrics: dict) -> str:
    """Markdown: the mean normalised uncertainty and how it ranks the studies' NMAE."""
    if not np.isfinite(metrics["uncertainty_mean"]):
        return "No uncertainty: the generator has no dropout (Monte Carlo dropout needs it)."
    return (f"Uncertainty (Monte Carlo dropout, {MC_PASSES} passes; mean std over the volume ÷ the predicted μ range, "
            f"on the scale of NMAE): {metrics['uncertainty_mean']:.4f}; Spearman ρ against the studies' NMAE "
            f"{metrics['uncertainty_spearman_nmae']:.2f} (Fig. 8).")


def comparison_table(columns: dict[str, dict]) -> str:
    """Markdown: the pooled metrics of several cohorts side by side (e.g. the test split and the hard cohort)."""
    rows = [("studies", lambda m: f"{m['studies']}"),
            ("NMAE of the μ-map, DLAC / uniform", lambda m: f"{m['nmae_mean']:.3f} ± {m['nmae_std']:.3f} / "
                                                             f"{m['nmae_uniform_mean']:.3f}"),
            ("segment APE (%), DLAC / nAC", lambda m: f"{m['ape DLAC mean']:.2f} / {m['ape nAC mean']:.2f}"),
            ("pixel distance (%-points), DLAC / nAC",
             lambda m: f"{m['pixel DLAC mean']:.2f} / {m['pixel nAC mean']:.2f}"),
            ("Pearson R (segments / pixels), DLAC", lambda m: f"{m['r segments DLAC']:.3f} / {m['r DLAC']:.3f}"),
            ("LV frames flagged uncertain / maps with a hot neighbour",
             lambda m: f"{len(m['uncertain_frames'])} / {len(m['extracardiac_maps'])}"),
            ("uncertainty (mean) / Spearman ρ with NMAE", lambda m: f"{m['uncertainty_mean']:.4f} / "
                                                                     f"{m['uncertainty_spearman_nmae']:.2f}"),
            ("OOD score: median / studies above the threshold", lambda m: f"{m['ood_score_median']:.2f} / "
                                                                          f"{m['ood_warned']}")]
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cell(m) for m in columns.values()) + " |" for label, cell in rows]
    return "\n".join(lines)


def flag_summary(metrics: dict) -> str:
    """Markdown: the studies whose automatic LV frame is uncertain, those with a hot neighbour above the wall in a
    polar map, and the table without them."""
    uncertain, extracardiac = metrics["uncertain_frames"], metrics["extracardiac_maps"]
    texts = []
    if uncertain:
        texts.append(f"**LV frame uncertain in {len(uncertain)} of {metrics['studies']} studies**: "
                     f"{', '.join(uncertain)}. Their polar metrics may be measured on a wrong frame: check them, and "
                     "give frames by hand with `lv_frames=<json>` if needed.")
    else:
        texts.append("Every LV frame was found with confidence (none flagged uncertain).")
    if extracardiac:
        texts.append(f"**A hot neighbour against the wall in {len(extracardiac)} of {metrics['studies']} studies**: "
                     f"{', '.join(extracardiac)}. In one of their polar maps, activity outside the myocardium (liver, "
                     f"bowel) reaches into the wall's search window more than {EXTRACARDIAC_EXCESS_MAX:.0%} above "
                     "the wall's own maximum (`extracardiac <image>` in `studies.csv`); the map is scaled to the "
                     "wall, and the segments beside the neighbour read too high.")
    if metrics["unflagged"] is not None:
        texts.append(f"Without them ({metrics['unflagged']['studies']} studies):\n\n"
                     + summary_table(metrics["unflagged"]))
    return "\n\n".join(texts)


def _figures(results: list[dict], out: Path) -> None:
    """Fig. 4/5 for the study of median NMAE; Fig. 6/7 over all studies."""
    median = sorted(results, key=lambda r: r["row"]["nmae"])[len(results) // 2]
    mu_ct, predicted = median["mu"]
    centre = tuple(round((median["frame"].centre_xyz_mm[2 - i] - median["origin_zyx_mm"][i])
                         / median["voxel_zyx_mm"][i]) for i in range(3))
    centre = tuple(int(np.clip(c, 0, n - 1)) for c, n in zip(centre, mu_ct.shape, strict=True))
    study = median["row"]["id"]
    save_figure(mu_map_figure(mu_ct, predicted, median["voxel_zyx_mm"], centre, f"{study}: μ-maps through the LV"),
                out / "fig4_mu_map.png")
    save_figure(polar_maps_figure(median["maps"], f"{study}: polar maps", difference_to="CTAC"),
                out / "fig5_polar_maps.png")
    reference = np.stack([r["scores"]["CTAC"] for r in results])
    save_figure(bland_altman_figure({m: np.stack([r["scores"][m] for r in results]) for m in METHODS}, reference,
                                    "17-segment scores against CTAC"), out / "fig6_bland_altman.png")
    save_figure(polar_correlation_figure({m: [r["maps"][m] for r in results] for m in METHODS},
                                         [r["maps"]["CTAC"] for r in results], title="polar-map pixels"),
                out / "fig7_correlation.png")


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:  # its name keeps the .npz, which np.savez would otherwise append
        np.savez_compressed(tmp, **arrays)



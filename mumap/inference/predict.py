"""``mumap predict``: the μ-map of a new patient from its nAC (or SC) reconstruction, in files a
reconstruction or viewing program reads.

Input: a NIfTI file (its kind given with ``kind``, default nac) or a DICOM folder of one study (the NM
series the model needs are found by their SeriesDescription, as :mod:`mumap.data.dicom` does). The input
must meet the model's contract (:class:`~mumap.inference.model_file.InputContract`): the image kinds it
was trained on, and its voxel size unless ``resample`` is asked, which is logged.

Output, in a folder written as a whole (a temporary folder renamed at the end, so a failed study leaves
nothing): ``mumap.nii.gz`` (cm⁻¹, on the input's grid with its affine), ``mumap.hv``/``.v`` (STIR-readable
Interfile), for DICOM input ``mumap.dcm`` (a new NM series in the input's study and Frame of Reference),
``mumap_std.nii.gz`` (cm⁻¹: the per-voxel uncertainty, Monte Carlo dropout,
:mod:`mumap.models.uncertainty`), ``preview.png`` (three orthogonal slices through the heart) and
``prediction.json`` (model, contract, the patient position a DICOM input states — a prone one is warned
about, as the bed template goes under the back — bed, uncertainty, the OOD score against the training cohort with the
features beyond its threshold — :mod:`mumap.evaluation.ood`, a warning is logged then — timings); with
``prac``: ``prac.nii.gz`` (the PRAC-corrected image), ``polar_map.png`` and the 17-segment scores, the LV
frame and whether it is uncertain, and how far a hot neighbour of the LV wall (liver, bowel) lies above the wall's
maximum in the polar map (``polar_extracardiac_excess``; a warning is logged for either) in ``prediction.json``.
The bed is put back from the model's bed template (the training cohort's mean bed under the back of the
input's body outline, filling air only), from a NIfTI bed μ-map of the scanner, or not at all.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydicom

from mumap.data import io
from mumap.data.bed import place_bed, reinsert_bed
from mumap.data.body import body_outline
from mumap.data.dicom import find_series, patient_position, series_volume
from mumap.data.dicom_writer import write_mu_map_series
from mumap.data.importer import Volume, check_spect_image, resample
from mumap.data.io import DatasetError
from mumap.evaluation.figures import bullseye_axes
from mumap.evaluation.ood import study_features
from mumap.inference.model_file import INPUT_KINDS, MuMapModel, check_voxel_size
from mumap.models.uncertainty import MC_PASSES, dropout_layers, normalised_uncertainty
from mumap.spect import interfile
from mumap.utils.atomic import atomic_path
from mumap.utils.plotting import plt, save_figure, slice_figure

if TYPE_CHECKING:
    from mumap.evaluation.polar import LVFrame

log = logging.getLogger(__name__)


@dataclass
class PatientInput:
    """One study's SPECT images (``kind → volume`` in counts, one grid) and where they came from."""

    images: dict[str, Volume]
    source: Path
    dicom_reference: pydicom.Dataset | None = None  # header of the nAC/SC series, for the DICOM output
    nifti_reference: Path | None = None  # the NIfTI file whose affine the output keeps
    position: str = ""  # PatientPosition (HFS, FFS, HFP, FFP) when the input says it (DICOM)

    @property
    def grid(self) -> Volume:
        return next(iter(self.images.values()))


def is_nifti(path: Path) -> bool:
    return path.name.endswith((".nii", ".nii.gz"))


def read_input(path: str | Path, model: MuMapModel, kind: str = "nac") -> PatientInput:
    """The images ``model`` needs from a NIfTI file (of ``kind``) or a DICOM folder of one study."""
    path = Path(path)
    needed = model.contract.inputs
    if is_nifti(path):
        if kind not in INPUT_KINDS:
            raise DatasetError(f"{path}: unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
        if needed != (kind,):
            instead = "a DICOM folder with those series" if len(needed) > 1 else f"that image with --kind {needed[0]}"
            raise DatasetError(f"{path}: the model {model.path} takes {' + '.join(needed)} "
                               f"({', '.join(INPUT_KINDS[k] for k in needed)}), but this input is {kind}; give "
                               f"{instead}, or use a model trained on {kind} (data.input={kind})")
        data, voxel, origin = io.load_nifti(path)
        return PatientInput({kind: Volume(data.astype(np.float32), voxel, origin, str(path))}, path,
                            nifti_reference=path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not found, or neither a NIfTI file (.nii, .nii.gz) nor a DICOM folder")
    series = find_series(path)
    if not series:
        raise DatasetError(f"{path}: no DICOM files found")
    studies = {str(s.header.get("StudyInstanceUID", "")) for s in series}
    if len(studies) > 1:
        raise DatasetError(f"{path}: holds {len(studies)} studies; give one study's folder (or use --batch on a "
                           f"folder of study folders)")
    roles = {}
    for s in series:
        if s.role in needed:
            if s.role in roles:
                raise DatasetError(f"{s.files[0]}: a second {s.role} series (also {roles[s.role].files[0]})")
            roles[s.role] = s
    missing = [k for k in needed if k not in roles]
    if missing:
        found = sorted({f"{s.header.get('Modality', '?')} '{s.header.get('SeriesDescription', '')}'" for s in series})
        raise DatasetError(f"{path}: no {' or '.join(missing)} reconstruction series (an NM series whose "
                           f"SeriesDescription names it, e.g. 'NAC'/'IRNC'{', with SC' if 'sc' in missing else ''}); "
                           f"found {', '.join(found)}")
    images = {kind: series_volume(roles[kind]) for kind in needed}
    first = images[needed[0]]
    for kind, volume in images.items():
        if volume.data.shape != first.data.shape or not np.allclose(volume.voxel_zyx_mm, first.voxel_zyx_mm):
            raise DatasetError(f"{volume.source}: the {kind} series is not on the grid of {first.source}")
    reference = pydicom.dcmread(roles[needed[0]].files[0], stop_before_pixels=True)
    return PatientInput(images, path, dicom_reference=reference, position=patient_position(reference))


@dataclass
class Prediction:
    """One study's prediction on the input's grid: the μ-map with the bed and the bed alone (cm⁻¹), the Monte
    Carlo dropout standard deviation (cm⁻¹, ``None`` without passes) and facts for ``prediction.json``."""

    mu: np.ndarray
    bed: np.ndarray
    std: np.ndarray | None
    facts: dict


def predict_mu_map(model: MuMapModel, patient: PatientInput, *, resample_input: bool = False,
                   bed: str | Path = "template", passes: int = MC_PASSES) -> Prediction:
    """The μ-map of ``patient`` on its grid. ``bed``: ``template`` (the model's), ``none``, or a NIfTI bed μ-map
    (cm⁻¹, resampled onto the input grid); ``passes``: Monte Carlo dropout passes for the uncertainty (0: none)."""
    for kind, volume in patient.images.items():
        check_spect_image(volume, kind)
    grid = patient.grid
    resampled = check_voxel_size(model, grid.voxel_zyx_mm, grid.source, resample=resample_input)
    images = np.stack([patient.images[k].data for k in model.contract.inputs])
    if resampled:
        voxel = model.contract.voxel_zyx_mm
        shape = tuple(max(1, round(n * h / v))
                      for n, h, v in zip(grid.data.shape, grid.voxel_zyx_mm, voxel, strict=True))
        images = np.stack([resample(Volume(c, grid.voxel_zyx_mm, grid.origin_zyx_mm, grid.source), shape, voxel,
                                    grid.origin_zyx_mm) for c in images])
    mu = model.predict(images)
    if passes and not dropout_layers(model.generator):
        log.warning(f"{model.path}: its generator has no dropout, so no uncertainty map (Monte Carlo dropout)")
        passes = 0
    std = model.uncertainty(images, passes) if passes else None
    ood = model.ood.assess(study_features(images[0], model.contract.voxel_zyx_mm, grid.origin_zyx_mm))
    if bed == "template":
        if model.bed_profile is None:
            raise DatasetError(f"{model.path}: holds no bed template; pass --bed none or --bed <bed μ-map .nii.gz>")
        bed_mu = place_bed(body_outline(images[0]), model.bed_profile, model.contract.voxel_zyx_mm)
    else:
        bed_mu = np.zeros_like(mu)
    if resampled:
        back = (grid.data.shape, grid.voxel_zyx_mm, grid.origin_zyx_mm)
        mu, bed_mu, std = (None if volume is None else resample(
            Volume(volume, model.contract.voxel_zyx_mm, grid.origin_zyx_mm, name), *back)
            for volume, name in ((mu, "prediction"), (bed_mu, "bed"), (std, "uncertainty")))
    if bed not in ("template", "none"):
        data, voxel, origin = io.load_nifti(bed)
        bed_mu = resample(Volume(data.astype(np.float32), voxel, origin, str(bed)), grid.data.shape, grid.voxel_zyx_mm,
                          grid.origin_zyx_mm)
        if bed_mu.min() < 0 or bed_mu.max() > 1:
            raise DatasetError(f"{bed}: bed μ-map values {bed_mu.min():.3g}…{bed_mu.max():.3g} are not cm⁻¹")
    facts = {"resampled": resampled, "bed": str(bed), "bed_mu_sum": float(bed_mu.sum()), "ood": ood}
    if std is not None:
        facts["uncertainty"] = {"method": "Monte Carlo dropout", "passes": passes,
                                "mean_std_cm-1": float(std.mean()), "normalised": normalised_uncertainty(std, mu)}
    # a template is a mean bed: it fills the air under the body, never tissue; a scanner's bed μ-map is exact
    with_bed = np.maximum(mu, bed_mu) if bed == "template" else reinsert_bed(mu, bed_mu)
    return Prediction(with_bed, bed_mu, std, facts)


def heart_index(image: np.ndarray) -> tuple[int, int, int]:
    """The voxel ``(z, y, x)`` at the centre of the hottest 0.5 % of the image (the myocardium in MPI)."""
    hot = np.argwhere(image >= np.quantile(image, 0.995))
    return tuple(int(v) for v in np.round(hot.mean(axis=0)))


def predict_study(model: MuMapModel, source: str | Path, out: str | Path, *, kind: str = "nac",
                  resample_input: bool = False, bed: str | Path = "template", prac: bool = False,
                  lv_frame: dict | None = None, passes: int = MC_PASSES, overwrite: bool = False,
                  prac_backend: str = "native") -> Path:
    """Predict one study and write its output folder ``out`` (see the module docstring); returns ``out``.
    ``lv_frame`` (``centre_xyz_mm``, ``long_axis``: world mm) is a reader's LV frame for the polar map;
    ``prac_backend``: who runs PRAC (native, stir or pytomography; :func:`mumap.spect.prac.prac_backend`)."""
    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out}: already exists; choose another output or pass --overwrite")
    patient = read_input(source, model, kind)
    prediction = predict_mu_map(model, patient, resample_input=resample_input, bed=bed, passes=passes)
    mu, facts = prediction.mu, prediction.facts
    if facts["ood"]["out_of_distribution"]:
        log.warning(f"{patient.source}: outside the model's training cohort (OOD score {facts['ood']['score']:.1f} > "
                    f"{facts['ood']['threshold']:.1f}): {model.ood.describe(facts['ood']['beyond'])}; check the μ-map "
                    "and its uncertainty (mumap_std.nii.gz)")
    if patient.position.endswith("P") and bed == "template":
        log.warning(f"{patient.source}: the patient lies prone ({patient.position}); the model learnt from supine "
                    "studies and its bed template goes under the back: check the μ-map, or pass --bed none or the "
                    "scanner's bed μ-map (--bed)")
    grid, first = patient.grid, model.contract.inputs[0]
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.mkdir()
        outputs = {"mumap.nii.gz": mu, "mumap_std.nii.gz": prediction.std}
        for name, volume in ((name, volume) for name, volume in outputs.items() if volume is not None):
            if patient.nifti_reference:
                io.save_nifti_like(tmp / name, volume, patient.nifti_reference)
            else:
                io.save_nifti(tmp / name, volume, grid.voxel_zyx_mm, grid.origin_zyx_mm)
        interfile.write_image(tmp / "mumap.hv", mu, grid.voxel_zyx_mm)
        if patient.dicom_reference is not None:
            write_mu_map_series(tmp / "mumap.dcm", mu, grid.voxel_zyx_mm, grid.origin_zyx_mm, patient.dicom_reference)
        centre = heart_index(patient.images[first].data)
        image = patient.images[first].data
        columns = {f"input ({first})": (image, "gray", float(image.max()), "counts"),
                   "predicted μ-map": (mu, "gray", max(float(mu.max()), 1e-6), "μ (cm⁻¹)")}
        record = {"source": str(patient.source), "model": str(model.path), "model_mumap_version": model.mumap_version,
                  "contract": model.contract.describe(), "kind": first, "shape_zyx": list(mu.shape),
                  "voxel_zyx_mm": list(grid.voxel_zyx_mm), "origin_zyx_mm": list(grid.origin_zyx_mm),
                  "patient_position": patient.position, **facts,
                  "mu_max_cm-1": float(mu.max())}
        if prac:
            from mumap.evaluation.polar import EXTRACARDIAC_EXCESS_MAX

            corrected, scores, frame, excess = _prac_and_polar(image, mu, grid, tmp, lv_frame, prac_backend)
            columns["PRAC (DLAC)"] = (corrected, "gray", float(corrected.max()), "counts")
            record["segment_scores_percent"] = [round(float(s), 2) for s in scores]
            record["prac_backend"] = prac_backend
            record.update(lv_frame=frame.to_dict(), lv_uncertain=frame.uncertain, polar_extracardiac_excess=excess)
            if frame.uncertain:
                log.warning(f"{patient.source}: the automatic LV frame is uncertain (score {frame.score:.2f}, a rival "
                            f"{frame.rival_score:.2f}); check polar_map.png and give the frame by hand "
                            "(--lv-centre, --lv-axis) if it is wrong")
            if excess > EXTRACARDIAC_EXCESS_MAX:
                log.warning(f"{patient.source}: activity outside the myocardium (liver, bowel) reaches into the LV "
                            f"wall, {excess:.0%} above the wall's maximum; polar_map.png is scaled to the wall, and "
                            "the segments beside it read too high")
        save_figure(slice_figure(columns, grid.voxel_zyx_mm, centre, title=f"{patient.source.name}: predicted μ-map"),
                    tmp / "preview.png")
        record["seconds"] = round(time.perf_counter() - start, 2)
        (tmp / "prediction.json").write_text(json.dumps(record, indent=1))
    return out


def _prac_and_polar(image: np.ndarray, mu: np.ndarray, grid: Volume, folder: Path, given_frame: dict | None = None,
                    backend: str = "native") -> tuple[np.ndarray, np.ndarray, LVFrame, float]:
    """PRAC (by ``backend``) of the input with the predicted μ-map (``prac.nii.gz``) and its polar map
    (``polar_map.png``) in the automatic LV frame or the reader's ``given_frame``; returns the corrected image, the
    17 segment scores (%), the LV frame and how far a hot neighbour of the wall lies above its maximum
    (:func:`~mumap.evaluation.polar.extracardiac_excess`)."""
    from mumap.evaluation.polar import EXTRACARDIAC_EXCESS_MAX, extracardiac_excess, lv_frame, polar_map, segment_scores
    from mumap.spect.geometry import ImageGrid
    from mumap.spect.prac import prac_backend

    prac = prac_backend(backend, ImageGrid(image.shape, tuple(float(v) for v in grid.voxel_zyx_mm)))
    corrected = prac(image, mu).numpy()
    io.save_nifti(folder / "prac.nii.gz", corrected, grid.voxel_zyx_mm, grid.origin_zyx_mm)
    frame = lv_frame(corrected, grid.voxel_zyx_mm, grid.origin_zyx_mm, given_frame, same_acquisition=[image])
    polar = polar_map(corrected, frame, grid.voxel_zyx_mm, grid.origin_zyx_mm)
    excess = extracardiac_excess(corrected, frame, grid.voxel_zyx_mm, grid.origin_zyx_mm)
    warnings = [text for text, shown in (("LV frame UNCERTAIN", frame.uncertain),
                                         ("HOT NEIGHBOUR", excess > EXTRACARDIAC_EXCESS_MAX)) if shown]
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    bullseye_axes(ax, polar, "DLAC polar map (% of wall max)" + "".join(f" — {text}" for text in warnings))
    save_figure(fig, folder / "polar_map.png")
    return corrected, segment_scores(polar), frame, excess


def batch_entries(folder: str | Path) -> list[Path]:
    """The studies of a batch folder: its NIfTI files and its sub-folders (DICOM studies), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: --batch needs a folder of studies (NIfTI files or DICOM study folders)")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or is_nifti(p)))
    if not entries:
        raise DatasetError(f"{folder}: no NIfTI files or study folders in it")
    return entries


def study_name(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".nii")


def predict_batch(model: MuMapModel, folder: str | Path, out: str | Path, *, progress: bool = True,
                  overwrite: bool = False, **options) -> dict[str, str]:
    """Predict every study of ``folder`` into ``out/<study>`` with a progress bar, continuing past failed
    studies; studies already predicted are skipped unless ``overwrite`` (so a killed batch resumes).
    Returns ``{study: error}`` of the failures."""
    from rich.progress import Progress

    entries = batch_entries(folder)
    failures: dict[str, str] = {}
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("predicting μ-maps", total=len(entries))
        for entry in entries:
            target = Path(out) / study_name(entry)
            if overwrite or not target.exists():
                try:
                    predict_study(model, entry, target, overwrite=overwrite, **options)
                except Exception as err:  # one bad study must not stop the batch; each is reported
                    failures[str(entry)] = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
                    log.error(f"{entry}: {failures[str(entry)]}")
            bar.advance(task)
    return failures

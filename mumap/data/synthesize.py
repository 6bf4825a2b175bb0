"""The synthetic IQ·SPECT cohort: phantoms → acquisitions → OSEM nAC / SC / CTAC → the dataset contract.

One study: render the patient's phantom on a grid ``supersampling`` times finer than the
reconstruction grid, acquire it from there with the IQ·SPECT model (multifocal collimator with its hole
geometry's response, 28 cm cardio-centric orbit about the heart, the Symbia crystal's 53.3 × 38.7 cm field
of view with truncation, attenuation, patient-dependent scatter in two energy windows, Poisson noise at
clinical counts) on a detector as fine, binned to the clinical pixels; then reconstruct on the clinical
grid — its own discretisation, not the simulator's: no inverse crime — with OSEM 10 × 3 without
attenuation (nAC), with the TEW scatter estimate (SC) and with the μ-map averaged onto the clinical grid
(partial-volume edges, as a CT resampled to SPECT) and the TEW estimate (CTAC), crop everything to a
random "CT axial extent" around the heart (23–82 slices of 4.8 mm in the paper: 110–394 mm) and write
the study folder. ``truth.json`` records the true photopeak scatter fraction and the smallest
body-to-detector clearance; a preset whose patients cannot fit inside the orbit is refused before
anything is built. Every study has its own random stream derived from (seed, study index), and runs on one
thread, so a cohort is bit-identical whatever the number of workers, and a killed run resumes
where it stopped: a study folder appears under its final name only when complete. Processes that
build one cohort at once (DDP ranks, Slurm array tasks) take turns on a lock file in the cohort
folder: the first builds, the others wait and find it done.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock, Timeout
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

import mumap
from mumap.data import io
from mumap.data.body import AIR_MU_MAX
from mumap.data.hard import HARD_CASES, hard_anatomy, hard_defects, hard_patient, hard_uptake
from mumap.data.phantom import (
    CT_VOXEL_MM3,
    Anatomy,
    LVTruth,
    Patient,
    ScanConditions,
    Uptake,
    render,
    sample_accepted_uptake,
    sample_anatomy,
    sample_defects,
    sample_patients,
    sample_scan,
)
from mumap.spect.attenuation import MU_140KEV, MU_WATER_140KEV
from mumap.spect.geometry import Acquisition, Collimator, ImageGrid, block_mean
from mumap.spect.osem import osem
from mumap.spect.projector import SPECTProjector
from mumap.spect.scatter import LOWER_WINDOW_KEV, PHOTOPEAK_KEV, ScatterModel, tew_scatter_estimate
from mumap.spect.simulate import SimulatedAcquisition, simulate_acquisition
from mumap.utils.atomic import atomic_path, write_csv_atomic, write_text_atomic
from mumap.utils.parallel import map_jobs

IMAGE_FILES = ("nac", "sc", "ctac", "mumap", "bed")
TMP_SUFFIX = ".tmp"  # a study folder is built as <id>.tmp and renamed to <id> when complete

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """Cohort size and geometry. ``grid`` is the reconstruction grid; the phantom is rendered and projected
    on ``grid.refined(supersampling)`` with a detector as fine. ``detector_shape`` is the acquisition
    matrix; only its pixels on the crystal (``field_of_view_vu_cm``) record counts."""

    name: str
    n_patients: int
    n_studies: int
    grid: ImageGrid
    detector_shape: tuple[int, int]
    pixel_vu_mm: tuple[float, float] = (4.8, 4.8)
    field_of_view_vu_cm: tuple[float, float] = (38.7, 53.3)  # Symbia crystal, axial × transaxial
    radius_cm: float = 28.0  # IQ·SPECT's fixed cardio-centric orbit radius
    supersampling: int = 2
    counts: tuple[float, float] = (3e6, 6e6)  # photopeak counts per study, uniform range
    crop_mm: tuple[float, float] = (110.0, 394.0)  # CT axial extent (23–82 slices of 4.8 mm)
    defect_probability: float = 0.7  # calibrated against the paper's R (docs/REALISM.md)
    iterations: int = 10
    subsets: int = 3
    hard: bool = False  # one hard case per patient (mumap.data.hard.HARD_CASES, in turn), all in the test split

    def acquisition(self, rotation_centre_zyx_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Acquisition:
        """The IQ·SPECT acquisition of this preset about ``rotation_centre_zyx_mm`` (the heart)."""
        return Acquisition(collimator=Collimator(kind="multifocal"), radius_cm=self.radius_cm,
                           rotation_centre_zyx_mm=rotation_centre_zyx_mm, detector_shape=self.detector_shape,
                           pixel_vu_mm=self.pixel_vu_mm, field_of_view_vu_cm=self.field_of_view_vu_cm)


PRESETS = {
    "tiny": Preset("tiny", 6, 8, ImageGrid((24, 48, 48), (9.6, 9.6, 9.6)), (40, 56), pixel_vu_mm=(9.6, 9.6),
                   iterations=4),
    "quick": Preset("quick", 34, 48, ImageGrid((40, 80, 80), (6.4, 6.4, 6.4)), (60, 84), pixel_vu_mm=(6.4, 6.4)),
    "paper": Preset("paper", 103, 150, ImageGrid((84, 128, 128), (4.8, 4.8, 4.8)), (128, 128)),
    # the quick cohort's geometry, two patients of every hard case, one study each
    "hard": Preset("hard", 2 * len(HARD_CASES), 2 * len(HARD_CASES), ImageGrid((40, 80, 80), (6.4, 6.4, 6.4)),
                   (60, 84), pixel_vu_mm=(6.4, 6.4), hard=True),
}


@dataclass(frozen=True)
class StudyPlan:
    """What one study is: its id, patient, protocol and split."""

    index: int
    study_id: str
    patient: Patient
    protocol: str
    split: str
    case: str | None = None  # the hard case (mumap.data.hard) of a hard preset's patient


def plan_cohort(preset: Preset, seed: int) -> list[StudyPlan]:
    """Patients, their studies (some patients have stress and rest) and the patient-level 70:15:15 split."""
    if preset.n_studies < preset.n_patients or preset.n_studies > 2 * preset.n_patients:
        raise ValueError(f"preset {preset.name}: n_studies must be between n_patients and twice that")
    rng = np.random.default_rng([seed, 0])
    patients = sample_patients(preset.n_patients, rng)
    order = rng.permutation(preset.n_patients)
    n_train, n_val = (0, 0) if preset.hard else (round(0.70 * preset.n_patients), round(0.15 * preset.n_patients))
    cases = {}
    if preset.hard:
        cases = {p.patient_id: HARD_CASES[i % len(HARD_CASES)] for i, p in enumerate(patients)}
        patients = [hard_patient(p, cases[p.patient_id], np.random.default_rng([seed, 4, i]))
                    for i, p in enumerate(patients)]
    split = {patients[i].patient_id: ("train" if r < n_train else "val" if r < n_train + n_val else "test")
             for r, i in enumerate(order)}
    two_studies = set(rng.choice(preset.n_patients, preset.n_studies - preset.n_patients, replace=False).tolist())
    plans = []
    for p, patient in enumerate(patients):
        protocols = ["stress", "rest"] if p in two_studies else [str(rng.choice(["stress", "rest"]))]
        for protocol in protocols:
            index = len(plans)
            plans.append(StudyPlan(index, f"S{index:04d}", patient, protocol, split[patient.patient_id],
                                   cases.get(patient.patient_id)))
    return plans


def body_and_bed(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(body, bed)`` masks of a phantom's μ-map as rendered (exact table values, no partial volume)."""
    bed = np.isclose(mu, MU_140KEV["bed"])
    return (mu > AIR_MU_MAX) & ~bed, bed


def check_patients_fit(preset: Preset, plans: list[StudyPlan], seed: int) -> None:
    """Refuse a preset whose orbit would put a detector inside a patient (from a phantom at twice the voxel
    size: ±1 voxel of the exact clearance, which each study records from its fine phantom)."""
    coarse = ImageGrid(tuple(max(n // 2, 1) for n in preset.grid.shape), tuple(2 * h for h in preset.grid.voxel_zyx_mm))
    seen = set()
    for plan in plans:
        if plan.patient.patient_id in seen:
            continue
        seen.add(plan.patient.patient_id)
        anatomy = patient_anatomy(plan, seed)
        body, _ = body_and_bed(render(coarse, anatomy, Uptake())[1])
        clearance = preset.acquisition(anatomy.heart_centre_xyz_mm[::-1]).body_clearance_mm(coarse, body)
        if clearance < 0:
            p = plan.patient
            raise ValueError(
                f"preset {preset.name!r}: patient {p.patient_id} ({p.sex}, {p.height_cm} cm, {p.weight_kg} kg) does "
                f"not fit in the {preset.radius_cm} cm orbit: a detector would be {-clearance:.0f} mm inside the "
                f"body; use a larger radius_cm or smaller patients"
            )


def patient_anatomy(plan: StudyPlan, seed: int) -> Anatomy:
    """The anatomy of a study's patient: the same for all studies of that patient."""
    number = int(plan.patient.patient_id[1:])
    anatomy = sample_anatomy(plan.patient, np.random.default_rng([seed, 1, number]))
    if plan.case is None:
        return anatomy
    return hard_anatomy(anatomy, plan.case, np.random.default_rng([seed, 5, number]))


def study_uptake(preset: Preset, plan: StudyPlan, seed: int, anatomy: Anatomy, rng: np.random.Generator
                 ) -> tuple[Uptake, int]:
    """A study's uptake as accepted for reading (:func:`~mumap.data.phantom.sample_accepted_uptake`) and how
    often its acquisition was repeated: the patient's perfusion defect (one draw per patient, so that stress and
    rest agree: fixed in both, or reversible) at the study's protocol, the other tissues drawn for the study from
    ``rng``; a hard case then makes it hard (after the check, as a study read despite it)."""
    number = int(plan.patient.patient_id[1:])
    defects = sample_defects(np.random.default_rng([seed, 3, number]), preset.defect_probability)
    if plan.case is not None:
        defects = hard_defects(defects, plan.case, np.random.default_rng([seed, 6, number]))
    uptake, repeats = sample_accepted_uptake(plan.protocol, rng, defects[plan.protocol], preset.grid, anatomy)
    return (uptake if plan.case is None else hard_uptake(uptake, plan.case, rng)), repeats


@dataclass
class StudyPhantom:
    """A study's phantom: activity (as the SPECT sees it) and μ on the fine simulation grid, the μ-map and bed
    mask as the clinical grid sees them (partial volume, CT noise), the LV truth and the smallest
    body-to-detector gap of its orbit."""

    fine_grid: ImageGrid
    activity: np.ndarray  # [z, y, x] on fine_grid, relative uptake (myocardium = 1)
    fine_mu: np.ndarray  # [z, y, x] on fine_grid, cm⁻¹
    mu: np.ndarray  # [z, y, x] on the preset's grid, cm⁻¹: fine_mu averaged, with CT noise
    bed: np.ndarray  # [z, y, x] on the preset's grid, bool
    truth: LVTruth
    acquisition: Acquisition
    clearance_mm: float


def render_study(preset: Preset, anatomy: Anatomy, uptake: Uptake, scan: ScanConditions | None = None,
                 rng: np.random.Generator | None = None) -> StudyPhantom:
    """Render a study's phantom on ``preset.grid.refined(preset.supersampling)`` and average its μ onto the grid.

    The bed mask marks the clinical voxels that hold some pallet and less than half body. The μ-map gets the
    CT's noise (``scan.ct_noise_hu``, from ``rng``): the noise of a CT voxel (:data:`CT_VOXEL_MM3`), converted
    to 140.5 keV as the water-scaled HU → μ conversion of soft tissue does (σ_μ = μ_water · σ_HU / 1000), falls
    with the square root of the number of CT voxels averaged into a reconstruction voxel (Kalender, Computed
    Tomography, 3rd ed. 2011, ch. 5: σ² ∝ 1 / (voxel volume · dose)); it is added where there is matter.
    """
    scan = scan or ScanConditions()
    factor = preset.supersampling
    fine_grid = preset.grid.refined(factor)
    activity, fine_mu, truth = render(fine_grid, anatomy, uptake, scan)
    fine_body, fine_bed = body_and_bed(fine_mu)
    acquisition = preset.acquisition(anatomy.heart_centre_xyz_mm[::-1])
    mu = block_mean(fine_mu, factor)
    if scan.ct_noise_hu > 0:
        if rng is None:
            raise ValueError("render_study: CT noise needs a random generator (rng)")
        sigma = MU_WATER_140KEV * scan.ct_noise_hu / 1000.0 * np.sqrt(CT_VOXEL_MM3 / np.prod(preset.grid.voxel_zyx_mm))
        mu = np.where(mu > 0, np.maximum(mu + rng.normal(0.0, sigma, mu.shape), 0.0), 0.0)
    return StudyPhantom(
        fine_grid, activity, fine_mu, mu.astype(np.float32),
        (block_mean(fine_bed, factor) > 0) & (block_mean(fine_body, factor) < 0.5), truth, acquisition,
        acquisition.body_clearance_mm(fine_grid, fine_body),
    )


def acquire_study(preset: Preset, phantom: StudyPhantom, counts: float,
                  generator: torch.Generator | None = None) -> SimulatedAcquisition:
    """The IQ·SPECT acquisition of a phantom, simulated on the fine grid with a detector as fine, binned to the
    preset's detector, with patient-dependent scatter and Poisson noise at ``counts`` photopeak counts."""
    factor = preset.supersampling
    # one view per subset bounds the memory to one view's rays; two sub-samples per fine voxel are the same
    # quadrature step (¼ of a clinical voxel) as the reconstruction's four; rays are sampled only as far
    # from the axis as the phantom reaches (the bed included)
    support = phantom.acquisition.support_radius_cm(phantom.fine_grid, phantom.fine_mu > 0)
    simulator = SPECTProjector(phantom.fine_grid, phantom.acquisition.supersampled(factor),
                               n_subsets=phantom.acquisition.n_views, depth_subsamples=2, support_radius_cm=support)
    return simulate_acquisition(simulator, phantom.activity, phantom.fine_mu, total_counts=counts,
                                scatter=ScatterModel(), detector_binning=factor, generator=generator)


def synthesize_study(preset: Preset, plan: StudyPlan, seed: int, study_dir: Path, montage: bool = False) -> dict:
    """Simulate, reconstruct and write one study into ``study_dir`` (atomically); returns its csv row."""
    study_rng = np.random.default_rng([seed, 2, plan.index])
    anatomy = patient_anatomy(plan, seed)
    uptake, repeats = study_uptake(preset, plan, seed, anatomy, study_rng)
    scan = sample_scan(study_rng)
    grid = preset.grid
    phantom = render_study(preset, anatomy, uptake, scan, study_rng)
    if phantom.clearance_mm < 0:
        raise ValueError(f"{study_dir}: a detector of the {preset.radius_cm} cm orbit lies "
                         f"{-phantom.clearance_mm:.0f} mm inside patient {plan.patient.patient_id}")
    counts = float(study_rng.uniform(*preset.counts))
    data = acquire_study(preset, phantom, counts, torch.Generator().manual_seed(int(study_rng.integers(2**62))))
    acquisition, mu, truth = phantom.acquisition, phantom.mu, phantom.truth
    scatter = tew_scatter_estimate(data.lower_window, acquisition.pixel_vu_mm)
    scanner = SPECTProjector(grid, acquisition, n_subsets=preset.subsets)
    attenuating = scanner.with_attenuation(mu)
    recon = {
        "nac": osem(scanner, data.photopeak, n_iterations=preset.iterations),
        "sc": osem(scanner, data.photopeak, additive=scatter, n_iterations=preset.iterations),
        "ctac": osem(attenuating, data.photopeak, additive=scatter, n_iterations=preset.iterations),
    }

    first, last = _ct_extent(grid, anatomy.heart_centre_xyz_mm[2], preset.crop_mm, study_rng)
    images = {name: image.numpy()[first:last] for name, image in recon.items()}
    images["mumap"] = mu[first:last]
    images["bed"] = phantom.bed[first:last].astype(np.uint8)
    origin_zyx_mm = (float(grid.centres_mm(0)[first]), float(grid.centres_mm(1)[0]), float(grid.centres_mm(2)[0]))

    # <id>.tmp: what a resumed run clears (_synthesize_locked) before it builds the missing studies
    with atomic_path(study_dir, tmp_name=study_dir.name + TMP_SUFFIX) as tmp:
        tmp.mkdir()
        for name, image in images.items():
            io.save_nifti(tmp / f"{name}.nii.gz", image, grid.voxel_zyx_mm, origin_zyx_mm)
        np.savez_compressed(tmp / "projections.npz", photopeak=data.photopeak.numpy().astype(np.int32),
                            lower_window=data.lower_window.numpy().astype(np.int32),
                            angles_deg=acquisition.angles_deg)
        meta = {"study_id": plan.study_id, "patient": asdict(plan.patient), "protocol": plan.protocol,
                "case": plan.case, "counts": counts, "anatomy": asdict(anatomy), "uptake": asdict(uptake),
                "repeated_acquisitions": repeats, "scan": asdict(scan),
                "lv": truth.to_dict(),
                "slices": [first, last], "acquisition": _acquisition_dict(acquisition),
                "scatter_fraction": round(data.scatter_fraction, 6), "clearance_mm": round(phantom.clearance_mm, 1)}
        (tmp / "truth.json").write_text(json.dumps(meta, indent=1))
        if montage:
            from mumap.data.montage import study_montage

            study_montage(tmp, tmp / "montage.png", data.photopeak.numpy())
    return study_row(plan, study_dir)


def study_row(plan: StudyPlan, study_dir: Path) -> dict:
    """The ``studies.csv`` row of a study written to ``study_dir`` (its ``truth.json`` gives the clearance)."""
    p, folder = plan.patient, study_dir.name
    truth = json.loads((study_dir / "truth.json").read_text())
    row = {"id": plan.study_id, "patient_id": p.patient_id, "protocol": plan.protocol, "sex": p.sex, "age": p.age,
           "height_cm": p.height_cm, "weight_kg": p.weight_kg, "split": plan.split,
           "clearance_mm": truth["clearance_mm"]}
    row.update({name: f"{folder}/{name}.nii.gz" for name in IMAGE_FILES})
    row.update({"projections": f"{folder}/projections.npz", "truth": f"{folder}/truth.json"})
    return row


def synthesize(
    preset_name: str, out: str | Path, *, seed: int = 0, workers: int = 1, montage: bool = False,
    progress: bool = True,
) -> Path:
    """Build (or finish building) a cohort in ``out``; returns the path of its ``studies.csv``."""
    if preset_name not in PRESETS:
        raise ValueError(f"unknown preset {preset_name!r}: choose one of {', '.join(PRESETS)}")
    preset, out = PRESETS[preset_name], Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / ".synthesize.lock")  # released by the OS if the process is killed
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning(f"{out}: another process is building this cohort; waiting for it to finish")
        lock.acquire()
    try:
        return _synthesize_locked(preset, out, seed, workers, montage, progress)
    finally:
        lock.release()


def _synthesize_locked(preset: Preset, out: Path, seed: int, workers: int, montage: bool, progress: bool) -> Path:
    description = _dataset_description(preset, seed)
    manifest = out / "dataset.json"
    if manifest.exists():
        existing = json.loads(manifest.read_text())
        if (existing.get("preset"), existing.get("seed")) != (preset.name, seed):
            raise ValueError(f"{manifest}: {out} holds preset {existing.get('preset')!r} with seed "
                             f"{existing.get('seed')}, not {preset.name!r} with seed {seed}: choose another --out")
        if existing.get("generator") != description["generator"]:
            raise ValueError(f"{manifest}: {out} was built by {existing.get('generator')!r}, whose simulation "
                             f"differs from {description['generator']!r}: delete the folder to rebuild it, or "
                             f"choose another --out")
    write_text_atomic(manifest, json.dumps(description, indent=1))
    for stale in out.glob("*" + TMP_SUFFIX):  # half-written studies of a killed run
        shutil.rmtree(stale)
    plans = plan_cohort(preset, seed)
    todo = [plan for plan in plans if not (out / plan.study_id).is_dir()]
    if todo:
        check_patients_fit(preset, plans, seed)
    with Progress(TextColumn(f"synthesizing {preset.name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("studies", total=len(plans), completed=len(plans) - len(todo))
        map_jobs(synthesize_study, [(preset, plan, seed, out / plan.study_id, montage) for plan in todo], workers,
                 lambda: bar.advance(task))  # each study on one thread: bit-identical results
    rows = [study_row(plan, out / plan.study_id) for plan in plans]
    return write_csv_atomic(out / "studies.csv", rows)


def _ct_extent(grid: ImageGrid, heart_z_mm: float, crop_mm: tuple[float, float], rng: np.random.Generator,
               margin: int = 2) -> tuple[int, int]:
    """Slice range [first, last) of a random CT axial extent that contains the heart.

    The ``margin`` outermost slices of the simulation grid are never kept: OSEM edge slices see
    fewer rays and come out noisy and hot, which a real, longer patient would not show.
    """
    nz, dz = grid.shape[0], grid.voxel_zyx_mm[0]
    n = int(np.clip(round(rng.uniform(*crop_mm) / dz), 1, nz - 2 * margin))
    heart = int(np.argmin(np.abs(grid.centres_mm(0) - heart_z_mm)))
    lo, hi = max(margin, heart - n + 1 + n // 4), min(nz - margin - n, heart - n // 4)
    first = int(rng.integers(min(lo, hi), max(lo, hi) + 1))
    return first, first + n


def _acquisition_dict(acquisition: Acquisition) -> dict:
    return {**asdict(acquisition), "angles_deg": acquisition.angles_deg.tolist()}


def _dataset_description(preset: Preset, seed: int) -> dict:
    template = preset.acquisition()
    scatter = ScatterModel()
    fine = preset.grid.refined(preset.supersampling)
    return {
        "generator": f"mumap {mumap.__version__} synthetic IQ·SPECT cohort",
        "preset": preset.name,
        "seed": seed,
        "n_patients": preset.n_patients,
        "n_studies": preset.n_studies,
        "voxel_zyx_mm": list(preset.grid.voxel_zyx_mm),
        "reconstruction_grid": list(preset.grid.shape),
        "simulation": {
            "grid": list(fine.shape), "voxel_zyx_mm": list(fine.voxel_zyx_mm),
            "detector_shape": list(template.supersampled(preset.supersampling).detector_shape),
            "binned_by": preset.supersampling,
            "collimator_response": "hole geometry d(l_e + t)/l_e in the patient, magnified onto the detector, "
                                   "intrinsic FWHM added there (mumap.spect.geometry.Collimator)",
            "scatter": {"model": "build-up along each ray from the μ-map's optical depth, Klein–Nishina window "
                                 "split, energy resolution (mumap.spect.scatter.ScatterModel)",
                        **asdict(scatter), "single_scatter_ratio": scatter.single_scatter_ratio,
                        "primary_spill": scatter.primary_spill},
            "mumap": "the fine phantom's μ averaged onto the reconstruction grid (partial volume)",
        },
        "axis_order": "NIfTI (x, y, z) on disk, RAS affine in mm; mumap arrays are [z, y, x]",
        "energy_keV": 140.5,
        "windows_keV": {"photopeak": list(PHOTOPEAK_KEV), "lower_scatter": list(LOWER_WINDOW_KEV)},
        "acquisition": {k: v for k, v in _acquisition_dict(template).items() if k != "rotation_centre_zyx_mm"},
        "rotation_centre": "the LV centre of each study (cardio-centric orbit)",
        "reconstruction": {"algorithm": "OSEM", "iterations": preset.iterations, "subsets": preset.subsets},
        "units": {"nac": "counts", "sc": "counts", "ctac": "counts", "mumap": "cm^-1", "bed": "mask"},
        "crop_mm": list(preset.crop_mm),
    }

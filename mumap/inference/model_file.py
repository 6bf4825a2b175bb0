"""The self-contained model file: what ``mumap export`` writes and ``mumap predict`` reads.

One ``torch.save`` file of tensors and plain data only, so it loads with ``weights_only=True``. It holds the
generator's weights and its config (``_target_`` and arguments, built with ``hydra.utils.instantiate``; a
class outside ``mumap.`` — code from elsewhere — is built only when the user trusts the file), the training
config (resolved), the input contract — voxel size (mm), orientation, input kinds (nac/sc, one channel
each), units — the normalisation (kind, per image, and the training images' count statistics), the bed
template of the training cohort (:func:`mumap.data.bed.bed_profile`, relative to the nAC body
outline, where ``mumap predict`` puts it), the training cohort's OOD reference
(:class:`~mumap.evaluation.ood.OODReference`: feature statistics of the train split, threshold from the val
split), the mumap version and where it came from. Nothing else is needed to predict.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

import mumap
from mumap.data import io
from mumap.data.bed import bed_profile, read_bed_mask
from mumap.data.body import body_outline
from mumap.data.io import DatasetError
from mumap.evaluation.ood import OODReference, cohort_reference
from mumap.models.prediction import predict_mu_map
from mumap.models.uncertainty import MC_PASSES, mc_dropout_std
from mumap.training.checkpoints import run_config, run_dir_of
from mumap.utils.atomic import atomic_path

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "mumap-model", 5  # 2: the generator as its config (`_target_`) + weights; 3: + OOD reference;
# 4: the OOD feature `hot_beside_lv` in place of `hot_outside_lv`; 5: the LV's position in the body on an outline a hot
# liver cannot shrink (`ood.POSITION_OUTLINE_FRACTION`)
TRUSTED_TARGETS = ("mumap.",)  # generator classes a model file may name without --trust-code
ORIENTATION = "axial, axis-aligned; arrays [z, y, x] in DICOM LPS (NIfTI: RAS affine)"
INPUT_KINDS = {"nac": "non-attenuation-corrected reconstruction", "sc": "scatter-corrected nAC reconstruction"}


class ModelFileError(ValueError):
    """A model file (or the checkpoint it is exported from) is missing, unreadable or not a mumap model."""


@dataclass(frozen=True)
class InputContract:
    """What a model's input must be: the grid it was trained on and the kind of each input channel."""

    voxel_zyx_mm: tuple[float, float, float]  # (dz, dy, dx) of the training images
    inputs: tuple[str, ...]  # image kind per channel: nac | sc
    energy_keV: float = 140.5
    units: str = "counts"
    orientation: str = ORIENTATION

    def describe(self) -> str:
        return (f"{' + '.join(self.inputs)} images with {' × '.join(f'{v:g}' for v in self.voxel_zyx_mm)} mm voxels "
                f"(z × y × x), {self.units}, {self.energy_keV:g} keV")


@dataclass
class MuMapModel:
    """A loaded model file: the generator (eval mode) wrapped for whole-volume prediction, and its data."""

    generator: nn.Module  # [B, C, z, y, x] → [B, 1, z, y, x], eval mode
    patch_size: tuple[int, int, int]  # of the sliding-window inference, as in training
    contract: InputContract
    normalization: dict[str, Any]
    bed_profile: np.ndarray | None  # [rows, cols] cm⁻¹, see mumap.data.bed.bed_profile
    ood: OODReference  # the training cohort's, for the OOD score of an input
    config: str  # the training run's config (YAML)
    mumap_version: str
    source: str  # the checkpoint it was exported from
    path: Path

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> np.ndarray:
        """μ-map ``[z, y, x]`` (cm⁻¹, no bed, clipped at 0) of ``images [C, z, y, x]`` (counts) on the
        model's grid, channels in ``contract.inputs`` order."""
        mu = predict_mu_map(self.generator, torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
                            self.contract.inputs, self.normalization["kind"], self.patch_size)
        return mu.clamp_min(0).cpu().numpy()

    def uncertainty(self, images: np.ndarray, passes: int = MC_PASSES) -> np.ndarray:
        """Per-voxel standard deviation ``[z, y, x]`` (cm⁻¹) of ``passes`` Monte Carlo dropout predictions of
        ``images [C, z, y, x]`` (:func:`~mumap.models.uncertainty.mc_dropout_std`)."""
        return mc_dropout_std(self.generator, torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)),
                              self.contract.inputs, self.normalization["kind"], self.patch_size, passes).cpu().numpy()


def _dataset_facts(root: Path, inputs: list[str]) -> tuple[dict, dict, np.ndarray | None]:
    """(dataset.json, per-kind count statistics of the training images, the bed template) of a dataset."""
    facts_path = root / "dataset.json"
    if not facts_path.is_file():
        raise ModelFileError(f"{facts_path}: not found — the model's training dataset is needed for its input "
                             f"contract; pass --data <dataset root>")
    facts = json.loads(facts_path.read_text())
    rows = io.read_split(root, "train")
    if not rows:
        raise ModelFileError(f"{root / 'studies.csv'}: no training studies")
    means: dict[str, list[float]] = {kind: [] for kind in inputs}
    profiles = []
    for row in rows:
        for kind in inputs:
            means[kind].append(float(io.load_nifti(root / row[kind])[0].mean()))
        mu, voxel_zyx_mm, _ = io.load_nifti(root / row["mumap"])
        bed = read_bed_mask(root, row)
        outline = body_outline(io.load_nifti(root / row[inputs[0]])[0])  # where predict anchors the bed
        profiles.append(bed_profile(np.where(bed, mu, 0.0), outline, voxel_zyx_mm))
    statistics = {kind: {"image_mean_counts": {"min": min(v), "median": float(np.median(v)), "max": max(v)},
                         "studies": len(v)} for kind, v in means.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # template cells no training slice reached
        template = np.nanmean(profiles, axis=0)
    return facts, statistics, None if np.all(np.isnan(template)) else np.nan_to_num(template).astype(np.float32)


def _resolved(node: DictConfig | ListConfig) -> dict | list:
    """``node`` as plain data with every interpolation resolved that can be outside a Hydra run (the few
    ``${hydra:...}`` ones, e.g. ``name``, stay as written)."""
    container = OmegaConf.to_container(node, resolve=False)
    for key in (container if isinstance(container, dict) else range(len(container))):
        try:
            value = node[key]
        except Exception:  # OmegaConf raises several types for an unknown resolver: keep it as written
            continue
        container[key] = _resolved(value) if isinstance(value, (DictConfig, ListConfig)) else value
    return container


def export_model(checkpoint: str | Path, out: str | Path, *, config: str | Path | None = None,
                 data_root: str | Path | None = None, progress: bool = True, workers: int = 1) -> Path:
    """Write the model file of a training checkpoint. ``config`` defaults to the run's
    ``.hydra/config.yaml`` (:func:`~mumap.training.checkpoints.run_config`), ``data_root`` to its ``data.root``.
    The OOD reference takes one LV fit per train and val study (≈ 10 s each on a CPU core, on ``workers``
    processes; a progress bar)."""
    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_file():
        raise ModelFileError(f"{checkpoint}: checkpoint not found")
    try:
        cfg = OmegaConf.load(config) if config else run_config(run_dir_of(checkpoint))
    except (FileNotFoundError, OSError) as err:
        raise ModelFileError(f"{err}; pass --config <the run's .hydra/config.yaml>") from err
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        hparams, weights = state["hyper_parameters"], state["state_dict"]
    except Exception as err:  # torch raises many types for corrupt files
        raise ModelFileError(f"{checkpoint}: not a readable Lightning checkpoint ({err})") from err
    generator = {k.removeprefix("generator."): v for k, v in weights.items() if k.startswith("generator.")}
    if not generator:
        raise ModelFileError(f"{checkpoint}: holds no generator weights")
    inputs = list(hparams["inputs"])
    root = Path(data_root or cfg.data.root)
    facts, statistics, template = _dataset_facts(root, inputs)
    if "voxel_zyx_mm" not in facts:
        raise ModelFileError(f"{root / 'dataset.json'}: no voxel_zyx_mm (a dataset of mumap < 0.2); build or import "
                             f"it again with this mumap (the image arrays come out identical)")
    try:
        ood = cohort_reference(root, inputs[0], progress, workers)
    except ValueError as err:
        raise ModelFileError(str(err)) from err
    contract = InputContract(tuple(float(v) for v in facts["voxel_zyx_mm"]), tuple(inputs),
                             float(facts.get("energy_keV", 140.5)))
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mumap_version": mumap.__version__,
        "source": str(checkpoint.resolve()), "dataset": str(root.resolve()),
        "generator": {"state_dict": generator, "config": OmegaConf.to_container(cfg.model, resolve=True)},
        "patch_size": list(hparams["patch_size"]),
        "contract": {**asdict(contract), "voxel_zyx_mm": list(contract.voxel_zyx_mm), "inputs": inputs},
        "normalization": {"kind": hparams["normalization"], "scope": "per image, per channel (whole volume)",
                          "training_images": statistics},
        "bed_profile": None if template is None else torch.from_numpy(template),
        "ood": ood.to_dict(),
        "config": OmegaConf.to_yaml(OmegaConf.create(_resolved(cfg))),
    }
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out


def load_model(path: str | Path, device: torch.device | str = "cpu", *, trust_code: bool = False) -> MuMapModel:
    """A model file, ready to predict on ``device``. Its generator is built from the config stored in it
    (``_target_``); a class outside ``mumap.`` is code from the file's author, built only with ``trust_code``."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelFileError(f"{path}: not a mumap model file ({err.__class__.__name__}: "
                             f"{str(err).splitlines()[0]}); write one with mumap export <checkpoint>") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a mumap model file (a training checkpoint? export it with mumap export)")
    if payload["format_version"] != FORMAT_VERSION:
        newer = payload["format_version"] > FORMAT_VERSION
        raise ModelFileError(f"{path}: model file format {payload['format_version']}, but this mumap "
                             f"({mumap.__version__}) reads format {FORMAT_VERSION}; "
                             + ("update mumap" if newer else "export the checkpoint again with this mumap"))
    g = payload["generator"]
    target = str(g["config"].get("_target_", ""))
    if not target.startswith(TRUSTED_TARGETS) and not trust_code:
        raise ModelFileError(f"{path}: its generator is {target!r}, code outside mumap; load it only if you trust "
                             f"the file's author (--trust-code)")
    generator = hydra.utils.instantiate(g["config"])
    generator.load_state_dict(g["state_dict"])
    contract = InputContract(**{**payload["contract"], "voxel_zyx_mm": tuple(payload["contract"]["voxel_zyx_mm"]),
                                "inputs": tuple(payload["contract"]["inputs"])})
    profile = payload["bed_profile"]
    return MuMapModel(generator.to(device).eval(), tuple(payload["patch_size"]), contract, payload["normalization"],
                      None if profile is None else profile.numpy(), OODReference.from_dict(payload["ood"]),
                      payload["config"], payload["mumap_version"], payload["source"], path)


def check_voxel_size(model: MuMapModel, voxel_zyx_mm: tuple[float, float, float], source: str, *,
                     resample: bool) -> bool:
    """Whether the input (``voxel_zyx_mm``, from ``source``) must be resampled to the model's grid: False when
    they agree within 2 %, True when they do not and ``resample`` allows it (logged), else an error."""
    expected = model.contract.voxel_zyx_mm
    if all(math.isclose(a, b, rel_tol=0.02) for a, b in zip(voxel_zyx_mm, expected, strict=True)):
        return False
    found = " × ".join(f"{v:g}" for v in voxel_zyx_mm)
    wanted = " × ".join(f"{v:g}" for v in expected)
    if not resample:
        raise DatasetError(f"{source}: voxel size {found} mm (z × y × x) does not match the model's {wanted} mm "
                           f"({model.path}); pass --resample to resample explicitly, or use a model trained on "
                           f"this grid")
    log.warning(f"{source}: resampling from {found} mm to the model's {wanted} mm voxels and back (--resample)")
    return True

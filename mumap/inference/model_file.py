"""The self-contained model file: what ``mumap export`` writes and ``mumap predict`` reads.

One ``torch.save`` file of tensors and plain data only, so it loads with ``weights_only=True`` (a model
file from elsewhere cannot run code). It holds the generator's weights and architecture, the training
config (resolved), the input contract — voxel size (mm), orientation, input kinds (nac/sc, one channel
each), units — the normalisation (kind, per image, and the training images' count statistics), the bed
template of the training cohort (:func:`mumap.data.bed.bed_profile`, relative to the nAC body
outline, where ``mumap predict`` puts it), the mumap version and where it
came from. Nothing else is needed to predict.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

import mumap
from mumap.data import io
from mumap.data.bed import bed_profile, find_bed
from mumap.data.io import DatasetError
from mumap.evaluation.baselines import body_outline
from mumap.training.modules import DistanceModule

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "mumap-model", 1
ORIENTATION = "axial, axis-aligned; arrays [z, y, x] in DICOM LPS (NIfTI: RAS affine)"
INPUT_KINDS = {"nac": "non-attenuation-corrected reconstruction", "sc": "scatter-corrected nAC reconstruction"}


class ModelFileError(ValueError):
    """A model file (or the checkpoint it is exported from) is missing, unreadable or not a mumap model."""


@dataclass(frozen=True)
class InputContract:
    """What a model's input must be: the grid it was trained on and the kind of each input channel."""

    voxel_mm: tuple[float, float, float]  # (dz, dy, dx) of the training images
    inputs: tuple[str, ...]  # image kind per channel: nac | sc
    energy_keV: float = 140.5
    units: str = "counts"
    orientation: str = ORIENTATION

    def describe(self) -> str:
        return (f"{' + '.join(self.inputs)} images with {' × '.join(f'{v:g}' for v in self.voxel_mm)} mm voxels "
                f"(z × y × x), {self.units}, {self.energy_keV:g} keV")


@dataclass
class MuMapModel:
    """A loaded model file: the generator (eval mode) wrapped for whole-volume prediction, and its data."""

    module: DistanceModule
    contract: InputContract
    normalization: dict[str, Any]
    bed_profile: np.ndarray | None  # [rows, cols] cm⁻¹, see mumap.data.bed.bed_profile
    config: str  # the training run's config (YAML)
    mumap_version: str
    source: str  # the checkpoint it was exported from
    path: Path

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> np.ndarray:
        """μ-map ``[z, y, x]`` (cm⁻¹, no bed, clipped at 0) of ``images [C, z, y, x]`` (counts) on the
        model's grid, channels in ``contract.inputs`` order."""
        mu = self.module.predict_mu_map(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))
        return mu.clamp_min(0).cpu().numpy()


def _dataset_facts(root: Path, inputs: list[str]) -> tuple[dict, dict, np.ndarray | None]:
    """(dataset.json, per-kind count statistics of the training images, the bed template) of a dataset."""
    facts_path = root / "dataset.json"
    if not facts_path.is_file():
        raise ModelFileError(f"{facts_path}: not found — the model's training dataset is needed for its input "
                             f"contract; pass --data <dataset root>")
    facts = json.loads(facts_path.read_text())
    rows = [r for r in io.read_studies(root / "studies.csv") if r["split"] == "train"]
    if not rows:
        raise ModelFileError(f"{root / 'studies.csv'}: no training studies")
    means: dict[str, list[float]] = {kind: [] for kind in inputs}
    profiles = []
    for row in rows:
        for kind in inputs:
            means[kind].append(float(io.load_nifti(root / row[kind])[0].mean()))
        mu, voxel_mm, _ = io.load_nifti(root / row["mumap"])
        bed = io.load_nifti(root / row["bed"])[0] > 0 if row.get("bed") else find_bed(mu, voxel_mm)
        outline = body_outline(io.load_nifti(root / row[inputs[0]])[0])  # where predict anchors the bed
        profiles.append(bed_profile(np.where(bed, mu, 0.0), outline, voxel_mm))
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
                 data_root: str | Path | None = None) -> Path:
    """Write the model file of a training checkpoint. ``config`` defaults to the run's
    ``.hydra/config.yaml`` (the checkpoint's grandparent folder), ``data_root`` to its ``data.root``."""
    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_file():
        raise ModelFileError(f"{checkpoint}: checkpoint not found")
    config = Path(config) if config else checkpoint.parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        raise ModelFileError(f"{config}: the run's config is missing; pass --config <its .hydra/config.yaml>")
    cfg = OmegaConf.load(config)
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
    contract = InputContract(tuple(float(v) for v in facts["voxel_mm"]), tuple(inputs),
                             float(facts.get("energy_keV", 140.5)))
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mumap_version": mumap.__version__,
        "source": str(checkpoint.resolve()), "dataset": str(root.resolve()),
        "generator": {"state_dict": generator, "in_channels": len(inputs),
                      **{k: cfg.model[k] for k in ("depth", "filters", "width", "bottleneck_dropout")}},
        "patch_size": list(hparams["patch_size"]),
        "contract": {**asdict(contract), "voxel_mm": list(contract.voxel_mm), "inputs": inputs},
        "normalization": {"kind": hparams["normalization"], "scope": "per image, per channel (whole volume)",
                          "training_images": statistics},
        "bed_profile": None if template is None else torch.from_numpy(template),
        "config": OmegaConf.to_yaml(OmegaConf.create(_resolved(cfg))),
    }
    tmp = out.with_name(".tmp-" + out.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, tmp)
    os.replace(tmp, out)
    return out


def load_model(path: str | Path, device: torch.device | str = "cpu") -> MuMapModel:
    """A model file, ready to predict on ``device``."""
    from mumap.training.train import build_generator

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
    if payload["format_version"] > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model file format {payload['format_version']} is newer than this mumap "
                             f"({mumap.__version__}) reads ({FORMAT_VERSION}); update mumap")
    g = payload["generator"]
    generator = build_generator(OmegaConf.create({k: g[k] for k in ("depth", "filters", "width",
                                                                     "bottleneck_dropout")}), g["in_channels"])
    generator.load_state_dict(g["state_dict"])
    contract = InputContract(**{**payload["contract"], "voxel_mm": tuple(payload["contract"]["voxel_mm"]),
                                "inputs": tuple(payload["contract"]["inputs"])})
    module = DistanceModule(generator, patch_size=payload["patch_size"],
                            normalization=payload["normalization"]["kind"], inputs=list(contract.inputs))
    profile = payload["bed_profile"]
    return MuMapModel(module.to(device).eval(), contract, payload["normalization"],
                      None if profile is None else profile.numpy(), payload["config"],
                      payload["mumap_version"], payload["source"], path)


def check_voxel_size(model: MuMapModel, voxel_mm: tuple[float, float, float], source: str, *,
                     resample: bool) -> bool:
    """Whether the input (``voxel_mm``, from ``source``) must be resampled to the model's grid: False when
    they agree within 2 %, True when they do not and ``resample`` allows it (logged), else an error."""
    expected = model.contract.voxel_mm
    if all(math.isclose(a, b, rel_tol=0.02) for a, b in zip(voxel_mm, expected, strict=True)):
        return False
    found = " × ".join(f"{v:g}" for v in voxel_mm)
    wanted = " × ".join(f"{v:g}" for v in expected)
    if not resample:
        raise DatasetError(f"{source}: voxel size {found} mm (z × y × x) does not match the model's {wanted} mm "
                           f"({model.path}); pass --resample to resample explicitly, or use a model trained on "
                           f"this grid")
    log.warning(f"{source}: resampling from {found} mm to the model's {wanted} mm voxels and back (--resample)")
    return True

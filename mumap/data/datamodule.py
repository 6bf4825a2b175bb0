"""The LightningDataModule: studies.csv + NIfTI → training patches and full validation/test volumes.

Inputs are the ``input`` reconstruction (``nac`` or ``sc``) plus optional ``extra_inputs`` columns
(e.g. a scatter-window reconstruction) as channels; the target is the μ-map with the bed removed
(:mod:`mumap.data.bed`). Each training epoch draws ``patches_per_image`` random patches per
training study (after zero-padding to the patch size, at least 32 slices as in the paper);
validation and test give whole volumes for sliding-window inference. Inputs are normalised per
image (:mod:`mumap.data.normalization`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mumap.data import io
from mumap.data.bed import remove_bed
from mumap.data.normalization import Kind, normalize_channels
from mumap.data.patches import pad_to, random_patches

MIN_SLICES = 32


@dataclass
class Study:
    """One study in memory: ``inputs [C, z, y, x]`` (normalised), ``target [1, z, y, x]`` (μ, bed removed)."""

    study_id: str
    inputs: torch.Tensor
    target: torch.Tensor
    bed: torch.Tensor
    voxel_mm: tuple[float, float, float]


def load_study(root: Path, row: dict, inputs: Sequence[str], normalization: Kind) -> Study:
    """Read a study's input channels and μ-map; the μ-map loses its bed."""
    channels = []
    for column in inputs:
        if not row.get(column):
            raise io.DatasetError(f"{root / 'studies.csv'}: study {row['id']} has no '{column}' file")
        data, voxel_mm, _ = io.load_nifti(root / row[column])
        channels.append(data)
    mu, mu_voxel, _ = io.load_nifti(root / row["mumap"])
    if mu.shape != channels[0].shape:
        raise io.DatasetError(f"{root / row['mumap']}: shape {mu.shape} differs from the input's {channels[0].shape}")
    mu, bed = remove_bed(mu.astype(np.float32), mu_voxel)
    image = torch.from_numpy(np.stack(channels).astype(np.float32))
    return Study(row["id"], normalize_channels(image, normalization), torch.from_numpy(mu)[None],
                 torch.from_numpy(bed)[None], voxel_mm)


class PatchDataset(Dataset):
    """``len(studies) × patches_per_image`` random patches; a new draw every epoch (``set_epoch``)."""

    def __init__(self, studies: list[Study], patch_size: Sequence[int], patches_per_image: int, seed: int):
        self.studies, self.patch_size, self.per_image, self.seed = studies, tuple(patch_size), patches_per_image, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.studies) * self.per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        study = self.studies[index // self.per_image]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        (x, y), = random_patches([study.inputs.numpy(), study.target.numpy()], self.patch_size, 1, rng)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


class VolumeDataset(Dataset):
    """Whole studies padded to at least 32 slices: ``(inputs, target, bed, study_id)``."""

    def __init__(self, studies: list[Study]):
        self.studies = studies

    def __len__(self) -> int:
        return len(self.studies)

    def __getitem__(self, index: int):
        s = self.studies[index]
        minimum = (MIN_SLICES, 1, 1)
        pad = [torch.from_numpy(pad_to(t.numpy(), minimum)) for t in (s.inputs, s.target, s.bed)]
        return (*pad, s.study_id)


class MuMapDataModule(L.LightningDataModule):
    """Splits as written in ``studies.csv`` (patient-level); ``root`` is the dataset folder."""

    def __init__(self, root: str, input: str = "nac", extra_inputs: Sequence[str] = (),
                 patch_size: Sequence[int] = (32, 32, 32), patches_per_image: int = 50, batch_size: int = 16,
                 normalization: Kind = "mean", num_workers: int = 0, seed: int = 0, max_studies: int | None = None):
        super().__init__()
        if input not in ("nac", "sc"):
            raise ValueError(f"data.input must be nac or sc, got {input!r}")
        self.root = Path(root)
        self.inputs = (input, *extra_inputs)
        self.patch_size, self.patches_per_image = tuple(patch_size), patches_per_image
        self.batch_size, self.normalization, self.num_workers = batch_size, normalization, num_workers
        self.seed, self.max_studies = seed, max_studies
        self.splits: dict[str, list[Study]] = {}

    @property
    def in_channels(self) -> int:
        return len(self.inputs)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        listing = self.root / "studies.csv"
        if not listing.is_file():
            raise io.DatasetError(f"{listing}: not found — build a cohort (make data) or import one (mumap import)")
        with open(listing, newline="") as f:
            rows = list(csv.DictReader(f))
        for split in ("train", "val", "test"):
            chosen = [row for row in rows if row["split"] == split][: self.max_studies]
            self.splits[split] = [load_study(self.root, row, self.inputs, self.normalization) for row in chosen]
        if not self.splits["train"] or not self.splits["val"]:
            raise io.DatasetError(f"{listing}: needs studies in both the train and the val split")

    def train_dataloader(self) -> DataLoader:
        dataset = PatchDataset(self.splits["train"], self.patch_size, self.patches_per_image, self.seed)
        if self.trainer is not None:
            dataset.set_epoch(self.trainer.current_epoch)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                          drop_last=len(dataset) > self.batch_size, persistent_workers=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(VolumeDataset(self.splits["val"]), batch_size=1, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(VolumeDataset(self.splits["test"]), batch_size=1, num_workers=self.num_workers)

"""The LightningDataModule: studies.csv + NIfTI → training patches and full validation/test volumes.

Inputs are the ``input`` reconstruction (``nac`` or ``sc``) plus optional ``extra_inputs`` columns
(e.g. a scatter-window reconstruction) as channels; the target is the μ-map with the bed removed
(:mod:`mumap.data.bed`). Each training epoch draws ``patches_per_image`` random patches per
training study (after zero-padding to at least 32 slices, as in the paper, and to the patch size);
validation and test give whole volumes for sliding-window inference, with the bed and the uniform
body-contour baseline (:mod:`mumap.evaluation.baselines`) for evaluation. Inputs are normalised per
image (:mod:`mumap.data.normalization`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mumap.data import io
from mumap.data.bed import read_bed_mask, remove_bed
from mumap.data.body import uniform_mu_map
from mumap.data.normalization import Kind, normalize_channels
from mumap.data.patches import pad_to, random_patches
from mumap.utils.seeding import derive_seed

MIN_SLICES = 32


@dataclass
class StudyTensors:
    """One imaging study in memory, all ``[C, z, y, x]``: ``inputs`` (normalised), ``target`` (μ in cm⁻¹, bed
    removed), ``bed`` (the bed's μ, 0 elsewhere) and, for evaluation, ``uniform`` (the baseline, no bed)."""

    study_id: str
    inputs: torch.Tensor
    target: torch.Tensor
    bed: torch.Tensor
    voxel_zyx_mm: tuple[float, float, float]
    uniform: torch.Tensor | None = None


def _read(root: Path, row: dict, column: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    if not row.get(column):
        raise io.DatasetError(f"{root / 'studies.csv'}: study {row['id']} has no '{column}' file")
    data, voxel_zyx_mm, _ = io.load_nifti(root / row[column])
    return data.astype(np.float32), voxel_zyx_mm


def load_study_tensors(root: Path, row: dict, inputs: Sequence[str], normalization: Kind,
                       baseline: bool = False) -> StudyTensors:
    """Read a study's input channels and μ-map; the μ-map loses its bed (the dataset's bed mask). ``baseline`` adds the
    uniform body-contour μ-map, found from the study's nAC image."""
    channels = {column: _read(root, row, column) for column in inputs}
    voxel_zyx_mm = channels[inputs[0]][1]
    mu, _ = _read(root, row, "mumap")
    for column, (data, _) in channels.items():
        if data.shape != mu.shape:
            raise io.DatasetError(f"{root / row[column]}: shape {data.shape} differs from the μ-map's {mu.shape}")
    mu, bed = remove_bed(mu, read_bed_mask(root, row))
    image = torch.from_numpy(np.stack([data for data, _ in channels.values()]))
    uniform = None
    if baseline:
        nac = channels["nac"][0] if "nac" in channels else _read(root, row, "nac")[0]
        uniform = torch.from_numpy(uniform_mu_map(nac))[None]
    return StudyTensors(row["id"], normalize_channels(image, normalization), torch.from_numpy(mu)[None],
                 torch.from_numpy(bed)[None], voxel_zyx_mm, uniform)


class PatchDataset(Dataset):
    """``len(studies) × patches_per_image`` random patches ``([C, *patch], [1, *patch])``; a new draw
    every epoch (``set_epoch``). Volumes are zero-padded to at least 32 slices first."""

    def __init__(self, studies: list[StudyTensors], patch_size: Sequence[int], patches_per_image: int, seed: int):
        self.patch_size, self.per_image, self.seed = tuple(patch_size), patches_per_image, seed
        self.volumes = [(pad_to(s.inputs.numpy(), (MIN_SLICES, 1, 1)), pad_to(s.target.numpy(), (MIN_SLICES, 1, 1)))
                        for s in studies]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.volumes) * self.per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        (x, y), = random_patches(self.volumes[index // self.per_image], self.patch_size, 1, rng)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


class EpochShuffle(Sampler[int]):
    """A permutation of ``range(n)`` drawn from (seed, epoch) alone, the same however often it is iterated
    (a DataLoader's own shuffle also depends on how many iterators were made and on the global RNG)."""

    def __init__(self, n: int, seed: int, epoch: int):
        self.n, self.seed, self.epoch = n, seed, epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=generator).tolist())


class VolumeDataset(Dataset):
    """Whole studies: ``(inputs, target, bed, uniform, study_id)``."""

    def __init__(self, studies: list[StudyTensors]):
        self.studies = studies

    def __len__(self) -> int:
        return len(self.studies)

    def __getitem__(self, index: int):
        s = self.studies[index]
        return s.inputs, s.target, s.bed, s.uniform, s.study_id


class MuMapDataModule(L.LightningDataModule):
    """Splits as written in ``studies.csv`` (patient-level); ``root`` is the dataset folder. With a synthetic
    ``preset`` (``tiny``, ``quick``, ``paper``), :meth:`prepare_data` builds the cohort there first if
    ``root`` holds no ``studies.csv`` (seeded with ``seed``, all CPU cores, resumable)."""

    def __init__(self, root: str | Path, preset: str | None = None, input: str = "nac",
                 extra_inputs: Sequence[str] = (), patch_size: Sequence[int] = (32, 32, 32),
                 patches_per_image: int = 50, batch_size: int = 16, normalization: Kind = "mean",
                 num_workers: int = 0, seed: int = 0, max_studies: int | None = None):
        super().__init__()
        if input not in ("nac", "sc"):
            raise ValueError(f"data.input must be nac or sc, got {input!r}")
        self.root, self.preset = Path(root), preset
        self.inputs = (input, *extra_inputs)
        self.patch_size, self.patches_per_image = tuple(patch_size), patches_per_image
        self.batch_size, self.normalization, self.num_workers = batch_size, normalization, num_workers
        self.seed, self.max_studies = seed, max_studies
        self.splits: dict[str, list[StudyTensors]] = {}

    @property
    def in_channels(self) -> int:
        return len(self.inputs)

    def prepare_data(self) -> None:
        if self.preset and not (self.root / "studies.csv").is_file():
            from mumap.data.synthesize import synthesize  # the simulator is only needed on first use

            synthesize(self.preset, self.root, seed=self.seed, workers=os.cpu_count() or 1)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for split in ("train", "val", "test"):
            self.splits[split] = [load_study_tensors(self.root, row, self.inputs, self.normalization, split != "train")
                                  for row in io.read_split(self.root, split, self.max_studies)]
        if not self.splits["train"] or not self.splits["val"]:
            raise io.DatasetError(f"{self.root / 'studies.csv'}: needs studies in both the train and the val split")

    def train_dataloader(self) -> DataLoader:
        """The patches of the current epoch in an order drawn from (seed, epoch) alone, so that a resumed run
        sees what an uninterrupted one saw (the trainer reloads this every epoch)."""
        dataset = PatchDataset(self.splits["train"], self.patch_size, self.patches_per_image, self.seed)
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        dataset.set_epoch(epoch)
        return DataLoader(dataset, batch_size=self.batch_size, sampler=EpochShuffle(len(dataset), self.seed, epoch),
                          num_workers=self.num_workers, drop_last=len(dataset) > self.batch_size,
                          persistent_workers=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(VolumeDataset(self.splits["val"]), batch_size=1, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(VolumeDataset(self.splits["test"]), batch_size=1, num_workers=self.num_workers)

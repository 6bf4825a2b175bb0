"""Training callbacks: random numbers that survive a resume, and mid-slice images of the first validation
study after every validation epoch (the post-fit evaluation report is :mod:`mumap.evaluation.callbacks`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from mumap.utils.plotting import save_figure, slice_figure
from mumap.utils.seeding import derive_seed


class ResumableRandomness(L.Callback):
    """Seeds torch's global RNG from (seed, rank, step) before every training step — it draws dropout —, so
    that a run resumed from a checkpoint draws the same random numbers as one that was never interrupted
    (Lightning does not restore RNG states; fairseq seeds per update the same way). With the patches and
    their order drawn from (seed, epoch) by the datamodule, a resumed run on CPU in fp32 is bit-identical."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        torch.manual_seed(derive_seed(self.seed, trainer.global_rank, trainer.global_step))


def mid_slice_figure(images: dict[str, np.ndarray], voxel_zyx_mm: tuple[float, float, float], title: str) -> Figure:
    """Transaxial and coronal mid slices (:func:`~mumap.utils.plotting.slice_figure`) of the volumes
    ``{"input (normalised)", "predicted μ", "true μ": [z, y, x]}``, plus |predicted − true|; both μ-maps on
    the true one's grey scale (cm⁻¹)."""
    mu_max = float(images["true μ"].max()) or None
    columns = {}
    for name, volume in {**images, "|predicted − true|": np.abs(images["predicted μ"] - images["true μ"])}.items():
        is_mu_map = name.endswith("μ")
        columns[name] = (volume, "gray" if is_mu_map else "inferno",
                         mu_max if is_mu_map else float(np.percentile(volume, 99.9)) or None,
                         "" if name.startswith("input") else "cm⁻¹")
    return slice_figure(columns, voxel_zyx_mm, planes=("transaxial", "coronal"), title=title)


class MidSliceImages(L.Callback):
    """After each validation epoch: input / predicted / true μ-map of the first validation study as
    ``<dir>/val-epoch=NNN.png`` and, when a logger can take images (W&B), logged as ``val/images``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero or not outputs:
            return
        images = {"input (normalised)": outputs["input"], "predicted μ": outputs["prediction"],
                  "true μ": outputs["target"]}
        volumes = {name: _volume(t) for name, t in images.items()}
        study = trainer.datamodule.splits["val"][0]
        fig = mid_slice_figure(volumes, study.voxel_zyx_mm, f"{study.study_id}, epoch {trainer.current_epoch}")
        path = save_figure(fig, self.directory / f"val-epoch={trainer.current_epoch:03d}.png")
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="val/images", images=[str(path)], step=trainer.global_step)


def _volume(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()[0, 0]

"""Training callbacks: random numbers that survive a resume, mid-slice images of the first validation study
after every validation epoch, and the evaluation report (:mod:`mumap.evaluation.report`) of the best
checkpoint after ``fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from mumap.figures import plt, save_figure
from mumap.seeding import derive_seed


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


def mid_slice_figure(images: dict[str, np.ndarray], title: str):
    """Transaxial and coronal mid slices of ``{name: [z, y, x]}`` volumes, one column each, plus |pred − true|."""
    columns = {**images, "|predicted − true|": np.abs(images["predicted μ"] - images["true μ"])}
    fig, axes = plt.subplots(2, len(columns), figsize=(3 * len(columns), 6), squeeze=False)
    mu_max = float(images["true μ"].max()) or None
    for col, (name, volume) in enumerate(columns.items()):
        z, y = volume.shape[0] // 2, volume.shape[1] // 2
        vmax = mu_max if "μ" in name and "|" not in name else float(np.percentile(volume, 99.9)) or None
        for row, cut in enumerate((volume[z], volume[:, y][::-1])):
            shown = axes[row, col].imshow(cut, cmap="gray" if "μ" in name else "inferno", vmin=0, vmax=vmax)
            axes[row, col].set_title(f"{name} {('transaxial', 'coronal')[row]}", fontsize=8)
            axes[row, col].axis("off")
            fig.colorbar(shown, ax=axes[row, col], fraction=0.046, label="" if col == 0 else "cm⁻¹")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


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
        study = batch[-1][0]
        fig = mid_slice_figure(volumes, f"{study}, epoch {trainer.current_epoch}")
        path = save_figure(fig, self.directory / f"val-epoch={trainer.current_epoch:03d}.png")
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="val/images", images=[str(path)], step=trainer.global_step)


def _volume(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()[0, 0]


class PostFitEvaluation(L.Callback):
    """After ``fit`` (rank 0): load the best checkpoint's weights, write the evaluation report of
    ``split`` (at most ``max_studies`` studies) to ``directory``, and log its pooled metrics as
    ``report/<metric>`` and its figures (W&B) to the run's loggers — the same report as ``evaluate.py``."""

    def __init__(self, directory: str | Path, split: str = "test", max_studies: int | None = None):
        self.directory, self.split, self.max_studies = Path(directory), split, max_studies

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from mumap.evaluation.report import FIGURES, report_split

        if not trainer.is_global_zero or trainer.datamodule is None or not trainer.datamodule.splits.get(self.split):
            return
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            pl_module.load_state_dict(torch.load(best, map_location=pl_module.device, weights_only=False)["state_dict"])
        metrics = report_split(trainer.datamodule.root, pl_module, self.split, self.directory, self.max_studies,
                               f"best checkpoint `{best or 'last weights'}`", progress=False)
        for logger in trainer.loggers:
            logger.log_metrics({f"report/{k.replace(' ', '_')}": v for k, v in metrics.items()},
                               step=trainer.global_step)
            logger.save()
            if hasattr(logger, "log_image"):
                logger.log_image(key="report/figures", images=[str(self.directory / f"{f}.png") for f in FIGURES],
                                 step=trainer.global_step)

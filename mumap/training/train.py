"""Build everything a composed Hydra config asks for and train (``train.py`` is a thin wrapper)."""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf
from torch import nn

from mumap.data.datamodule import MuMapDataModule
from mumap.models.blocks import level_features
from mumap.models.discriminators import ClassifierDiscriminator, PatchGANDiscriminator
from mumap.models.generator import UNet3D
from mumap.search.convergence import BestEpochMetrics, Verdict
from mumap.training.callbacks import MidSliceImages, PostFitEvaluation, ResumableRandomness
from mumap.training.modules import CGANModule, DistanceModule


def fast_precision() -> str:
    """The quickest safe Lightning precision here: bf16 autocast where the hardware has bf16 units
    (CUDA with bf16, or CPUs with AVX512-BF16/AMX — 2× faster 3D convolutions), fp16 autocast on
    older GPUs, else full fp32 (emulated bf16 would be slower). The ``${fast_precision:}`` resolver."""
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return "bf16-mixed" if "avx512_bf16" in flags or "amx_bf16" in flags else "32-true"


log = logging.getLogger(__name__)

OmegaConf.register_new_resolver("fast_precision", fast_precision, replace=True)


def check_launch(trainer: DictConfig, hydra: DictConfig) -> None:
    """Refuse multi-process DDP under ``-m`` with Hydra's in-process launcher: Lightning starts ranks
    1…N−1 by running the command line again, so every rank would start a sweep of its own."""
    if (hydra.mode == RunMode.MULTIRUN and hydra.runtime.choices.get("hydra/launcher") == "basic"
            and "ddp" in str(trainer.get("strategy")) and str(trainer.get("devices")) != "1"):
        raise ValueError("trainer=ddp cannot run under -m on one machine: each DDP rank would start its own sweep. "
                         "Run one search worker per GPU instead, or hydra/launcher=slurm_ddp (docs/SCALING.md)")


def build_datamodule(cfg: DictConfig) -> MuMapDataModule:
    """The datamodule of ``cfg.data``; the synthetic cohort is built first if it is missing."""
    d = cfg.data
    if not (Path(d.root) / "studies.csv").is_file() and d.get("preset"):
        from mumap.data.synthesize import synthesize

        synthesize(d.preset, d.root, seed=cfg.seed, workers=os.cpu_count() or 1)
    return MuMapDataModule(d.root, d.input, list(d.extra_inputs), list(d.patch_size), d.patches_per_image,
                           d.batch_size, cfg.normalization.kind, d.num_workers, cfg.seed, d.max_studies)


def build_generator(model: DictConfig, in_channels: int) -> UNet3D:
    """The U-Net of a ``model`` config (depth, filters, width, bottleneck_dropout)."""
    return UNet3D(in_channels, 1, level_features(model.filters, model.depth, model.width), model.bottleneck_dropout)


def build_module(cfg: DictConfig, in_channels: int) -> DistanceModule:
    """The LightningModule of ``cfg.training`` (cgan or distance), in channels-last memory if asked."""
    generator = build_generator(cfg.model, in_channels)
    common = {"loss": cfg.loss.name, "lr": cfg.training.lr, "lr_schedule": cfg.training.lr_schedule,
              "patch_size": list(cfg.data.patch_size),
              "normalization": cfg.normalization.kind, "inputs": [cfg.data.input, *cfg.data.extra_inputs]}
    if cfg.training.kind == "distance":
        module = DistanceModule(generator, **common)
    elif cfg.training.kind == "cgan":
        module = CGANModule(generator, _discriminator(cfg, in_channels), lambda_adv=cfg.training.lambda_adv,
                            lambda_dist=cfg.training.lambda_dist, **common)
    else:
        raise ValueError(f"training.kind must be cgan or distance, got {cfg.training.kind!r}")
    return module.to(memory_format=torch.channels_last_3d) if cfg.model.channels_last else module


def _discriminator(cfg: DictConfig, in_channels: int) -> nn.Module:
    d = cfg.discriminator
    features = level_features(d.filters, d.depth, d.width)
    if d.kind == "classifier":
        fully_connected = [max(1, round(units * d.width)) for units in d.fully_connected]
        return ClassifierDiscriminator(list(cfg.data.patch_size), in_channels, features, fully_connected)
    if d.kind == "patchgan":
        return PatchGANDiscriminator(in_channels, features)
    raise ValueError(f"discriminator.kind must be classifier or patchgan, got {d.kind!r}")


class ResumableCSVLogger(CSVLogger):
    """``<output>/csv/metrics.csv``, written through at every log call so that a killed run leaves what it
    logged; a run resumed from a checkpoint of epoch ``resumed_epoch`` keeps the rows of epochs up to it
    (Lightning's logger deletes the file when it starts) and drops those of the epoch the kill cut short,
    which the resumed run logs again, so that every epoch is there once."""

    def __init__(self, output_dir: Path, resumed_epoch: int | None = None):
        super().__init__(output_dir, name="csv", version="", flush_logs_every_n_steps=1)
        self.resumed_epoch = resumed_epoch

    @property
    def experiment(self):
        if self._experiment is None and self.resumed_epoch is not None:
            kept = self._rows_until(Path(self.log_dir) / "metrics.csv", self.resumed_epoch)
            writer = super().experiment  # deletes metrics.csv
            writer.metrics = kept + writer.metrics
            writer.save()
            return writer
        return super().experiment

    @staticmethod
    def _rows_until(path: Path, epoch: int) -> list[dict[str, str]]:
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            rows = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
        return [row for row in rows if float(row.get("epoch", math.inf)) <= epoch]


def build_loggers(cfg: DictConfig, output_dir: Path, resumed_epoch: int | None = None) -> list[Logger]:
    """CSV (:class:`ResumableCSVLogger`) and W&B (offline by default) loggers, as ``cfg.logger`` asks."""
    loggers: list[Logger] = []
    if cfg.logger.csv:
        loggers.append(ResumableCSVLogger(output_dir, resumed_epoch))
    if cfg.logger.wandb.enabled:
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(WandbLogger(project=cfg.logger.wandb.project, name=str(cfg.name), save_dir=str(output_dir),
                                   offline=cfg.logger.wandb.mode == "offline",
                                   config=OmegaConf.to_container(cfg, resolve=True)))
    return loggers


@dataclass
class RunResult:
    """What a run leaves: the metrics logged last (after the test, if any), the best checkpoint, the
    validation metrics of its epoch and the convergence verdict on them (:mod:`mumap.search.convergence`)."""

    metrics: dict[str, float]
    best_checkpoint: str
    best_epoch: dict[str, float]
    verdict: Verdict

    def trial_record(self, cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
        """The mapping ``train.py`` returns, which a search stores per trial: ``objective`` (the best
        epoch's validation NMAE; ∞ for a run that diverged, which is finished, not failed), its metrics,
        the checkpoint, the verdict, the resolved config and the config-group ``choices`` it was composed
        from (Hydra's ``runtime.choices``)."""
        nmae = self.best_epoch.get("val/nmae", math.nan)
        return {"objective": nmae if math.isfinite(nmae) else math.inf, "val_metrics": self.best_epoch,
                "checkpoint": self.best_checkpoint, "converged": self.verdict.converged,
                "convergence": self.verdict.reason, "config": OmegaConf.to_container(cfg, resolve=True),
                "choices": {group: choice for group, choice in choices.items() if not group.startswith("hydra/")}}


def run(cfg: DictConfig, output_dir: str | Path) -> RunResult:
    """Train (resuming from ``cfg.ckpt_path``), judge convergence at the best epoch, then test the best
    checkpoint."""
    output_dir = Path(output_dir)
    ckpt_path, last = cfg.ckpt_path, output_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None and last.is_file():
        raise FileExistsError(f"{output_dir} already holds a run ({last}): resume it with ckpt_path=last, "
                              f"or start another with name=<new name>")
    if ckpt_path == "last" and not last.is_file():
        ckpt_path = None  # nothing to resume yet
    resumed_epoch = None
    if ckpt_path is not None:
        resumed_epoch = int(torch.load(last if ckpt_path == "last" else ckpt_path, map_location="cpu",
                                       weights_only=False)["epoch"])
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    module = build_module(cfg, datamodule.in_channels)
    checkpoint = ModelCheckpoint(dirpath=output_dir / "checkpoints", filename="best-{epoch}", monitor="val/l1",
                                 mode="min", save_last=True)
    best_epoch = BestEpochMetrics("val/l1")
    callbacks = [checkpoint, best_epoch, ResumableRandomness(cfg.seed), MidSliceImages(output_dir / "images")]
    if cfg.evaluation.enabled:
        callbacks.append(PostFitEvaluation(output_dir / f"report-{cfg.evaluation.split}", cfg.evaluation.split,
                                           cfg.evaluation.max_studies))
    trainer = L.Trainer(**OmegaConf.to_container(cfg.trainer, resolve=True), callbacks=callbacks,
                        logger=build_loggers(cfg, output_dir, resumed_epoch), default_root_dir=output_dir)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    verdict = best_epoch.verdict()
    (log.info if verdict.converged else log.warning)(
        f"Best epoch {best_epoch.metrics['epoch']:.0f} (val/nmae {best_epoch.metrics['val/nmae']:.4f}): "
        f"{verdict.reason}")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.test and datamodule.splits["test"]:
        results = trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint.best_model_path or None)
        metrics.update({k: float(v) for k, v in results[0].items()})
    return RunResult(metrics, checkpoint.best_model_path, best_epoch.metrics, verdict)

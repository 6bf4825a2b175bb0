"""Build everything a composed Hydra config asks for — each component from its ``_target_`` — and train
(``train.py`` is a thin wrapper)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mumap.data.io import cohort_description
from mumap.training.checkpoints import CHECKPOINTS, LAST, checkpoint_epoch
from mumap.training.config import instantiate_all
from mumap.training.convergence import BestEpochMetrics, Verdict
from mumap.training.loggers import ResumableCSVLogger

log = logging.getLogger(__name__)


def check_launch(trainer: DictConfig, hydra_config: DictConfig) -> None:
    """Refuse multi-process DDP under ``-m`` with Hydra's in-process launcher: Lightning starts ranks
    1…N−1 by running the command line again, so every rank would start a sweep of its own."""
    if (hydra_config.mode == RunMode.MULTIRUN and hydra_config.runtime.choices.get("hydra/launcher") == "basic"
            and "ddp" in str(trainer.get("strategy")) and str(trainer.get("devices")) != "1"):
        raise ValueError("trainer=ddp cannot run under -m on one machine: each DDP rank would start its own sweep. "
                         "Run one search worker per GPU instead, or hydra/launcher=slurm_ddp (docs/SCALING.md)")


@dataclass
class RunResult:
    """What a run leaves: the metrics logged last (after the test, if any), the best checkpoint, the
    validation metrics of its epoch and the convergence verdict on them (:mod:`mumap.training.convergence`)."""

    metrics: dict[str, float]
    best_checkpoint: str
    best_epoch: dict[str, float]
    verdict: Verdict

    def trial_record(self, cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
        """The mapping ``train.py`` returns, which a search stores per trial: ``objective`` (the best
        epoch's validation NMAE; ∞ for a run that diverged, which is finished, not failed), its metrics,
        the checkpoint, the verdict, the resolved config, the config-group ``choices`` it was composed
        from (Hydra's ``runtime.choices``) and the ``cohort`` it trained on (:func:`~mumap.data.io.cohort_description`
        of ``data.root``: a search's findings hold for that cohort)."""
        nmae = self.best_epoch.get("val/nmae", math.nan)
        return {"objective": nmae if math.isfinite(nmae) else math.inf, "val_metrics": self.best_epoch,
                "checkpoint": self.best_checkpoint, "converged": self.verdict.converged,
                "convergence": self.verdict.reason, "config": OmegaConf.to_container(cfg, resolve=True),
                "choices": {group: choice for group, choice in choices.items() if not group.startswith("hydra/")},
                "cohort": cohort_description(root) if (root := cfg.get("data", {}).get("root")) else {}}


def _the(kind: type, callbacks: list, key: str) -> Any:
    found = [c for c in callbacks if isinstance(c, kind)]
    if not found:
        raise ValueError(f"callbacks.{key} is required (a {kind.__name__}): a run is judged from it")
    return found[0]


def run(cfg: DictConfig) -> RunResult:
    """Train in ``cfg.paths.output_dir`` (resuming from ``cfg.ckpt_path``), judge convergence at the best
    epoch, then test the best checkpoint."""
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path, last = cfg.ckpt_path, output_dir / CHECKPOINTS / LAST
    if ckpt_path is None and last.is_file():
        raise FileExistsError(f"{output_dir} already holds a run ({last}): resume it with ckpt_path=last, "
                              f"or start another with name=<new name>")
    if ckpt_path == "last":
        ckpt_path = last if last.is_file() else None  # nothing to resume yet
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()  # the synthetic cohort is built on first use
    datamodule.setup("fit")
    module = hydra.utils.instantiate(cfg.training)
    callbacks = instantiate_all(cfg.callbacks)
    best_epoch = _the(BestEpochMetrics, callbacks, "best_epoch")
    os.environ.setdefault("WANDB_SILENT", "true")
    loggers = instantiate_all(cfg.logger)
    for logger in loggers:
        if isinstance(logger, ResumableCSVLogger) and ckpt_path is not None:
            logger.resumed_epoch = checkpoint_epoch(ckpt_path)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    if trainer.checkpoint_callback is None:
        raise ValueError("callbacks.checkpoint is required (a ModelCheckpoint): the best checkpoint is tested")
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    verdict = best_epoch.verdict()
    (log.info if verdict.converged else log.warning)(
        f"Best epoch {best_epoch.metrics['epoch']:.0f} (val/nmae {best_epoch.metrics['val/nmae']:.4f}): "
        f"{verdict.reason}")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    best = trainer.checkpoint_callback.best_model_path
    if cfg.test and datamodule.splits["test"]:
        results = trainer.test(module, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in results[0].items()})
    return RunResult(metrics, best, best_epoch.metrics, verdict)

"""The evaluation report as a Lightning callback (``conf/callbacks/default.yaml``: ``callbacks.evaluation``),
so that ``python train.py`` ends with the same report as ``evaluate.py``."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from mumap.evaluation.report import FIGURES, report_split
from mumap.spect.prac import check_prac_backend


class PostFitEvaluation(L.Callback):
    """After ``fit`` (rank 0): load the best checkpoint's weights, write the evaluation report of
    ``split`` (at most ``max_studies`` studies) to ``directory``, and log its pooled metrics as
    ``report/<metric>`` and its figures (W&B) to the run's loggers. PRAC by ``prac_backend`` (native, stir or
    pytomography), checked when the callback is built so that a missing library fails before training; one study
    per worker process at a time on ``workers`` processes."""

    def __init__(self, directory: str | Path, split: str = "test", max_studies: int | None = None,
                 prac_backend: str = "native", workers: int = 1):
        check_prac_backend(prac_backend)
        self.directory, self.split, self.max_studies = Path(directory), split, max_studies
        self.prac_backend, self.workers = prac_backend, workers

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.datamodule is None or not trainer.datamodule.splits.get(self.split):
            return
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            pl_module.load_state_dict(torch.load(best, map_location=pl_module.device, weights_only=False)["state_dict"])
        metrics = report_split(trainer.datamodule.root, pl_module, self.split, self.directory, self.max_studies,
                               f"best checkpoint `{best or 'last weights'}`", progress=False,
                               prac_backend_name=self.prac_backend, workers=self.workers)
        numbers = {f"report/{k.replace(' ', '_')}": v for k, v in metrics.items() if isinstance(v, int | float)}
        numbers["report/uncertain_frames"] = len(metrics["uncertain_frames"])
        numbers["report/extracardiac_maps"] = len(metrics["extracardiac_maps"])
        for logger in trainer.loggers:
            logger.log_metrics(numbers, step=trainer.global_step)
            logger.save()
            if hasattr(logger, "log_image"):
                logger.log_image(key="report/figures", images=[str(self.directory / f"{f}.png") for f in FIGURES],
                                 step=trainer.global_step)

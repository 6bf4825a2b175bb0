"""The CSV logger a killed and resumed run can trust (W&B comes from Lightning as it is)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger


class ResumableCSVLogger(CSVLogger):
    """``<save_dir>/csv/metrics.csv``, written through at every log call so that a killed run leaves what it
    logged; a run resumed from a checkpoint of epoch ``resumed_epoch`` (set by :func:`mumap.training.train.run`
    before fitting) keeps the rows of epochs up to it (Lightning's logger deletes the file when it starts) and
    drops those of the epoch the kill cut short, which the resumed run logs again, so that every epoch is
    there once."""

    def __init__(self, save_dir: str | Path, resumed_epoch: int | None = None):
        super().__init__(save_dir, name="csv", version="", flush_logs_every_n_steps=1)
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

"""The CSV log of a resumed run keeps every finished epoch once."""

from __future__ import annotations

import csv

from mumap.training.loggers import ResumableCSVLogger


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_resumed_log_keeps_the_epochs_up_to_the_checkpoint_and_drops_the_cut_one(tmp_path):
    first = ResumableCSVLogger(tmp_path)
    for epoch in range(3):  # the kill cut epoch 2 short; the checkpoint is of epoch 1
        first.log_metrics({"epoch": epoch, "val/l1": 0.1 * (3 - epoch)}, step=epoch)
    path = tmp_path / "csv" / "metrics.csv"
    assert [row["epoch"] for row in _rows(path)] == ["0", "1", "2"]  # written through, nothing buffered
    resumed = ResumableCSVLogger(tmp_path, resumed_epoch=1)
    resumed.log_metrics({"epoch": 2, "val/l1": 0.05}, step=2)
    rows = _rows(path)
    assert [row["epoch"] for row in rows] == ["0", "1", "2"] and float(rows[-1]["val/l1"]) == 0.05


def test_a_fresh_log_starts_empty(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text("epoch,val/l1\n7,0.9\n")
    ResumableCSVLogger(tmp_path).log_metrics({"epoch": 0, "val/l1": 0.5}, step=0)
    assert [row["epoch"] for row in _rows(tmp_path / "csv" / "metrics.csv")] == ["0"]

"""The post-fit evaluation callback: a training run ends with the evaluation report of its best checkpoint,
whose pooled metrics are also in the run's log."""

from __future__ import annotations

import csv
import json

import pytest

pytestmark = pytest.mark.slow  # the trained smoke run


def test_a_run_ends_with_the_report_of_its_best_checkpoint(smoke_run):
    report = smoke_run / "report-test"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["studies"] == 1  # evaluation.max_studies of experiment=smoke
    assert "best-epoch=" in (report / "summary.md").read_text()
    assert all((report / f"{name}.png").stat().st_size > 10_000 for name in ("fig4_mu_map", "fig5_polar_maps"))
    with open(smoke_run / "csv" / "metrics.csv", newline="") as f:
        logged = [float(row["report/nmae_mean"]) for row in csv.DictReader(f) if row.get("report/nmae_mean")]
    assert logged == [pytest.approx(metrics["nmae_mean"])]

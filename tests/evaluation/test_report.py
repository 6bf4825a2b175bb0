"""The report: a smoke run on the tiny cohort evaluated end to end, through evaluate.py."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from mumap.evaluation import report

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_evaluate_writes_a_consistent_report(smoke_run, tmp_path):
    out = tmp_path / "report"
    completed = subprocess.run([sys.executable, str(REPO / "evaluate.py"), f"run={smoke_run}", "split=test",
                                "max_studies=1", f"out={out}"], capture_output=True, text=True, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "| Pearson R (polar pixels) |" in completed.stdout
    for name in ("metrics.json", "studies.csv", "summary.md", "fig4_mu_map.png", "fig5_polar_maps.png",
                 "fig6_bland_altman.png", "fig7_correlation.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    rows = list(csv.DictReader((out / "studies.csv").open()))
    assert metrics["studies"] == len(rows) == 1
    study = rows[0]["id"]
    # one study: the pooled values are that study's, recomputed from its saved polar maps
    saved = np.load(out / "polar" / f"{study}.npz")
    assert metrics["nmae_mean"] == pytest.approx(float(rows[0]["nmae"]))
    ape = np.abs(saved["scores DLAC"] - saved["scores CTAC"]) / saved["scores CTAC"] * 100
    assert metrics["ape DLAC mean"] == pytest.approx(ape.mean())
    assert metrics["pixel nAC mean"] == pytest.approx(np.nanmean(np.abs(saved["map nAC"] - saved["map CTAC"])))
    assert metrics["nmae_mean"] > 0 and -1 <= metrics["r DLAC"] <= 1  # a 2-epoch smoke model: no quality bar


def test_evaluate_names_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config.yaml: not found"):
        report.write_report(tmp_path)


def test_evaluate_config_composes():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["run=outputs/quick"])
    assert cfg.split == "test" and cfg.checkpoint == "best" and cfg.max_studies is None
    assert cfg.out == "outputs/quick/report-test"

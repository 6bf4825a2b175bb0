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
from omegaconf import OmegaConf

from mumap.data import io
from mumap.evaluation import polar, report
from mumap.training.checkpoints import load_module
from tests.helpers import require_stir

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_evaluate_writes_a_consistent_report(smoke_run, tmp_path):
    out = tmp_path / "report"
    # the post-fit report of the smoke run found its frames automatically and says which are uncertain
    automatic = json.loads((smoke_run / "report-test" / "metrics.json").read_text())
    flagged = [row["id"] for row in csv.DictReader((smoke_run / "report-test" / "studies.csv").open())
               if row["lv_source"] == "automatic" and row["lv_uncertain"] == "True"]
    assert automatic["uncertain_frames"] == flagged
    # a reader's frame for the study evaluated here (the phantom's) replaces the automatic one
    root = Path(OmegaConf.load(smoke_run / ".hydra" / "config.yaml").data.root)
    study = io.read_split(root, "test", 1)[0]
    truth = json.loads((root / study["truth"]).read_text())["lv"]
    frames = tmp_path / "frames.json"
    frames.write_text(json.dumps({study["id"]: {k: truth[k] for k in ("centre_xyz_mm", "long_axis")}}))
    completed = subprocess.run([sys.executable, str(REPO / "evaluate.py"), f"run={smoke_run}", "split=test",
                                "max_studies=1", f"out={out}", f"lv_frames={frames}"], capture_output=True, text=True,
                               cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "| Pearson R (polar pixels) |" in completed.stdout
    assert "Every LV frame was found with confidence" in completed.stdout
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
    assert rows[0]["lv_source"] == "reader" and rows[0]["lv_uncertain"] == "False"
    np.testing.assert_allclose(json.loads(rows[0]["lv"])["centre_xyz_mm"], truth["centre_xyz_mm"])
    assert metrics["uncertain_frames"] == [] and metrics["unflagged"] is None
    excess = {name: float(rows[0][f"extracardiac {name}"]) for name in ("CTAC", "DLAC", "nAC", "uniform AC")}
    assert min(excess.values()) >= 0.0 and (rows[0]["extracardiac_map"] == "True") == (
        max(excess.values()) > polar.EXTRACARDIAC_EXCESS_MAX)
    assert metrics["extracardiac_maps"] == ([study] if rows[0]["extracardiac_map"] == "True" else [])
    assert float(rows[0]["uncertainty"]) > 0 and metrics["uncertainty_mean"] == pytest.approx(
        float(rows[0]["uncertainty"]))  # Monte Carlo dropout of the smoke model's bottleneck
    assert (out / "fig8_uncertainty_error.png").stat().st_size > 0


@pytest.mark.slow
def test_a_hard_cohort_is_reported_beside_the_split(smoke_run, tmp_path):
    root = Path(OmegaConf.load(smoke_run / ".hydra" / "config.yaml").data.root)
    out = tmp_path / "report"
    # the test split again as the "hard" cohort: the same studies must get the same OOD scores (AUROC 0.5)
    metrics = report.write_report(smoke_run, "test", out=out, progress=False, hard=root, workers=2)
    tests = io.read_split(root, "test")
    assert metrics["studies"] == metrics["hard"]["studies"] == len(tests)
    hard_rows = {row["id"]: row for row in csv.DictReader((out / "hard" / "studies.csv").open())}
    rows = list(csv.DictReader((out / "studies.csv").open()))
    # two worker processes give the numbers this process gives alone
    alone = report.evaluate_studies(root, load_module(smoke_run, "best")[1], "test", max_studies=1, progress=False,
                                    workers=1)[0]["row"]
    for key in ("nmae", "ape DLAC", "pixel nAC", "r uniform AC", "uncertainty", "lv_score"):
        assert float(rows[0][key]) == pytest.approx(alone[key], rel=1e-6), key
    for row in rows:
        assert float(row["ood_score"]) == pytest.approx(float(hard_rows[row["id"]]["ood_score"]))
        assert float(row["nmae"]) == pytest.approx(float(hard_rows[row["id"]]["nmae"]))
    assert metrics["ood_auroc_hard"] == pytest.approx(0.5)
    reference = metrics["ood_reference"]
    assert reference["studies"] == len(io.read_split(root, "train")) and reference["threshold"] > 0
    summary = (out / "summary.md").read_text()
    assert "## The hard cohort beside the test split" in summary and "| OOD score: median" in summary
    assert len(list((out / "hard" / "polar").glob("*.npz"))) == len(tests)


@pytest.mark.slow
def test_the_report_can_run_prac_in_stir(smoke_run, tmp_path):
    require_stir()
    native = report.write_report(smoke_run, "test", max_studies=1, out=tmp_path / "native", progress=False)
    [row] = csv.DictReader((tmp_path / "native" / "studies.csv").open())
    frame = json.loads(row["lv"])  # native's LV pose for STIR's too (its size is fitted to each CTAC image)
    frames = tmp_path / "frames.json"
    frames.write_text(json.dumps({row["id"]: {k: frame[k] for k in ("centre_xyz_mm", "long_axis")}}))
    stir = report.write_report(smoke_run, "test", max_studies=1, out=tmp_path / "stir", progress=False,
                               lv_frames=frames, prac_backend_name="stir")
    assert native["prac_backend"] == "native" and stir["prac_backend"] == "stir"
    assert "PRAC: stir." in (tmp_path / "stir" / "summary.md").read_text()
    assert stir["nmae_mean"] == native["nmae_mean"]  # the μ-maps do not depend on PRAC
    polar = {name: np.load(tmp_path / name / "polar" / f"{row['id']}.npz") for name in ("native", "stir")}
    for image in ("CTAC", "uniform AC"):  # 17-segment scores (% of max): measured 4.2 and 4.3 points apart
        difference = polar["stir"][f"scores {image}"] - polar["native"][f"scores {image}"]
        assert np.abs(difference).mean() < 8.0


@pytest.mark.parametrize(("content", "message"), [("{", "cannot read the LV frames"),
                                                  ('{"S0001": {"centre_xyz_mm": [1, 2, 3]}}', "S0001 needs"),
                                                  ('[1, 2]', "the file needs"),
                                                  ('{"S0002": {"centre_xyz_mm": [1, 2, "a"], "long_axis": [1, 0, 0]}}',
                                                   "S0002: an LV frame needs"),
                                                  ('{"S0003": {"centre_xyz_mm": [1, 2, 3], "long_axis": [0, 0, 0]}}',
                                                   "S0003: the LV's long axis cannot be the zero vector")])
def test_lv_frames_that_are_not_frames_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "frames.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"frames.json: {message}"):
        report.read_lv_frames(path)


def test_evaluate_names_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config.yaml: not found"):
        report.write_report(tmp_path)


def test_evaluate_config_composes():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["run=outputs/quick"])
    assert cfg.split == "test" and cfg.checkpoint == "best" and cfg.max_studies is None
    assert cfg.out == "outputs/quick/report-test" and cfg.lv_frames is None

"""The synthetic cohort: dataset contract, physical plausibility, determinism, resumption, CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mumap.cli import main as cli
from mumap.data import io
from mumap.data.phantom import MU_140KEV, anatomy_from_dict, lv_segment_map
from mumap.data.synthesize import PRESETS, plan_cohort, synthesize
from tests.helpers import cohort_digest

TINY = PRESETS["tiny"]


@pytest.fixture
def cohort(tiny_cohort) -> Path:
    return tiny_cohort


def _rows(root: Path) -> list[dict]:
    with open(root / "studies.csv") as f:
        return list(csv.DictReader(f))


def test_the_contract_files_and_columns(cohort):
    meta = json.loads((cohort / "dataset.json").read_text())
    assert meta["preset"] == "tiny" and meta["seed"] == 3 and meta["voxel_mm"] == [9.6, 9.6, 9.6]
    assert meta["units"]["mumap"] == "cm^-1" and meta["energy_keV"] == 140.5
    rows = _rows(cohort)
    assert len(rows) == TINY.n_studies and len({r["patient_id"] for r in rows}) == TINY.n_patients
    assert list(rows[0])[:8] == ["id", "patient_id", "protocol", "sex", "age", "height_cm", "weight_kg", "split"]
    for row in rows:
        assert row["protocol"] in ("stress", "rest") and row["sex"] in ("F", "M")
        for column in ("nac", "sc", "ctac", "mumap", "bed", "projections", "truth"):
            assert (cohort / row[column]).is_file()


def test_split_is_by_patient_and_roughly_70_15_15():
    plans = plan_cohort(PRESETS["paper"], seed=0)
    assert len(plans) == 150 and len({p.patient.patient_id for p in plans}) == 103
    split_of = {}
    for plan in plans:
        assert split_of.setdefault(plan.patient.patient_id, plan.split) == plan.split
    counts = {s: list(split_of.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 72, "val": 15, "test": 16}


def test_images_are_physical_and_the_heart_is_where_the_truth_says(cohort):
    for row in _rows(cohort):
        mu, voxel_mm, _ = io.load_nifti(cohort / row["mumap"])
        assert voxel_mm == pytest.approx(TINY.grid.voxel_mm)
        assert 110 <= mu.shape[0] * voxel_mm[0] <= TINY.grid.shape[0] * voxel_mm[0]
        values = set(np.unique(mu).astype(float).round(4).tolist())
        assert values <= {round(v, 4) for v in MU_140KEV.values()}
        assert {MU_140KEV["lung"], MU_140KEV["soft_tissue"], MU_140KEV["bed"]} <= values
        assert mu.max() <= 0.30
        bed = io.load_nifti(cohort / row["bed"])[0]
        assert bed.sum() > 0 and np.allclose(mu[bed > 0], MU_140KEV["bed"])
        truth = json.loads((cohort / row["truth"]).read_text())
        first, last = truth["slices"]
        segments = lv_segment_map(TINY.grid, anatomy_from_dict(truth["anatomy"]))[first:last]
        for name in ("nac", "sc", "ctac"):
            image = io.load_nifti(cohort / row[name])[0]
            assert image.min() >= 0
            # the hot LV is where the truth puts it, not 6 cm behind (in the lung and mediastinum)
            behind = np.roll(segments, round(60.0 / voxel_mm[1]), axis=1)
            assert image[segments > 0].mean() > 2 * image[behind > 0].mean()


def test_same_seed_gives_identical_arrays_with_any_worker_count_and_resumes(cohort, tmp_path):
    again = tmp_path / "again"
    synthesize("tiny", again, seed=3, workers=2, progress=False)
    assert cohort_digest(again) == cohort_digest(cohort)
    # a killed run: one study missing, one half-written temporary folder left behind
    kept = again / "S0000" / "nac.nii.gz"
    before = kept.stat().st_mtime_ns
    shutil.rmtree(again / "S0004")
    (again / "S0005.tmp").mkdir()
    (again / "studies.csv").unlink()
    synthesize("tiny", again, seed=3, workers=1, progress=False)
    assert kept.stat().st_mtime_ns == before  # finished studies are not redone
    assert not list(again.glob("*.tmp"))
    assert cohort_digest(again) == cohort_digest(cohort)


def test_processes_building_one_cohort_at_once_take_turns(cohort, tmp_path):
    """DDP ranks or Slurm array tasks that all find no cohort: one builds, the others wait for it."""
    out = tmp_path / "shared"
    command = [sys.executable, "-m", "mumap.cli", "synthesize", "--preset", "tiny", "--out", str(out), "--seed", "3",
               "--workers", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("S*")):  # the first is writing its first study
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-2000:]
        time.sleep(0.02)
    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert first.wait() == 0, first.stderr.read()[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    assert "another process is building this cohort; waiting" in second.stderr
    assert not list(out.glob("*.tmp")) and cohort_digest(out) == cohort_digest(cohort)


def test_another_seed_in_the_same_folder_is_refused(cohort):
    with pytest.raises(ValueError, match=r"dataset\.json: .* holds preset 'tiny' with seed 3"):
        synthesize("tiny", cohort, seed=4, progress=False)


def test_cli_synthesize(cohort, capsys):
    assert cli(["synthesize", "--preset", "tiny", "--out", str(cohort), "--seed", "3", "--workers", "1"]) == 0
    assert cli(["synthesize", "--preset", "tiny", "--out", str(cohort), "--seed", "9"]) == 2
    assert "choose another --out" in capsys.readouterr().err

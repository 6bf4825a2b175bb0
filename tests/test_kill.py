"""Training killed with SIGKILL and restarted loses and repeats nothing, and ends bit-identical (CPU, fp32)
to an uninterrupted run. The other kill tests: cohort synthesis in tests/data/test_synthesize.py, a search
worker in tests/search/test_sweeper.py."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import kill_when

pytestmark = pytest.mark.slow  # trains twice, in subprocesses
REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _finish(command: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def _train(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", "experiment=smoke", f"data.root={root}", f"hydra.run.dir={out}",
            "trainer.max_epochs=5", "trainer.precision=32-true", "test=false", "callbacks.evaluation=null", *extra]


def _saved_epoch(checkpoint: Path) -> int:
    try:
        return torch.load(checkpoint, weights_only=False)["epoch"]
    except (FileNotFoundError, RuntimeError, EOFError):  # not written yet, or being written
        return -1


def _logged(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(f)]


def test_killed_training_resumes_to_the_uninterrupted_result(tiny_cohort, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _finish(_train(tiny_cohort, whole))
    process = subprocess.Popen(_train(tiny_cohort, killed), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    last = killed / "checkpoints" / "last.ckpt"
    kill_when(process, lambda: _saved_epoch(last) >= 1)
    assert torch.load(last, weights_only=False)["epoch"] < 4  # killed before the end
    _finish(_train(tiny_cohort, killed, "ckpt_path=last"))
    expected = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=False)
    resumed = torch.load(last, weights_only=False)
    assert resumed["epoch"] == expected["epoch"] == 4 and resumed["global_step"] == expected["global_step"]
    for name, value in expected["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name
    # every epoch's metrics logged once, with the very values of the uninterrupted run
    assert [row["epoch"] for row in _logged(whole) if "val/l1" in row] == ["0", "1", "2", "3", "4"]
    assert _logged(killed) == _logged(whole)

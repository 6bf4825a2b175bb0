"""``scripts/remeasure_cohort.sh --from STEP``, run from a copy in an empty folder (its steps' tools are not there, so
nothing but its own bookkeeping can run): resuming keeps the cohorts, names every step it skips, and an unknown step
or a wrong argument is said, with exit status 2, before any step runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "remeasure_cohort.sh"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts")
    (tmp_path / "data" / "quick").mkdir(parents=True)
    (tmp_path / "data" / "quick" / "studies.csv").write_text("kept\n")
    return tmp_path / "scripts" / SCRIPT.name


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LOG": "logs"})


def test_an_unknown_step_is_said_after_skipping_every_step_and_the_cohorts_are_kept(copy):
    result = run(copy, "--from", "no-such-step")
    assert result.returncode == 2
    assert "no step is named no-such-step" in result.stderr
    skipped = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("skip")]
    assert skipped[:3] == ["data", "hard0", "hard1"] and "predict" in skipped and skipped[-1] == "digest"
    assert (copy.parents[1] / "data" / "quick" / "studies.csv").read_text() == "kept\n"
    assert not list((copy.parents[1] / "logs").iterdir())  # no step ran


def test_resuming_skips_the_steps_before_and_runs_the_named_one(copy):
    result = run(copy, "--from", "digest")
    assert result.returncode != 0  # the step runs, and fails here: no .venv in the copy
    assert "FAILED digest" in result.stderr and "skip  digest" not in result.stdout
    assert "skip  predict" in result.stdout
    assert (copy.parents[1] / "data" / "quick" / "studies.csv").read_text() == "kept\n"


@pytest.mark.parametrize("args", [("--from",), ("--resume", "digest"), ("--from", "digest", "extra")])
def test_wrong_arguments_are_said(copy, args):
    result = run(copy, *args)
    assert result.returncode == 2 and "usage:" in result.stderr

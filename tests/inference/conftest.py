"""Fixtures of the inference tests: a model file exported from the smoke run, and a test study."""

from __future__ import annotations

from pathlib import Path

import pytest

from mumap.cli import main as cli
from mumap.data import io


@pytest.fixture(scope="session")
def model_file(smoke_run, tmp_path_factory) -> Path:
    [checkpoint] = (smoke_run / "checkpoints").glob("best-*.ckpt")
    out = tmp_path_factory.mktemp("model") / "smoke.mumap.pt"
    assert cli(["export", str(checkpoint), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def test_study(tiny_cohort) -> dict:
    return next(row for row in io.read_studies(tiny_cohort / "studies.csv") if row["split"] == "test")

"""Shared fixtures: tiny grids, so that the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from mumap.spect.geometry import ImageGrid
from tests.helpers import SMALL_GRID, compose_train


@pytest.fixture
def small_grid() -> ImageGrid:
    """:data:`tests.helpers.SMALL_GRID`: non-cubic, non-square 48 × 40 × 24 (x × y × z), 9.6 mm voxels."""
    return SMALL_GRID


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> Path:
    """The tiny synthetic cohort (seed 3), built once per test session."""
    from mumap.data.synthesize import synthesize

    root = tmp_path_factory.mktemp("tiny")
    synthesize("tiny", root, seed=3, workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def smoke_run(tiny_cohort, tmp_path_factory) -> Path:
    """A finished smoke training run on the tiny cohort, laid out as ``python train.py`` leaves it
    (checkpoints/, .hydra/config.yaml, report-test/ from the post-fit evaluation)."""
    from omegaconf import OmegaConf

    from mumap.training.train import run

    output = tmp_path_factory.mktemp("smoke-run")
    cfg = compose_train("experiment=smoke", f"data.root={tiny_cohort}", "name=smoke", f"paths.output_dir={output}")
    run(cfg)
    (output / ".hydra").mkdir()
    OmegaConf.save(cfg, output / ".hydra" / "config.yaml")  # what Hydra writes for train.py
    return output

"""Shared fixtures: tiny grids, so that the suite runs in minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from mumap.spect.geometry import ImageGrid


@pytest.fixture
def small_grid() -> ImageGrid:
    """Non-cubic, non-square 48 × 40 × 24 (x × y × z) grid of 9.6 mm voxels."""
    return ImageGrid((24, 40, 48), (9.6, 9.6, 9.6))


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
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from mumap.training.train import run

    output = tmp_path_factory.mktemp("smoke-run")
    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=smoke", f"data.root={tiny_cohort}", "name=smoke"],
                      return_hydra_config=True)
    with open_dict(cfg):
        del cfg["hydra"]
    run(cfg, output)
    (output / ".hydra").mkdir()
    OmegaConf.save(cfg, output / ".hydra" / "config.yaml", resolve=True)  # what Hydra writes for train.py
    return output

"""Training: every config group composes, both modules learn, smoke run end to end, resume, hparams."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from mumap.data.datamodule import MuMapDataModule
from mumap.training.train import build_datamodule, build_module, run

CONF = str(Path(__file__).resolve().parents[2] / "conf")
GROUPS = {"data": ["synthetic"], "model": ["unet4", "unet5"], "discriminator": ["classifier", "patchgan"],
          "loss": ["l1", "l2_gdl"], "normalization": ["mean", "gaussian"], "training": ["cgan", "distance"],
          "trainer": ["default", "ddp"], "logger": ["default", "wandb"], "experiment": ["quick", "smoke", "paper"]}


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, options in GROUPS.items() for o in options])
def test_every_config_option_composes(group, option):
    cfg = _compose(f"{group}={option}")
    assert cfg.hydra.runtime.choices[group] == option


def test_paper_experiment_is_the_papers_best_configuration():
    cfg = _compose("experiment=paper")
    assert list(cfg.data.patch_size) == [64, 64, 64] and cfg.data.batch_size == 32
    assert list(cfg.model.features) == [64, 128, 256, 512] and cfg.discriminator.kind == "classifier"
    assert list(cfg.discriminator.features) == [64, 128, 256] and list(cfg.discriminator.fully_connected) == [512, 128]
    assert (cfg.training.lambda_adv, cfg.training.lambda_dist, cfg.training.lr) == (1.0, 100.0, 1e-3)
    assert cfg.normalization.kind == "mean" and cfg.loss.name == "l1" and cfg.trainer.max_epochs == 100


def _smoke(root: Path, *overrides: str) -> DictConfig:
    cfg = _compose("experiment=smoke", f"data.root={root}", *overrides)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def test_datamodule_patches_and_volumes(tiny_cohort, tmp_path):
    dm = MuMapDataModule(str(tiny_cohort), "nac", ["sc"], (16, 16, 16), 3, 2, "gaussian")
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 2, 16, 16, 16) and y.shape == (2, 1, 16, 16, 16)
    inputs, target, bed, _ = next(iter(dm.val_dataloader()))
    assert inputs.shape[2] >= 32 and bed.sum() > 0 and float(target[bed > 0].abs().max()) == 0.0  # bed removed
    assert len(dm.train_dataloader().dataset) == 3 * len(dm.splits["train"])


@pytest.mark.parametrize("training", ["cgan", "distance"])
def test_one_optimisation_step_changes_the_weights(tiny_cohort, tmp_path, training):
    cfg = _smoke(tiny_cohort, f"training={training}")
    dm = build_datamodule(cfg)
    dm.setup("fit")
    module = build_module(cfg, dm.in_channels)
    before = [p.detach().clone() for p in module.parameters()]
    L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False).fit(module, dm)
    changed = [not torch.equal(a, p.detach()) for a, p in zip(before, module.parameters(), strict=True)]
    assert all(changed[: len(list(module.generator.parameters()))])
    if training == "cgan":
        assert any(changed[len(list(module.generator.parameters())):])


def test_smoke_run_trains_tests_and_resumes(tiny_cohort, tmp_path):
    out = tmp_path / "run"
    cfg = _smoke(tiny_cohort, "trainer.max_epochs=1", "normalization=gaussian")
    metrics = run(cfg, out)
    assert {"val/l1", "val/nmae", "test/l1", "test/nmae"} <= set(metrics)
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["hyper_parameters"]["normalization"] == "gaussian"
    assert (out / "csv" / "metrics.csv").is_file()
    resumed = _smoke(tiny_cohort, "trainer.max_epochs=2", "normalization=gaussian", "ckpt_path=last")
    run(resumed, out)
    assert torch.load(last, weights_only=False)["epoch"] == 1  # continued, not restarted

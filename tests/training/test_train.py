"""Training: every config group composes, both modules learn, smoke run end to end, resume, hparams."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from mumap.data import io
from mumap.data.datamodule import MuMapDataModule
from mumap.data.phantom import MU_140KEV
from mumap.training.modules import DistanceModule
from mumap.training.train import build_datamodule, build_module, fast_precision, run

REPO = Path(__file__).resolve().parents[2]
CONF = str(REPO / "conf")
GROUPS = {"data": ["synthetic"], "model": ["unet4", "unet5"], "discriminator": ["classifier", "patchgan"],
          "loss": ["l1", "l2_gdl"], "normalization": ["mean", "gaussian"], "training": ["cgan", "distance"],
          "trainer": ["default", "ddp"], "logger": ["default", "wandb"], "experiment": ["quick", "smoke", "paper"],
          "hparams": ["random"]}


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, options in GROUPS.items() for o in options])
def test_every_config_option_composes(group, option):
    cfg = _compose(f"{group}={option}")
    assert cfg.hydra.runtime.choices[group] == option


def test_quick_experiment_picks_a_precision_the_hardware_runs_fast():
    cfg = _compose("experiment=quick")
    assert cfg.trainer.precision == fast_precision() in {"bf16-mixed", "16-mixed", "32-true"}
    assert _compose("experiment=smoke").trainer.precision == "32-true"


def test_paper_experiment_is_the_papers_best_configuration():
    cfg = _compose("experiment=paper")
    assert list(cfg.data.patch_size) == [64, 64, 64] and cfg.data.batch_size == 32
    module = build_module(cfg, 1)
    assert module.generator.features == (64, 128, 256, 512) and cfg.discriminator.kind == "classifier"
    linears = [m.out_features for m in module.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    convs = [m.out_channels for m in module.discriminator.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs == [64, 64, 128, 128, 256, 256] and linears == [512, 128, 1]
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
    inputs, target, bed, uniform, _ = next(iter(dm.val_dataloader()))
    assert inputs.shape[1] == 2 and inputs.shape[2:] == target.shape[2:] == uniform.shape[2:]
    assert bed.sum() > 0 and float(target[bed > 0].abs().max()) == 0.0  # bed removed
    assert uniform.unique().tolist() == pytest.approx([0.0, MU_140KEV["water"]])
    body = uniform > 0
    assert float((target > 0.05)[body].float().mean()) > 0.6 and float(body[target > 0.09].float().mean()) > 0.7
    assert len(dm.train_dataloader().dataset) == 3 * len(dm.splits["train"])


@pytest.mark.parametrize(("training", "channels_last"), [("cgan", False), ("distance", False), ("cgan", True)])
def test_one_optimisation_step_changes_the_weights(tiny_cohort, tmp_path, training, channels_last):
    cfg = _smoke(tiny_cohort, f"training={training}", f"model.channels_last={channels_last}")
    dm = build_datamodule(cfg)
    dm.setup("fit")
    module = build_module(cfg, dm.in_channels)
    conv = next(p for p in module.generator.parameters() if p.dim() == 5 and p.shape[1] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) == channels_last
    before = [p.detach().clone() for p in module.parameters()]
    L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False).fit(module, dm)
    changed = [not torch.equal(a, p.detach()) for a, p in zip(before, module.parameters(), strict=True)]
    assert all(changed[: len(list(module.generator.parameters()))])
    if training == "cgan":
        assert any(changed[len(list(module.generator.parameters())):])


def test_smoke_run_trains_tests_and_resumes(tiny_cohort, tmp_path):
    out = tmp_path / "run"
    cfg = _smoke(tiny_cohort, "trainer.max_epochs=1", "normalization=gaussian")
    metrics = run(cfg, out).metrics
    assert {"val/l1", "val/nmae", "test/l1", "test/nmae", "test/nmae_uniform"} <= set(metrics)
    assert 0.01 < metrics["test/nmae_uniform"] < 0.2 and metrics["test/nmae"] > 0
    assert (out / "images" / "val-epoch=000.png").stat().st_size > 10_000
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["hyper_parameters"]["normalization"] == "gaussian"
    assert (out / "csv" / "metrics.csv").is_file()
    # the post-fit evaluation wrote the report of one test study and logged its pooled metrics
    report = json.loads((out / "report-test" / "metrics.json").read_text())
    assert report["studies"] == 1 and (out / "report-test" / "fig5_polar_maps.png").is_file()
    with open(out / "csv" / "metrics.csv", newline="") as f:
        logged = [float(row["report/nmae_mean"]) for row in csv.DictReader(f) if row.get("report/nmae_mean")]
    assert logged == [pytest.approx(report["nmae_mean"])]
    resumed = _smoke(tiny_cohort, "trainer.max_epochs=2", "normalization=gaussian", "ckpt_path=last")
    run(resumed, out)
    assert torch.load(last, weights_only=False)["epoch"] == 1  # continued, not restarted
    with pytest.raises(FileExistsError, match="ckpt_path=last"):
        run(cfg, out)  # a fresh run never mixes its checkpoints into an existing one


def test_ddp_trains_with_two_cpu_processes_over_gloo(tiny_cohort, tmp_path):
    """``trainer=ddp`` through ``train.py``: Lightning relaunches the script for rank 1, both ranks join."""
    command = [sys.executable, str(REPO / "train.py"), "experiment=smoke", "trainer=ddp", "trainer.accelerator=cpu",
               "trainer.max_epochs=1", f"data.root={tiny_cohort}", "name=ddp"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "distributed_backend=gloo" in log
    assert "All distributed processes registered. Starting with 2 processes" in log
    assert "MEMBER: 2/2" in log  # rank 1 came up
    assert torch.load(tmp_path / "outputs" / "ddp" / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 0
    assert "test/nmae" in (tmp_path / "outputs" / "ddp" / "csv" / "metrics.csv").read_text()


@pytest.mark.parametrize("sweep", [["model=unet4,unet5"], ["hparams=random", "hydra.sweeper.n_trials=2"]])
def test_ddp_under_a_local_sweep_is_refused_before_anything_runs(tiny_cohort, tmp_path, sweep):
    """Lightning would relaunch ``train.py -m …`` for rank 1: a second sweep, not a second rank."""
    command = [sys.executable, str(REPO / "train.py"), "-m", "experiment=smoke", "trainer=ddp",
               "trainer.accelerator=cpu", f"data.root={tiny_cohort}", *sweep]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "trainer=ddp cannot run under -m on one machine" in done.stderr
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("optuna.db"))


def test_saved_model_normalises_a_raw_image_as_training_did(tiny_cohort, tmp_path):
    """The normalisation kind travels in the checkpoint: a reloaded model given the raw nAC predicts
    exactly what the datamodule's normalised volume gives."""
    out = tmp_path / "run"
    run(_smoke(tiny_cohort, "trainer.max_epochs=1", "normalization=gaussian", "training=distance", "test=false"), out)
    model = DistanceModule.load_from_checkpoint(out / "checkpoints" / "last.ckpt", weights_only=False,
                                                generator=build_module(_smoke(tiny_cohort), 1).generator)
    assert model.hparams.normalization == "gaussian" and list(model.hparams.inputs) == ["nac"]
    model.eval()
    dm = MuMapDataModule(str(tiny_cohort), normalization="gaussian")
    dm.setup()
    study = dm.splits["val"][0]
    row = next(r for r in csv_rows(tiny_cohort) if r["id"] == study.study_id)
    raw, _, _ = io.load_nifti(tiny_cohort / row["nac"])
    from_raw = model.predict_mu_map(torch.from_numpy(raw)[None])
    with torch.no_grad():
        from_datamodule = model.predict_volume(study.inputs[None])[0, 0]
    torch.testing.assert_close(from_raw, from_datamodule)
    mean_normalised = DistanceModule(model.generator, normalization="mean").eval()
    assert (mean_normalised.predict_mu_map(torch.from_numpy(raw)[None]) - from_raw).abs().max() > 1e-3
    with pytest.raises(ValueError, match="1 channels"):
        model.predict_mu_map(torch.zeros(2, 8, 8, 8))


def csv_rows(root: Path) -> list[dict]:
    with open(root / "studies.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_training_on_cpu_is_bit_reproducible(tiny_cohort, tmp_path, precision):
    weights = []
    for attempt in ("a", "b"):
        cfg = _smoke(tiny_cohort, "trainer.max_epochs=2", f"trainer.precision={precision}", "test=false",
                     "evaluation.enabled=false")
        run(cfg, tmp_path / attempt)
        weights.append(torch.load(tmp_path / attempt / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])

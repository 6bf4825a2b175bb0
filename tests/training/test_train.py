"""Training runs: the experiments' settings, a smoke run end to end with test, report and resume, DDP,
bit-reproducibility, and a run killed with SIGKILL that resumes to the uninterrupted result."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import DictConfig

from mumap.training.checkpoints import resolve_checkpoint
from mumap.training.config import fast_precision
from mumap.training.train import run
from tests.helpers import compose_train, kill_when

REPO = Path(__file__).resolve().parents[2]


def test_quick_experiment_picks_a_precision_the_hardware_runs_fast():
    cfg = compose_train("experiment=quick")
    assert cfg.trainer.precision == fast_precision() in {"bf16-mixed", "16-mixed", "32-true"}
    assert compose_train("experiment=smoke").trainer.precision == "32-true"


def test_paper_experiment_is_the_papers_best_configuration():
    cfg = compose_train("experiment=paper")
    assert list(cfg.data.patch_size) == [64, 64, 64] and cfg.data.batch_size == 32
    module = hydra.utils.instantiate(cfg.training)
    assert module.generator.features == (64, 128, 256, 512)
    assert type(module.discriminator).__name__ == "ClassifierDiscriminator"
    linears = [m.out_features for m in module.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    convs = [m.out_channels for m in module.discriminator.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs == [64, 64, 128, 128, 256, 256] and linears == [512, 128, 1]
    assert (cfg.training.lambda_adv, cfg.training.lambda_dist, cfg.training.lr) == (1.0, 100.0, 1e-3)
    assert cfg.normalization.kind == "mean" and type(module.distance).__name__ == "L1Loss"
    assert cfg.trainer.max_epochs == 100


def _smoke(root: Path, output: Path, *overrides: str) -> DictConfig:
    return compose_train("experiment=smoke", f"data.root={root}", f"paths.output_dir={output}", "name=smoke",
                         *overrides)


@pytest.mark.slow
def test_smoke_run_trains_tests_and_resumes(tiny_cohort, tmp_path):
    out = tmp_path / "run"
    cfg = _smoke(tiny_cohort, out, "trainer.max_epochs=1", "normalization=gaussian")
    metrics = run(cfg).metrics
    assert {"val/l1", "val/nmae", "test/l1", "test/nmae", "test/nmae_uniform"} <= set(metrics)
    assert 0.01 < metrics["test/nmae_uniform"] < 0.2 and metrics["test/nmae"] > 0
    assert (out / "images" / "val-epoch=000.png").stat().st_size > 10_000
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["hyper_parameters"]["normalization"] == "gaussian"
    assert (out / "csv" / "metrics.csv").is_file()
    assert (out / "report-test" / "metrics.json").is_file()  # its content: tests/evaluation/test_callbacks.py
    best = resolve_checkpoint(out, "best")
    assert best.name == "best-epoch=0.ckpt"
    resumed = _smoke(tiny_cohort, out, "trainer.max_epochs=2", "normalization=gaussian", "ckpt_path=last")
    result = run(resumed)
    assert torch.load(last, weights_only=False)["epoch"] == 1  # continued, not restarted
    assert resolve_checkpoint(out, "best") == Path(result.best_checkpoint)  # what ModelCheckpoint kept
    with pytest.raises(FileExistsError, match="ckpt_path=last"):
        run(cfg)  # a fresh run never mixes its checkpoints into an existing one


@pytest.mark.slow
def test_a_run_without_its_best_epoch_callback_is_refused(tiny_cohort, tmp_path):
    with pytest.raises(ValueError, match=r"callbacks\.best_epoch is required"):
        run(_smoke(tiny_cohort, tmp_path, "callbacks.best_epoch=null"))


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("sweep", [["model=unet4,unet5"], ["hparams=random", "hydra.sweeper.n_trials=2"]])
def test_ddp_under_a_local_sweep_is_refused_before_anything_runs(tiny_cohort, tmp_path, sweep):
    """Lightning would relaunch ``train.py -m …`` for rank 1: a second sweep, not a second rank."""
    command = [sys.executable, str(REPO / "train.py"), "-m", "experiment=smoke", "trainer=ddp",
               "trainer.accelerator=cpu", f"data.root={tiny_cohort}", *sweep]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "trainer=ddp cannot run under -m on one machine" in done.stderr
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("optuna.db"))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_training_on_cpu_is_bit_reproducible(tiny_cohort, tmp_path, precision):
    weights = []
    for attempt in ("a", "b"):
        cfg = _smoke(tiny_cohort, tmp_path / attempt, "trainer.max_epochs=2", f"trainer.precision={precision}",
                     "test=false", "callbacks.evaluation=null")
        run(cfg)
        weights.append(torch.load(tmp_path / attempt / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


# --- killed with SIGKILL and restarted: nothing lost or repeated, bit-identical (CPU, fp32) ---
KILL_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _finish(command: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, env=KILL_ENV, capture_output=True, text=True)
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


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_result(tiny_cohort, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _finish(_train(tiny_cohort, whole))
    process = subprocess.Popen(_train(tiny_cohort, killed), cwd=REPO, env=KILL_ENV, stdout=subprocess.DEVNULL,
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

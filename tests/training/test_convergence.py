"""The convergence rule and the callback that keeps the best epoch's metrics (across resumes)."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
import torch
from omegaconf import OmegaConf

from mumap.training.convergence import BestEpochMetrics, judge
from mumap.training.train import RunResult


def test_convergence_rule_names_every_failed_criterion():
    good = {"val/nmae": 0.03, "val/nmae_uniform": 0.05, "val/contrast": 0.9, "val/roughness": 1.1}
    assert judge(good).converged and judge(good).reason == "converged"
    verdict = judge({**good, "val/nmae": 0.06, "val/contrast": 0.1})
    assert not verdict.converged
    assert verdict.reason.startswith("no better than uniform") and "near-constant" in verdict.reason
    assert judge({**good, "val/roughness": 3.0}).reason.startswith("noise")
    assert judge({**good, "val/nmae": float("nan")}).reason.startswith("diverged")
    with pytest.raises(KeyError, match="val/contrast"):
        judge({"val/nmae": 0.1, "val/nmae_uniform": 0.2, "val/roughness": 1})


def test_best_epoch_never_prefers_a_diverged_epoch():
    callback = BestEpochMetrics()
    for epoch, l1 in enumerate([float("nan"), 0.2, float("nan"), 0.1, 0.15]):
        trainer = SimpleNamespace(sanity_checking=False, current_epoch=epoch,
                                  callback_metrics={"val/l1": torch.tensor(l1), "train/loss": torch.tensor(0.0)})
        callback.on_validation_epoch_end(trainer, None)
    assert callback.metrics == {"val/l1": pytest.approx(0.1), "epoch": 3.0}


def test_best_epoch_metrics_survive_a_resume():
    callback = BestEpochMetrics()
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=4, callback_metrics={"val/l1": torch.tensor(0.3)})
    callback.on_validation_epoch_end(trainer, None)
    resumed = BestEpochMetrics()
    resumed.load_state_dict(callback.state_dict())
    worse = SimpleNamespace(sanity_checking=False, current_epoch=5, callback_metrics={"val/l1": torch.tensor(0.4)})
    resumed.on_validation_epoch_end(worse, None)
    assert resumed.metrics == {"val/l1": pytest.approx(0.3), "epoch": 4.0}


def test_a_diverged_run_is_a_finished_trial_worth_infinity():
    best = {"val/l1": float("nan"), "val/nmae": float("nan"), "val/nmae_uniform": 0.05,
            "val/contrast": float("nan"), "val/roughness": float("nan")}
    result = RunResult(metrics={}, best_checkpoint="", best_epoch=best, verdict=judge(best))
    record = result.trial_record(OmegaConf.create({"seed": 1}), {"model": "unet4", "hydra/launcher": "basic"})
    assert record["objective"] == float("inf") and record["convergence"].startswith("diverged")
    assert record["choices"] == {"model": "unet4"}
    study = optuna.create_study()
    trial = study.ask()
    study.tell(trial, record["objective"])
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE



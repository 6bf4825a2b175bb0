"""Did a training run converge? A rule instead of the paper's look at a few predicted μ-maps.

The paper discarded 50 of 215 random-search runs "that did not converge to predict adequate
attenuation maps", sorted out by eye. mumap judges each run at its best validation epoch (the epoch
whose checkpoint is kept, lowest ``val/l1``) from three validation metrics, each the mean over the
validation studies:

- ``val/nmae`` ≥ ``val/nmae_uniform``: the prediction is no better than a uniform μ inside the body
  outline found from the nAC image (:func:`mumap.data.body.uniform_mu_map`) → ``no better than uniform``;
- ``val/contrast`` < :data:`MIN_CONTRAST` (:func:`mumap.training.metrics.contrast_ratio`): the
  prediction's spread inside the body is a small fraction of the true μ-map's (lungs, bone and soft
  tissue flattened) → ``near-constant``;
- ``val/roughness`` > :data:`MAX_ROUGHNESS` (:func:`mumap.training.metrics.roughness_ratio`): the
  prediction's total variation is several times the true one's (checkerboard or speckle instead of
  anatomy) → ``noise``.

A run whose metrics are not finite at its best epoch (the losses diverged to NaN from the start) is
``diverged``. The 11 converged trials of the recorded quick search (``experiments/quick-random``, 0.10.0
cohort, 8 epochs) had contrast 0.60–1.00 and roughness 0.88–1.87 at their best epoch, the non-converged
ones 0.46–9.40 and 0.72–13.73. There every non-converged trial failed the NMAE criterion (10 also the
roughness one); the structure ratios are the second line, for maps that beat the baseline's NMAE while
flat or speckled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightning as L

MIN_CONTRAST = 0.3
MAX_ROUGHNESS = 2.5
METRICS = ("val/nmae", "val/nmae_uniform", "val/contrast", "val/roughness")


@dataclass(frozen=True)
class Verdict:
    converged: bool
    reason: str  # "converged", or the failed criteria joined by "; "


def judge(metrics: dict[str, float]) -> Verdict:
    """Apply the rule of this module to the validation metrics of one epoch (keys :data:`METRICS`)."""
    missing = [k for k in METRICS if k not in metrics]
    if missing:
        raise KeyError(f"the convergence rule needs {missing}")
    if not all(math.isfinite(metrics[k]) for k in METRICS):
        return Verdict(False, "diverged (non-finite validation metrics)")
    failed = []
    if not metrics["val/nmae"] < metrics["val/nmae_uniform"]:
        failed.append(f"no better than uniform (NMAE {metrics['val/nmae']:.4f} ≥ {metrics['val/nmae_uniform']:.4f})")
    if not metrics["val/contrast"] >= MIN_CONTRAST:
        failed.append(f"near-constant (contrast {metrics['val/contrast']:.2f} < {MIN_CONTRAST})")
    if not metrics["val/roughness"] <= MAX_ROUGHNESS:
        failed.append(f"noise (roughness {metrics['val/roughness']:.2f} > {MAX_ROUGHNESS})")
    return Verdict(not failed, "; ".join(failed) or "converged")


class BestEpochMetrics(L.Callback):
    """Keeps the validation metrics of the epoch with the lowest ``val/l1`` (the checkpoint criterion),
    across resumes (saved in the checkpoint), so that a run is judged and reported at its best epoch."""

    def __init__(self, monitor: str = "val/l1"):
        self.monitor = monitor
        self.metrics: dict[str, float] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        current = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        value, best = current[self.monitor], self.metrics.get(self.monitor, math.nan)
        if not self.metrics or value < best or (math.isnan(best) and not math.isnan(value)):
            self.metrics = {**current, "epoch": float(trainer.current_epoch)}

    def verdict(self) -> Verdict:
        return judge(self.metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.metrics = dict(state_dict["metrics"])

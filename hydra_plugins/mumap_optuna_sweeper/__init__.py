"""Registers mumap's Optuna sweeper with Hydra as ``hydra/sweeper=mumap_optuna``.

Thin on purpose: Hydra instantiates plugins only from the ``hydra_plugins`` namespace, and scans it at
every start, so this module holds the config and a delegate; the search itself is
:mod:`mumap.search.sweeper`, imported when a sweep starts (plain runs do not import Optuna).
"""

from dataclasses import dataclass, field
from typing import Any, Optional  # real types, no __future__ annotations: OmegaConf reads them

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.mumap_optuna_sweeper.OptunaSweeper"
    sampler: str = "random"        # random (the paper's random search) | tpe
    seed: Optional[int] = 0  # noqa: UP045 — random: trial k is seeded by (seed, k); tpe: seed + process id
    direction: str = "minimize"
    objective: str = "objective"   # key of the task's returned mapping that Optuna optimises
    study_name: str = "search"
    storage: str = "sqlite:///${hydra.sweep.dir}/optuna.db"  # any SQLAlchemy URL (postgresql://…) for many hosts
    n_trials: int = 20             # trials of the whole study (all workers), not of this process
    n_jobs: int = 1                # trials per launcher batch (a Slurm array of n_jobs with submitit_slurm)
    heartbeat_interval: int = 60   # s; a running trial whose worker stopped beating for grace_period is failed
    grace_period: int = 180        # s
    max_failures: int = 5          # this worker stops after so many failed trials in a row
    params: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="mumap_optuna", node=OptunaSweeperConf, provider="mumap")


class OptunaSweeper(Sweeper):
    """Delegates to :class:`mumap.search.sweeper.OptunaSearch` (options: :class:`OptunaSweeperConf`)."""

    def __init__(self, **options: Any):
        from mumap.search.sweeper import OptunaSearch

        self.search = OptunaSearch(**options)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.search.sweep(arguments)

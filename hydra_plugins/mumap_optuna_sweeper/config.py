"""Config of the ``mumap_optuna`` sweeper, registered as ``hydra/sweeper: mumap_optuna``."""

from dataclasses import dataclass, field
from typing import Any, Optional  # real types, no __future__ annotations: OmegaConf reads them

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.mumap_optuna_sweeper.sweeper.OptunaSweeper"
    sampler: str = "random"        # random (the paper's random search) | tpe
    seed: Optional[int] = 0  # noqa: UP045           # random: trial k is seeded by (seed, k); tpe: seed + the worker's process id
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


ConfigStore.instance().store(group="hydra/sweeper", name="mumap_optuna", node=OptunaSweeperConf,
                             provider="mumap")

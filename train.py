"""Train a μ-map generator: ``python train.py [experiment=quick|smoke|paper] [model=unet5] [loss=l2_gdl] …``;
search hyper-parameters: ``python train.py -m hparams=random [hydra.sweeper.n_trials=215]``."""

from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mumap.training.train import check_launch, run


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Returns the run's record (objective = best validation NMAE), which ``-m hparams=random`` stores per trial."""
    hydra_config = HydraConfig.get()
    check_launch(cfg.trainer, hydra_config)
    return run(cfg).trial_record(cfg, dict(hydra_config.runtime.choices))


if __name__ == "__main__":
    main()

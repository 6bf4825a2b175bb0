"""Train a μ-map generator: ``python train.py [experiment=quick|smoke|paper] [model=unet5] [loss=l2_gdl] …``."""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mumap.training.train import run


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    metrics = run(cfg, HydraConfig.get().runtime.output_dir)
    return metrics.get("val/l1", float("nan"))


if __name__ == "__main__":
    main()

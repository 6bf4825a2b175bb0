"""Evaluate a training run: ``python evaluate.py run=outputs/quick split=test`` → ``<run>/report-test``."""

import hydra
from omegaconf import DictConfig

from mumap.evaluation.report import frame_summary, summary_table, write_report


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    metrics = write_report(cfg.run, cfg.split, cfg.checkpoint, cfg.max_studies, cfg.out, lv_frames=cfg.lv_frames)
    print(summary_table(metrics))
    print(frame_summary(metrics))


if __name__ == "__main__":
    main()

"""Evaluate a training run: ``python evaluate.py run=outputs/quick split=test`` → ``<run>/report-test``; with
``hard=<cohort>`` the hard cohort's studies beside them; ``prac.backend=stir`` runs PRAC in STIR."""

import hydra
from omegaconf import DictConfig

from mumap.evaluation.report import comparison_table, flag_summary, summary_table, uncertainty_summary, write_report


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    metrics = write_report(cfg.run, cfg.split, cfg.checkpoint, cfg.max_studies, cfg.out, lv_frames=cfg.lv_frames,
                           hard=cfg.hard, hard_split=cfg.hard_split, prac_backend_name=cfg.prac.backend,
                           workers=cfg.workers)
    print(summary_table(metrics))
    print(flag_summary(metrics))
    print(uncertainty_summary(metrics))
    if cfg.hard:
        print(comparison_table({cfg.split: metrics, "hard": metrics["hard"]}))


if __name__ == "__main__":
    main()

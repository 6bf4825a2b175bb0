"""Search throughput: trials/hour with 1 and with 2 local workers on one study, in one run
(``python -m mumap.bench.search``; ``make bench`` runs it).

Both searches draw the same trials (the random sampler seeds trial k by (seed, k)), so the two
throughputs compare equal work. Each worker is a ``python train.py -m hparams=random`` process with
``OMP_NUM_THREADS=1``; the target on 2 cores is 2 workers ≥ 1.6 × 1 worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

REPO = Path(__file__).resolve().parents[2]


def run_search(workers: int, trials: int, folder: Path, overrides: list[str]) -> tuple[float, list[float]]:
    """Run ``workers`` concurrent workers on a fresh study of ``trials`` trials; returns the wall time (s)
    and the duration (s) of each complete trial."""
    command = [sys.executable, str(REPO / "train.py"), "-m", "hparams=random", f"hydra.sweeper.n_trials={trials}",
               "logger.wandb=null", "trainer.enable_progress_bar=false", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    folder.mkdir(parents=True)
    start = time.perf_counter()
    processes = [subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for _ in range(workers)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise RuntimeError(f"a search worker failed in {folder}:\n{err[-3000:]}")
    seconds = time.perf_counter() - start
    [database] = folder.glob("outputs/search/*/optuna.db")
    [summary] = optuna.get_all_study_summaries(f"sqlite:///{database}")
    study = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{database}")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    return seconds, [(t.datetime_complete - t.datetime_start).total_seconds() for t in complete]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mumap.bench.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--experiment", default="quick")
    parser.add_argument("--root", default=str(REPO / "data" / "quick"), help="cohort (built on first use)")
    args = parser.parse_args(argv)
    overrides = [f"experiment={args.experiment}", f"data.root={Path(args.root).resolve()}",
                 f"trainer.max_epochs={args.epochs}"]
    print(f"search bench: {args.trials} trials of experiment={args.experiment}, {args.epochs} epoch(s), "
          f"1 thread per worker, {os.cpu_count()} cores")
    rates, per_trial = {}, {}
    with tempfile.TemporaryDirectory(prefix="mumap-search-bench-") as tmp:
        for workers in (1, 2):
            seconds, durations = run_search(workers, args.trials, Path(tmp) / f"workers-{workers}", overrides)
            rates[workers], per_trial[workers] = len(durations) / seconds * 3600, sum(durations) / len(durations)
            print(f"workers={workers} trials={len(durations)} seconds={seconds:.0f} "
                  f"trials_per_hour={rates[workers]:.1f} mean_trial_seconds={per_trial[workers]:.1f} "
                  f"outside_trials_seconds={seconds - sum(durations) / workers:.1f}")
    print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x (target >= 1.6x); a trial takes "
          f"{per_trial[2] / per_trial[1]:.2f}x as long beside another worker")


if __name__ == "__main__":
    main()

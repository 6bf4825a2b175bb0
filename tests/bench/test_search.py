"""The search benchmark, with ``train.py`` replaced by a stand-in whose trials sleep a known time: it counts
the trials of each search, reads their durations from the Optuna database and compares the two searches."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("optuna")
from mumap.bench import search as bench

SLEEP_S = 0.5
TRIALS = 4

# What the bench needs of `train.py -m hparams=random`: workers sharing one Optuna study in
# outputs/search/<name>/optuna.db under the working folder until it holds hydra.sweeper.n_trials trials.
FAKE_TRAIN = f'''
import sys, time
from pathlib import Path

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
trials = int(next(a.split("=")[1] for a in sys.argv if a.startswith("hydra.sweeper.n_trials=")))
folder = Path("outputs/search/fake")
folder.mkdir(parents=True, exist_ok=True)
for attempt in range(50):  # the two workers create the study at the same moment
    try:
        study = optuna.create_study(study_name="fake", storage=f"sqlite:///{{folder / 'optuna.db'}}",
                                    load_if_exists=True)
        break
    except Exception:
        time.sleep(0.1)
while len(study.trials) < trials:
    study.optimize(lambda trial: time.sleep({SLEEP_S}) or 0.0, n_trials=1)
'''


@pytest.mark.slow
def test_search_bench_counts_and_times_the_trials_of_both_searches(tmp_path, monkeypatch, capsys):
    (tmp_path / "train.py").write_text(FAKE_TRAIN)
    monkeypatch.setattr(bench, "REPO", tmp_path)
    bench.main(["--trials", str(TRIALS)])
    out = capsys.readouterr().out.strip().splitlines()
    runs = {}
    for line in out:
        if match := re.fullmatch(r"workers=(\d) trials=(\d+) seconds=\d+ trials_per_hour=(\S+) "
                                 r"mean_trial_seconds=(\S+) outside_trials_seconds=(\S+)", line):
            runs[int(match.group(1))] = [float(v) for v in match.groups()[1:]]
    assert runs.keys() == {1, 2}, out
    for workers, (trials, per_hour, mean_trial, outside) in runs.items():
        assert trials == TRIALS
        assert SLEEP_S <= mean_trial < SLEEP_S + 0.5  # the trial durations, from the study's database
        assert 0 < per_hour < workers * 3600 / SLEEP_S  # never more than the workers could do back to back
        assert outside >= -0.05  # start-up and everything else outside the trials
    match = re.fullmatch(r"speed-up 2 vs 1 workers: (\S+)x \(target >= 1.6x\); a trial takes (\S+)x as long "
                         r"beside another worker", out[-1])
    assert match, out[-1]
    assert float(match.group(1)) == pytest.approx(runs[2][1] / runs[1][1], rel=0.01)
    assert 0.8 < float(match.group(2)) < 1.5  # sleeping trials do not slow each other down

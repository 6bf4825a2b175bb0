"""The mumap_optuna sweeper: search space, the composed paper space, and real searches through
``python train.py -m hparams=random experiment=smoke`` (resume, two concurrent workers, a killed worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict
from optuna.trial import TrialState

import mumap
from mumap.search.analyze import analyze
from mumap.search.sweeper import SURPLUS, OptunaSearch, SearchSpace, open_storage

REPO = Path(__file__).resolve().parents[2]
CONF = str(REPO / "conf")
STUDY = Path("outputs/search/smoke-random")


def _compose(*overrides: str, conf: str = CONF):
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def test_coupled_choice_sets_its_keys_with_their_own_ranges():
    space = SearchSpace(OmegaConf.create({
        "loss": "choice(l1, l2_gdl)",
        "training.lr": "tag(log, interval(1e-4, 1e-2))",
        "patches": {"small": {"data.patch_size": [32, 32, 32], "data.batch_size": 64,
                              "data.patches_per_image": "range(50, 101)"},
                    "large": {"data.patch_size": [64, 64, 64], "data.batch_size": 32,
                              "data.patches_per_image": "range(25, 51)"}}}))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    seen = Counter()
    for _ in range(200):
        trial = study.ask()
        overrides = dict(o.split("=", 1) for o in space.sample(trial))
        per_image = int(overrides["data.patches_per_image"])
        if trial.params["patches"] == "small":
            assert overrides["data.patch_size"] == "[32,32,32]" and overrides["data.batch_size"] == "64"
            assert 50 <= per_image <= 100
        else:
            assert overrides["data.patch_size"] == "[64,64,64]" and overrides["data.batch_size"] == "32"
            assert 25 <= per_image <= 50
        assert 1e-4 <= float(overrides["training.lr"]) <= 1e-2 and overrides["loss"] in ("l1", "l2_gdl")
        assert trial.params["data.patches_per_image"] == per_image
        seen[trial.params["patches"], per_image in (100, 50)] += 1
        study.tell(trial, 0.0)
    assert seen["small", True] + seen["large", True] > 0  # the range's last value is drawn (Hydra's stop excluded)
    assert 60 < seen["small", False] + seen["small", True] < 140


def test_hparams_random_is_the_papers_space_scaled_by_the_experiment():
    cfg = _compose("hparams=random", "experiment=paper")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.sampler == "random" and sweeper.n_trials == 215
    assert sweeper.study_name == "paper-random" and sweeper.storage.endswith("outputs/search/paper-random/optuna.db")
    params = sweeper.params
    assert {"model", "discriminator", "discriminator.depth", "discriminator.filters", "loss", "training.lambda_adv",
            "training.lambda_dist", "normalization", "data.input", "patches"} <= set(params)
    assert list(params.patches.small["data.patch_size"]) == [32, 32, 32]
    assert params.patches.large["data.batch_size"] == 32
    assert params.patches.small["data.patches_per_image"] == "range(50, 101)"
    assert cfg.test is False and cfg.callbacks.evaluation is None
    quick = _compose("hparams=random").hydra.sweeper.params.patches
    assert list(quick.large["data.patch_size"]) == [32, 32, 32] and quick.small["data.batch_size"] == 16
    slurm = _compose("hparams=random", "hydra/launcher=submitit_slurm").hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher")


def _search(cwd: Path, tiny: Path, *overrides: str, max_epochs: int = 1, stdout=subprocess.PIPE,
            **popen) -> subprocess.Popen:
    command = [sys.executable, str(REPO / "train.py"), "-m", "hparams=random", "experiment=smoke",
               f"data.root={tiny}", f"trainer.max_epochs={max_epochs}", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True, **popen)


def _finish(process: subprocess.Popen) -> str:
    log, _ = process.communicate(timeout=900)
    assert process.returncode == 0, log[-4000:]
    return log


def _study(cwd: Path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{cwd / STUDY / 'optuna.db'}")  # may race with a worker creating it
    return optuna.load_study(study_name="smoke-random", storage=storage)


LOSSES = {"l1": "mumap.training.losses.L1Loss", "l2_gdl": "mumap.training.losses.L2GradientDifferenceLoss"}


@pytest.mark.slow
def test_search_stores_each_trial_resumes_and_exports_a_reproducible_best(tiny_cohort, tmp_path):
    _finish(_search(tmp_path, tiny_cohort, "hydra.sweeper.n_trials=2"))
    log = _finish(_search(tmp_path, tiny_cohort, "hydra.sweeper.n_trials=3"))  # the same study, one more trial
    assert "2 already claimed" in log and log.count("Launching 1 jobs locally") == 1
    trials = _study(tmp_path).get_trials()
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        attrs = t.user_attrs
        assert Path(attrs["checkpoint"]).is_file() and f"trial-{t.number:04d}" in attrs["checkpoint"]
        assert t.value == pytest.approx(attrs["val_metrics"]["val/nmae"]) and t.value > 0
        assert isinstance(attrs["converged"], bool) and attrs["convergence"]
        config = attrs["config"]
        assert config["loss"]["_target_"] == LOSSES[t.params["loss"]]
        assert config["data"]["input"] == t.params["data.input"]
        assert config["data"]["patches_per_image"] == t.params["data.patches_per_image"]
        assert attrs["choices"]["model"] == t.params["model"] and attrs["choices"]["experiment"] == "smoke"
        assert attrs["cohort"] == {"generator": f"mumap {mumap.__version__} synthetic IQ·SPECT cohort",
                                   "preset": "tiny", "seed": 3}
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3  # seeded per trial, all different

    conf = tmp_path / "conf"
    subprocess.run(["cp", "-r", CONF, str(conf)], check=True)
    summary = analyze(tmp_path / STUDY, tmp_path / "analysis", export="smoke-best", conf=conf)
    best = min(trials, key=lambda t: (not t.user_attrs["converged"], t.value))
    assert summary["best_trial"] == best.number and (tmp_path / "analysis" / "fig3_loss.png").is_file()
    assert "# Found on a cohort built by mumap" in (conf / "experiment" / "smoke-best.yaml").read_text()
    trained = best.user_attrs["config"]
    exported = _compose("experiment=smoke-best", f"paths.output_dir={trained['paths']['output_dir']}",
                        f"name={trained['name']}", conf=str(conf))
    with open_dict(exported):
        del exported["hydra"], exported["test"], exported["callbacks"]["evaluation"]
    trained = {k: v for k, v in trained.items() if k != "test"}
    del trained["callbacks"]["evaluation"]
    assert OmegaConf.to_container(exported, resolve=True) == trained


@pytest.mark.slow
def test_two_workers_share_one_study_without_losing_or_repeating_a_trial(tiny_cohort, tmp_path):
    workers = [_search(tmp_path, tiny_cohort, "hydra.sweeper.n_trials=5") for _ in range(2)]
    logs = [_finish(w) for w in workers]
    ran = [{int(line.split("Trial ")[1].split(":")[0]) for line in log.splitlines() if "] Trial " in line}
           for log in logs]
    trials = _study(tmp_path).get_trials()
    complete = [t.number for t in trials if t.state == TrialState.COMPLETE]
    surplus = [t for t in trials if t.user_attrs.get(SURPLUS)]
    assert len(complete) == 5 and len(trials) == 5 + len(surplus)
    assert all(t.state == TrialState.FAIL and list(t.user_attrs) == [SURPLUS] for t in surplus)  # never launched
    assert ran[0] and ran[1] and not ran[0] & ran[1] and ran[0] | ran[1] == set(complete)
    assert sorted(p.name for p in (tmp_path / STUDY).glob("trial-*")) == [f"trial-{n:04d}" for n in sorted(complete)]


@pytest.mark.slow
def test_a_killed_workers_trial_is_failed_and_run_again_and_the_study_goes_on(tiny_cohort, tmp_path):
    beat = ("hydra.sweeper.n_trials=2", "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=2")
    # The doomed worker's trial cannot finish by itself, so the worker never asks a second one; it is killed
    # in training, once the first epoch has left a checkpoint (well after the trial's first heartbeat).
    log = tmp_path / "killed-worker.log"  # not a pipe: nobody reads it while the worker trains
    with open(log, "w") as output:
        worker = _search(tmp_path, tiny_cohort, *beat, max_epochs=10**6, stdout=output, start_new_session=True)
    deadline = time.time() + 600
    while not any((tmp_path / STUDY / "trial-0000").rglob("*.ckpt")):
        assert worker.poll() is None, log.read_text()[-4000:]
        assert time.time() < deadline, "trial 0 wrote no checkpoint in 600 s"
        time.sleep(0.2)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    [killed] = _study(tmp_path).get_trials()
    assert killed.state == TrialState.RUNNING  # as the dead worker left it
    time.sleep(3)  # past the grace period since its last heartbeat
    _finish(_search(tmp_path, tiny_cohort, *beat))
    trials = _study(tmp_path).get_trials()
    assert trials[0].state == TrialState.FAIL
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE] * 2
    assert trials[1].params == trials[0].params  # the killed trial's configuration, trained again
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trials[1]) == 0


@pytest.mark.slow
def test_workers_starting_together_on_a_fresh_storage_share_one_study(tmp_path):
    """Workers started at the same instant race to create the SQLite tables; none may fail for it."""
    import multiprocessing

    storage = f"sqlite:///{tmp_path / 'new' / 'optuna.db'}"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        names = pool.map(_open_study, [storage] * 4)
    assert names == ["race"] * 4
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["race"]


def _open_study(storage: str) -> str:
    search = OptunaSearch("random", 0, "minimize", "objective", "race", storage, 1, 1, 60, 180, 5, {})
    return search.open_study().study_name


def test_a_worker_that_loses_the_last_slot_fails_its_surplus_trial_and_launches_nothing(tmp_path):
    """The race two workers run at the last slot, played out in one process: the other worker's ask
    lands between this worker's ask and its count."""
    search = OptunaSearch("random", 0, "minimize", "objective", "race", f"sqlite:///{tmp_path / 'optuna.db'}",
                          1, 1, 60, 180, 5, {})
    study = search.open_study()
    other_worker = optuna.load_study(study_name="race", storage=search.storage_url)
    ask = study.ask

    def ask_after_the_other_worker() -> optuna.Trial:
        other_worker.ask()
        return ask()

    study.ask = ask_after_the_other_worker
    assert search._ask_batch(study, []) == []
    first, surplus = study.get_trials()
    assert first.state == TrialState.RUNNING and not first.user_attrs
    assert surplus.state == TrialState.FAIL and surplus.user_attrs == {SURPLUS: True}

"""The Hydra sweeper ``hydra/sweeper=mumap_optuna`` (registered in ``hydra_plugins/mumap_optuna_sweeper``)
on Optuna ≥ 4: random search (the paper's method) or TPE over the space of ``hydra.sweeper.params``,
kept in an Optuna RDB so that a search resumes where it stopped and any number
of workers (processes, hosts, Slurm jobs) can work on one study at once.

Why our own: ``hydra-optuna-sweeper`` pins ``optuna<3``, and optuna 2.10's RDB storage fails with
SQLAlchemy 2 (``AssertionError`` in ``get_current_version``), so it cannot share a study through a
database today. This module is the small part of it mumap needs, on the current Optuna.

Search space (``hydra.sweeper.params``, key → value):

- Hydra's sweep syntax: ``choice(a, b)`` (categorical), ``range(lo, hi[, step])`` (integers, ``hi``
  excluded as in Hydra), ``interval(lo, hi)`` (float), ``tag(log, interval(lo, hi))`` (log-uniform);
  a plain value is fixed. Sweeps given on the command line (``loss=l1,l2_gdl``) join the space.
- A mapping ``{option: {key: value, …}, …}`` is a coupled choice: ``option`` is sampled as a categorical
  parameter named by the mapping's key and sets all its keys, whose values may be sweeps themselves
  (sampled under their own key names). The paper couples patch size, patches per image and batch size so.

Work loop of one worker: fail the trials of workers that stopped beating (Optuna heartbeat) and queue each
again with its parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``, :data:`KILLED_TRIAL_RETRIES` times), ask a
trial while fewer than ``n_trials`` are claimed (complete, running or waiting), launch it through
Hydra's launcher (in-process by default, ``hydra/launcher=submitit_slurm`` for Slurm), keep its
heartbeat while it runs, and tell Optuna the task's objective. Trial numbers are unique in the study,
so a worker that loses the race for the last slot fails its surplus trial at once (user attribute ``mumap:surplus``),
and runs nothing twice. With the random sampler each trial's parameters are seeded by (``seed``, trial
number): a study draws the same configurations whichever worker runs which trial.

The task returns a float, or a mapping with ``objective`` (the value Optuna sees) and further
JSON-able entries that are stored as the trial's user attributes (mumap stores the resolved config,
the checkpoint and the convergence verdict).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.trial import TrialState

from mumap.training.train import check_launch
from mumap.utils.seeding import derive_seed

log = logging.getLogger(__name__)
SURPLUS = "mumap:surplus"
CLAIMED = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
KILLED_TRIAL_RETRIES = 3  # a killed worker's trial runs again with its parameters, so a resumed search trains the
# configurations it would have trained without the kill; one that keeps killing its worker (out of memory) is dropped


def override_value(value: Any) -> str:
    """A config value as the right-hand side of a Hydra override (lists as ``[a,b]``)."""
    if isinstance(value, ListConfig | list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    return str(value)


class SearchSpace:
    """The parsed ``params``; :meth:`sample` draws one trial's overrides through Optuna's ``suggest_*``."""

    def __init__(self, params: Mapping[str, Any]):
        parser = OverridesParser.create()
        self.entries: dict[str, Any] = {}
        for key, value in params.items():
            if isinstance(value, Mapping | DictConfig):
                self.entries[key] = {option: SearchSpace(keys) for option, keys in value.items()}
            else:
                self.entries[key] = parser.parse_override(f"{key}={override_value(value)}")

    def add(self, override: Override) -> None:
        self.entries[override.key_or_group] = override

    def sample(self, trial: optuna.Trial) -> list[str]:
        """Hydra overrides ``key=value`` of one trial; sampled values become the trial's params."""
        overrides = []
        for key, entry in self.entries.items():
            if isinstance(entry, dict):
                option = trial.suggest_categorical(key, list(entry))
                overrides += entry[option].sample(trial)
            elif entry.is_sweep_override():
                overrides.append(f"{entry.get_key_element()}={_suggest(trial, key, entry.value())}")
            else:
                overrides.append(f"{entry.get_key_element()}={entry.get_value_element_as_str()}")
        return overrides


def _suggest(trial: optuna.Trial, name: str, sweep: Any) -> Any:
    if isinstance(sweep, ChoiceSweep):
        choices = [override_value(c) if isinstance(c, list) else c for c in sweep.list]
        return trial.suggest_categorical(name, choices)
    if isinstance(sweep, RangeSweep):
        if not all(float(v).is_integer() for v in (sweep.start, sweep.stop, sweep.step)):
            raise ValueError(f"{name}: range() takes integers here, use interval() for floats")
        return trial.suggest_int(name, int(sweep.start), int(sweep.stop) - int(sweep.step), step=int(sweep.step))
    if isinstance(sweep, IntervalSweep):
        return trial.suggest_float(name, sweep.start, sweep.end, log="log" in sweep.tags)
    raise ValueError(f"{name}: unsupported sweep {sweep!r}; use choice, range, interval or tag(log, interval)")


def open_storage(url: str, **options: Any) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at ``url`` (``options``: RDBStorage's), safe for processes that open a new one
    at the same moment: they race to create its tables and stamp their version, so that is retried.
    SQLite files get their folder and a 120 s lock timeout (workers wait for each other's writes)."""
    engine_kwargs = {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 120}}
    for _ in range(9):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **options)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
            time.sleep(0.5 + random.random())
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **options)  # the last try raises


class OptunaSearch(Sweeper):
    """The work of ``hydra/sweeper=mumap_optuna``; options: ``hydra_plugins.mumap_optuna_sweeper.OptunaSweeperConf``."""

    def __init__(self, sampler: str, seed: int | None, direction: str, objective: str, study_name: str,
                 storage: str, n_trials: int, n_jobs: int, heartbeat_interval: int, grace_period: int,
                 max_failures: int, params: Mapping[str, Any]):
        if sampler not in ("random", "tpe"):
            raise ValueError(f"hydra.sweeper.sampler must be random or tpe, got {sampler!r}")
        self.sampler_kind, self.seed, self.direction, self.objective = sampler, seed, direction, objective
        self.study_name, self.storage_url, self.n_trials, self.n_jobs = study_name, storage, n_trials, max(1, n_jobs)
        self.heartbeat_interval, self.grace_period, self.max_failures = heartbeat_interval, grace_period, max_failures
        self.space = SearchSpace(params or {})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        check_launch(config.trainer, config.hydra)  # before the study is opened or a trial asked
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def open_study(self) -> optuna.Study:
        """The study ``study_name`` in ``storage``, created on first use (SQLite files with their folder)."""
        with warnings.catch_warnings():  # the retry callback is "experimental" (since Optuna 2.8)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(KILLED_TRIAL_RETRIES)
        storage = open_storage(self.storage_url, heartbeat_interval=self.heartbeat_interval,
                               grace_period=self.grace_period, heartbeat_stale_trial_callback=retry)
        sampler = (optuna.samplers.RandomSampler(self.seed) if self.sampler_kind == "random"
                   else optuna.samplers.TPESampler(seed=None if self.seed is None else self.seed + os.getpid()))
        return optuna.create_study(study_name=self.study_name, storage=storage, sampler=sampler,
                                   direction=self.direction, load_if_exists=True)

    def sweep(self, arguments: list[str]) -> list[Any]:
        parser = OverridesParser.create()
        fixed = []
        for override in parser.parse_overrides(arguments):
            if override.is_sweep_override():
                self.space.add(override)
            else:
                fixed.append(override.input_line)
        study = self.open_study()
        log.info(f"Study {self.study_name!r} in {self.storage_url}: {self.sampler_kind} sampler, "
                 f"{self.n_trials} trials in all, {self._claimed(study)} already claimed")
        returns, failures = [], 0
        while True:
            optuna.storages.fail_stale_trials(study)
            batch = self._ask_batch(study, fixed)
            if not batch:
                break
            with _heartbeats(study, [trial for trial, _ in batch], self.heartbeat_interval):
                jobs = [overrides for _, overrides in batch]
                results = self.launcher.launch(jobs, initial_job_idx=batch[0][0].number)
            for (trial, _), result in zip(batch, results, strict=True):
                failures = 0 if self._tell(study, trial, result) else failures + 1
            returns.append(results)
            if failures >= self.max_failures:
                raise RuntimeError(f"{failures} trials in a row failed; logs in {self.config.hydra.sweep.dir}")
        done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        if done:
            log.info(f"Study {self.study_name!r}: {len(done)} complete trials, best #{study.best_trial.number} "
                     f"{self.objective}={study.best_value:.5g}")
        return returns

    def _claimed(self, study: optuna.Study) -> int:
        return len(study.get_trials(deepcopy=False, states=CLAIMED))

    def _ask_batch(self, study: optuna.Study, fixed: Sequence[str]) -> list[tuple[optuna.Trial, list[str]]]:
        batch = []
        for _ in range(self.n_jobs):
            if self._claimed(study) >= self.n_trials:
                break
            with warnings.catch_warnings():  # we keep the heartbeats ourselves (optimize() is not used)
                warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
                trial = study.ask()
            _beat(study, trial)  # from now on a killed worker's trial is found stale and failed
            claimed_before = [t for t in study.get_trials(deepcopy=False, states=CLAIMED) if t.number < trial.number]
            if len(claimed_before) >= self.n_trials:  # another worker took the last slot meanwhile
                trial.set_user_attr(SURPLUS, True)  # Trial.set_system_attr is gone in Optuna 5
                study.tell(trial, state=TrialState.FAIL)
                break
            if self.sampler_kind == "random" and self.seed is not None:
                seed = derive_seed(self.seed, trial.number)
                study.sampler = optuna.samplers.RandomSampler(seed)
            overrides = [*self.space.sample(trial), *fixed, f"hydra.sweep.subdir=trial-{trial.number:04d}"]
            trial.set_user_attr("overrides", overrides)
            batch.append((trial, overrides))
        if batch:
            self.validate_batch_is_legal([overrides for _, overrides in batch])
        return batch

    def _tell(self, study: optuna.Study, trial: optuna.Trial, result: Any) -> bool:
        """Record one finished job; returns whether it completed."""
        try:
            value = result.return_value  # raises the task's exception if it failed
        except Exception as error:
            log.warning(f"Trial {trial.number} failed: {error!r}")
            trial.set_user_attr("error", repr(error)[:2000])
            study.tell(trial, state=TrialState.FAIL)
            return False
        if isinstance(value, Mapping):
            for key, entry in value.items():
                if key != self.objective:
                    trial.set_user_attr(key, _jsonable(entry))
            value = value.get(self.objective)
        if value is None or math.isnan(float(value)):  # ∞ is a finished trial worth nothing (e.g. diverged)
            log.warning(f"Trial {trial.number} returned no {self.objective} ({value!r})")
            study.tell(trial, state=TrialState.FAIL)
            return False
        study.tell(trial, float(value))
        log.info(f"Trial {trial.number}: {self.objective}={float(value):.5g}")
        return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def _beat(study: optuna.Study, trial: optuna.Trial) -> None:
    study._storage.record_heartbeat(trial._trial_id)  # Optuna's own heartbeat thread is private to optimize()


@contextmanager
def _heartbeats(study: optuna.Study, trials: Sequence[optuna.Trial], interval: int) -> Iterator[None]:
    """Record the trials' heartbeats every ``interval`` s while their jobs run, so that another worker
    can tell a live trial from one whose worker was killed."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial in trials:
                _beat(study, trial)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, daemon=True, name="optuna-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

"""The Slurm launcher configs (conf/hydra/launcher/slurm_*.yaml) and docs/SCALING.md: the launchers compose
with consistent resources, and every ``python train.py`` command in the guide composes (config only, no run)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

REPO = Path(__file__).resolve().parents[2]
CONF = str(REPO / "conf")
DOC = REPO / "docs" / "SCALING.md"
SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
GROUPS = ("hydra/launcher", "trainer", "hparams")
COMMAND = re.compile(r"(?:^|[\s;&|\"'])(?:\S*/)?python3?\s+train\.py\b(.*)$")


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def _launcher(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


def doc_commands(text: str) -> list[list[str]]:
    """The overrides of each ``python train.py`` command in the ```bash blocks of ``text`` (``\\`` line
    continuations joined, comments, shell operators and ``-m`` dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            match = COMMAND.search(line)
            if not match:
                continue
            lexer = shlex.shlex(match.group(1), posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            overrides = []
            for token in lexer:
                if token and set(token) <= set("();<>|&"):
                    break
                if token not in ("-m", "--multirun"):
                    overrides.append(token)
            commands.append(overrides)
    return commands


def _choices(overrides: list[str]) -> dict[str, str]:
    return {key: value for key, _, value in (o.partition("=") for o in overrides) if key in GROUPS}


def test_slurm_gpu_is_the_submitit_slurm_launcher_with_one_gpu_per_trial():
    cfg = _compose("hparams=random", "hydra/launcher=slurm_gpu", "hydra.launcher.partition=gpu")
    launcher = _launcher(cfg)
    assert launcher["_target_"] == SLURM_LAUNCHER and cfg.hydra.runtime.choices["hydra/launcher"] == "slurm_gpu"
    assert launcher["gpus_per_node"] == 1 and launcher["tasks_per_node"] == 1 and launcher["nodes"] == 1
    assert cfg.trainer.devices == 1  # the trial's Lightning trainer uses exactly the job's one GPU
    assert launcher["partition"] == "gpu" and launcher["cpus_per_task"] >= cfg.data.num_workers
    assert launcher["mem_gb"] > 0 and launcher["timeout_min"] >= 180  # minutes: the paper's trials took ≈2 h
    assert launcher["submitit_folder"].startswith(f"{cfg.hydra.sweep.dir}/")
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")  # hparams=random keeps mumap's sweeper
    assert _launcher(_compose("hydra/launcher=slurm_gpu"))["partition"] is None  # cluster-specific, left to the user


@pytest.mark.parametrize("devices", [None, 4, 8])
def test_slurm_ddp_runs_one_task_per_gpu_and_as_many_as_trainer_devices(devices):
    extra = [] if devices is None else [f"trainer.devices={devices}"]
    cfg = _compose("trainer=ddp", "hydra/launcher=slurm_ddp", *extra)
    launcher = _launcher(cfg)
    assert launcher["_target_"] == SLURM_LAUNCHER and cfg.trainer.strategy.startswith("ddp")
    # Lightning's SLURMEnvironment refuses to run unless --ntasks-per-node equals trainer.devices
    assert launcher["tasks_per_node"] == launcher["gpus_per_node"] == cfg.trainer.devices
    assert cfg.trainer.devices == (devices or 2)
    assert launcher["nodes"] == 1 and launcher["cpus_per_task"] >= cfg.data.num_workers
    assert launcher["mem_gb"] is None and launcher["mem_per_gpu"]  # sbatch rejects --mem with --mem-per-gpu


def test_the_guide_names_the_configs_it_documents():
    commands = doc_commands(DOC.read_text())
    named = {(group, option) for command in commands for group, option in _choices(command).items()}
    assert {("hydra/launcher", "slurm_gpu"), ("hydra/launcher", "slurm_ddp"), ("trainer", "ddp"),
            ("hparams", "random")} <= named


def test_doc_commands_parser():
    text = ("```bash\nfor g in 0 1; do CUDA_VISIBLE_DEVICES=$g python train.py -m hparams=random & done; wait\n"
            ".venv/bin/python train.py -m trainer=ddp \\\n    'hydra.launcher.setup=[\"a b\"]'   # comment\n```\n"
            "```python\npython train.py trainer=nope\n```\n")
    assert doc_commands(text) == [["hparams=random"], ["trainer=ddp", 'hydra.launcher.setup=["a b"]']]


@pytest.mark.parametrize("overrides", doc_commands(DOC.read_text()), ids=" ".join)
def test_every_command_of_the_guide_composes(overrides):
    """Each command's overrides (group options and keys) compose, so the guide and the configs cannot drift."""
    cfg = _compose(*overrides)
    choices = cfg.hydra.runtime.choices
    for group, option in _choices(overrides).items():
        assert choices[group] == option
    if choices["hydra/launcher"] in ("slurm_gpu", "slurm_ddp"):
        launcher = _launcher(cfg)
        assert launcher["_target_"] == SLURM_LAUNCHER
        assert launcher["tasks_per_node"] == launcher["gpus_per_node"] == cfg.trainer.devices
    if choices["hparams"] == "random":
        sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
        assert sweeper["n_jobs"] >= 1 and "://" in sweeper["storage"]

"""Every option of every config group composes and builds (found by globbing conf/, so a new file is tested
the day it lands), and a generator of the user's own plugs in from a config directory outside conf/."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from mumap.training.config import input_kinds, instantiate_all
from tests.helpers import CONF, compose_train

REPO = Path(__file__).resolve().parents[2]
GLOBAL_GROUPS = {"experiment", "hparams"}  # `# @package _global_` options: they change the whole config


def _options() -> list[tuple[str, str]]:
    found = []
    for path in sorted(CONF.rglob("*.yaml")):
        group = path.parent.relative_to(CONF).as_posix()
        if group != ".":
            found.append((group, path.stem))
    return found


def test_the_glob_finds_every_group_of_the_defaults_list():
    groups = {group for group, _ in _options()}
    assert {"data", "model", "discriminator", "loss", "normalization", "training", "callbacks", "logger", "trainer",
            "paths", "experiment", "hparams", "hydra/launcher"} <= groups


@pytest.mark.parametrize(("group", "option"), _options())
def test_every_option_of_every_group_composes_and_builds(group, option, tmp_path):
    experiment = [] if group == "experiment" else ["experiment=smoke"]
    cfg = compose_train(f"{group}={option}", *experiment, f"paths.output_dir={tmp_path}", hydra_node=True)
    assert cfg.hydra.runtime.choices[group] == option
    if group.startswith("hydra/"):  # launchers are built by Hydra itself; their class must exist
        assert hydra.utils.get_class(cfg.hydra.launcher._target_)
        return
    HydraConfig.instance().set_config(cfg)  # so that ${hydra:...} resolves, as in a run
    datamodule = hydra.utils.instantiate(cfg.data)
    module = hydra.utils.instantiate(cfg.training)
    callbacks, loggers = instantiate_all(cfg.callbacks), instantiate_all(cfg.logger)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    assert datamodule.in_channels == len(cfg.inputs) == module.hparams.inputs.__len__()
    assert trainer.max_epochs == cfg.trainer.max_epochs and trainer.checkpoint_callback is not None
    assert len(callbacks) == sum(cfg.callbacks[name] is not None for name in cfg.callbacks)
    assert len(loggers) == sum(cfg.logger[name] is not None for name in cfg.logger)
    if group in ("data", "model", "discriminator", "loss", "training", "trainer"):  # one component each
        assert "_target_" in cfg[group]
    x = torch.rand(1, datamodule.in_channels, *[16] * 3)
    if "patch_size" in cfg.data and group != "experiment":  # paper-sized nets are built, not run
        assert module.generator.eval()(x).shape == (1, 1, 16, 16, 16)


def test_inputs_and_channels_follow_the_data_config():
    cfg = compose_train("experiment=smoke", "data.input=sc", "data.extra_inputs=[nac]", "paths.output_dir=x")
    assert list(cfg.inputs) == input_kinds("sc", ["nac"]) == ["sc", "nac"]
    assert cfg.model.in_channels == cfg.discriminator.in_channels == 2 and list(cfg.training.inputs) == ["sc", "nac"]


def _readme_example() -> tuple[dict[str, str], str]:
    """The README's own-generator example: files (first line ``# my_project/...``) and the command."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:python|yaml|bash)\n(.*?)```", readme, flags=re.DOTALL)
    files = {b.splitlines()[0][2:]: b for b in blocks if b.startswith("# my_project/")}
    [command] = [b.strip() for b in blocks if "--config-dir my_project/conf" in b]
    return files, command


@pytest.mark.slow
def test_a_users_own_generator_plugs_in_from_a_config_dir_outside_conf(tiny_cohort, tmp_path):
    """Exactly the README example (its files and command), on the tiny cohort and sized to run in seconds."""
    files, command = _readme_example()
    assert set(files) == {"my_project/my_generators.py", "my_project/conf/model/tiny.yaml"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    environment, *argv = shlex.split(command)
    tiny = [f"data.root={tiny_cohort}", "data.patch_size=[16,16,16]", "data.patches_per_image=2", "data.batch_size=2",
            "data.max_studies=2", "discriminator.depth=2", "discriminator.width=0.0625", "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false", "logger.wandb=null", "callbacks.evaluation=null", "test=false"]
    argv = [sys.executable if word == "python" else str(REPO / word) if word == "train.py" else word for word in argv]
    key, value = environment.split("=")
    done = subprocess.run([*argv, *tiny], cwd=tmp_path, env={**_env(), key: value}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    run = tmp_path / "outputs" / "tiny"
    saved = OmegaConf.load(run / ".hydra" / "config.yaml")
    assert saved.model._target_ == "my_generators.TinyGenerator"
    weights = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert weights["generator.net.0.weight"].shape == (8, 1, 3, 3, 3)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

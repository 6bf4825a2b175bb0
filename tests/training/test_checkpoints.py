"""A run on disk: its config, its best and last checkpoints (the best as ModelCheckpoint recorded it), its
model rebuilt from the config's _target_."""

from __future__ import annotations

import shutil

import pytest
import torch

from mumap.training.checkpoints import checkpoint_epoch, load_module, resolve_checkpoint, run_config, run_dir_of
from mumap.training.modules import CGANModule

pytestmark = pytest.mark.slow  # every test here trains or builds a cohort


def test_the_best_checkpoint_is_the_one_modelcheckpoint_recorded(smoke_run):
    last = resolve_checkpoint(smoke_run, "last")
    best = resolve_checkpoint(smoke_run, "best")
    recorded = [s for k, s in torch.load(last, weights_only=False)["callbacks"].items() if k.startswith("ModelCheck")]
    assert best.name == recorded[0]["best_model_path"].rsplit("/", 1)[-1] and best.parent == last.parent
    assert checkpoint_epoch(last) == 1 and run_dir_of(best) == smoke_run.resolve()
    assert resolve_checkpoint(smoke_run, str(last)) == last


def test_a_moved_run_still_finds_its_best_checkpoint(smoke_run, tmp_path):
    moved = shutil.copytree(smoke_run, tmp_path / "moved")
    assert resolve_checkpoint(moved, "best").parent == moved / "checkpoints"


def test_the_model_is_rebuilt_from_the_runs_config_with_its_weights(smoke_run):
    cfg, module, path = load_module(smoke_run, "best")
    assert isinstance(module, CGANModule) and not module.training and cfg == run_config(smoke_run)
    saved = torch.load(path, weights_only=False)["state_dict"]
    assert all(torch.equal(saved[name], value) for name, value in module.state_dict().items())


def test_missing_runs_and_checkpoints_are_named(smoke_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="training output directory"):
        run_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="has the run saved a checkpoint"):
        resolve_checkpoint(tmp_path, "best")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        resolve_checkpoint(smoke_run, str(tmp_path / "nope.ckpt"))
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable Lightning checkpoint"):
        resolve_checkpoint(broken, "best")

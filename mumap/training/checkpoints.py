"""Training runs on disk: a run folder (``outputs/<name>``) holds ``.hydra/config.yaml`` and
``checkpoints/`` (``best-epoch=N.ckpt`` kept by ``ModelCheckpoint``, and ``last.ckpt``). The one way to
find a run's config and checkpoint and to rebuild its model: the evaluation report, ``mumap export`` and
resuming all come through here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from mumap.training.config import register_resolvers

if TYPE_CHECKING:  # built from the config's _target_: importing it here would load Lightning for `mumap predict`
    from mumap.training.modules import MuMapModule

CONFIG = Path(".hydra") / "config.yaml"
CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run folder a checkpoint belongs to (checkpoints live in ``<run>/checkpoints/``)."""
    return Path(checkpoint).resolve().parent.parent


def run_config(run_dir: str | Path) -> DictConfig:
    """The composed config a run was trained with (Hydra's ``<run>/.hydra/config.yaml``)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found — is {run_dir} a training output directory?")
    register_resolvers()
    return OmegaConf.load(path)


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for corrupt files
        raise ValueError(f"{path}: not a readable Lightning checkpoint ({err})") from err


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch a checkpoint was saved at."""
    return int(_load(Path(path))["epoch"])


def resolve_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """A run's checkpoint: ``best`` (the one ``ModelCheckpoint`` recorded as best in ``last.ckpt``, the record
    Lightning itself keeps), ``last``, or a path to a checkpoint file."""
    folder = Path(run_dir) / CHECKPOINTS
    if which not in ("best", "last"):
        path = Path(which)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint not found")
        return path
    last = folder / LAST
    if not last.is_file():
        raise FileNotFoundError(f"{last}: not found — has the run saved a checkpoint?")
    if which == "last":
        return last
    states = [state for key, state in _load(last).get("callbacks", {}).items() if key.startswith("ModelCheckpoint")]
    recorded = states[0].get("best_model_path") if states else None
    if not recorded:
        raise FileNotFoundError(f"{last}: records no best checkpoint (no validation epoch yet?)")
    best = folder / Path(recorded).name  # the run folder may have moved since
    if not best.is_file():
        raise FileNotFoundError(f"{best}: the best checkpoint recorded in {last} is missing")
    return best


def load_module(run_dir: str | Path, checkpoint: str = "best") -> tuple[DictConfig, MuMapModule, Path]:
    """The run's config, its LightningModule rebuilt from the config's ``training`` node (``_target_``) with
    the weights of ``checkpoint`` (see :func:`resolve_checkpoint`), in eval mode, and the checkpoint's path."""
    cfg = run_config(run_dir)
    if "_target_" not in cfg.training:
        raise ValueError(f"{Path(run_dir) / CONFIG}: its `training` node has no _target_ (a run of mumap < 0.2); "
                         f"train it again with this version")
    path = resolve_checkpoint(run_dir, checkpoint)
    module = hydra.utils.instantiate(cfg.training)
    module.load_state_dict(_load(path)["state_dict"])
    return cfg, module.eval(), path

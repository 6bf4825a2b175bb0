"""The model file: built from the generator config it stores, and only from mumap's own classes unless the
user trusts the file; older formats are named."""

from __future__ import annotations

import pytest
import torch

from mumap.inference.model_file import ModelFileError, load_model
from mumap.utils.atomic import atomic_path

pytestmark = pytest.mark.slow  # the model file of the trained smoke run


def _rewrite(source, target, change) -> None:
    payload = torch.load(source, weights_only=True)
    change(payload)
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)


def test_the_generator_is_rebuilt_from_its_stored_config(model_file):
    payload = torch.load(model_file, weights_only=True)
    assert payload["generator"]["config"]["_target_"] == "mumap.models.generator.UNet3D"
    assert payload["generator"]["config"]["in_channels"] == 1  # resolved, not ${len:${inputs}}
    model = load_model(model_file)
    assert type(model.generator).__name__ == "UNet3D" and not model.generator.training
    # the training cohort's OOD reference: the train split's statistics, the val split's largest score
    assert model.ood.studies == payload["ood"]["studies"] > 0 and model.ood.threshold > 0
    assert len(model.ood.names) == len(model.ood.mean) == len(model.ood.std) and min(model.ood.std) > 0


def test_a_generator_from_outside_mumap_needs_trust(model_file, tmp_path):
    foreign = tmp_path / "foreign.mumap.pt"

    def elsewhere(payload):
        payload["generator"]["config"] = {"_target_": "torch.nn.Identity"}
        payload["generator"]["state_dict"] = {}

    _rewrite(model_file, foreign, elsewhere)
    with pytest.raises(ModelFileError, match=r"'torch\.nn\.Identity', code outside mumap.*--trust-code"):
        load_model(foreign)
    assert isinstance(load_model(foreign, trust_code=True).generator, torch.nn.Identity)


def test_an_older_format_is_named(model_file, tmp_path):
    old = tmp_path / "old.mumap.pt"
    _rewrite(model_file, old, lambda payload: payload.update(format_version=1))
    with pytest.raises(ModelFileError, match=r"format 1.*export the checkpoint again"):
        load_model(old)

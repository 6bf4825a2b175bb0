"""The LightningModules: one optimisation step changes the weights of the networks it trains, memory format as
configured, and a saved model normalises a raw image exactly as training did."""

from __future__ import annotations

import hydra
import lightning as L
import pytest
import torch

from mumap.data import io
from mumap.models.prediction import predict_volume
from mumap.training.checkpoints import load_module
from tests.helpers import compose_train


def _smoke(root, output, *overrides):
    return compose_train("experiment=smoke", f"data.root={root}", f"paths.output_dir={output}", "name=smoke",
                         *overrides)


@pytest.mark.slow
@pytest.mark.parametrize(("training", "channels_last"), [("cgan", False), ("distance", False), ("cgan", True)])
def test_one_optimisation_step_changes_the_weights(tiny_cohort, tmp_path, training, channels_last):
    cfg = _smoke(tiny_cohort, tmp_path, f"training={training}", f"training.channels_last={channels_last}")
    datamodule = hydra.utils.instantiate(cfg.data)
    module = hydra.utils.instantiate(cfg.training)
    conv = next(p for p in module.generator.parameters() if p.dim() == 5 and p.shape[1] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) == channels_last
    before = [p.detach().clone() for p in module.parameters()]
    L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False).fit(module,
                                                                                                      datamodule)
    changed = [not torch.equal(a, p.detach()) for a, p in zip(before, module.parameters(), strict=True)]
    n_generator = len(list(module.generator.parameters()))
    assert all(changed[:n_generator])
    assert any(changed[n_generator:]) == (training == "cgan")


@pytest.mark.slow
def test_a_saved_model_normalises_a_raw_image_as_training_did(smoke_run, tiny_cohort):
    """The normalisation travels in the checkpoint: the model rebuilt from the run, given the raw nAC, predicts
    exactly what the datamodule's normalised volume gives; another normalisation would not."""
    cfg, model, _ = load_module(smoke_run, "last")
    assert model.hparams.normalization == cfg.normalization.kind and list(model.hparams.inputs) == ["nac"]
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup()
    study = datamodule.splits["val"][0]
    row = next(r for r in io.read_split(tiny_cohort, "val") if r["id"] == study.study_id)
    raw, _, _ = io.load_nifti(tiny_cohort / row["nac"])
    from_raw = model.predict_mu_map(torch.from_numpy(raw)[None])
    with torch.no_grad():
        from_datamodule = predict_volume(model.generator, study.inputs[None], model.hparams.patch_size)[0, 0]
    torch.testing.assert_close(from_raw, from_datamodule)
    model.hparams.normalization = "gaussian"
    assert (model.predict_mu_map(torch.from_numpy(raw)[None]) - from_raw).abs().max() > 1e-3
    with pytest.raises(ValueError, match="1 channels"):
        model.predict_mu_map(torch.zeros(2, 8, 8, 8))


def test_an_unknown_learning_rate_schedule_is_refused():
    cfg = compose_train("experiment=smoke", "training.lr_schedule=step", "paths.output_dir=x")
    with pytest.raises(Exception, match="lr_schedule must be one of constant, cosine"):
        hydra.utils.instantiate(cfg.training)

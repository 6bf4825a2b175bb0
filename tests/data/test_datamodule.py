"""The datamodule: patches and whole volumes from a dataset folder, the bed from the dataset's own mask, the
cohort built on first use, and patches drawn from (seed, epoch) alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mumap.data import io
from mumap.data.datamodule import EpochShuffle, MuMapDataModule
from mumap.spect.attenuation import MU_WATER_140KEV

pytestmark = pytest.mark.slow  # every test loads the tiny cohort


def test_patches_and_volumes(tiny_cohort):
    dm = MuMapDataModule(tiny_cohort, input="nac", extra_inputs=["sc"], patch_size=(16, 16, 16),
                         patches_per_image=3, batch_size=2, normalization="gaussian")
    dm.setup()
    assert dm.in_channels == 2
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 2, 16, 16, 16) and y.shape == (2, 1, 16, 16, 16)
    inputs, target, bed, uniform, _ = next(iter(dm.val_dataloader()))
    assert inputs.shape[1] == 2 and inputs.shape[2:] == target.shape[2:] == uniform.shape[2:]
    assert bed.sum() > 0 and float(target[bed > 0].abs().max()) == 0.0  # bed removed
    assert uniform.unique().tolist() == pytest.approx([0.0, MU_WATER_140KEV])
    body = uniform > 0
    # the nAC outline covers most tissue (less in rest studies with a hot liver: mumap/data/body.py)
    assert float((target > 0.05)[body].float().mean()) > 0.6 and float(body[target > 0.09].float().mean()) > 0.6
    assert len(dm.train_dataloader().dataset) == 3 * len(dm.splits["train"])


def test_the_bed_is_the_datasets_own_mask(tiny_cohort):
    dm = MuMapDataModule(tiny_cohort)
    dm.setup()
    study = dm.splits["val"][0]
    row = next(r for r in io.read_split(tiny_cohort, "val") if r["id"] == study.study_id)
    mask = io.load_nifti(tiny_cohort / row["bed"])[0] > 0
    mu = io.load_nifti(tiny_cohort / row["mumap"])[0]
    np.testing.assert_array_equal(study.bed[0].numpy(), np.where(mask, mu, 0).astype(np.float32))
    np.testing.assert_array_equal((study.target[0] + study.bed[0]).numpy(), mu.astype(np.float32))


def test_patches_and_their_order_depend_on_seed_and_epoch_only(tiny_cohort):
    def first_batch(seed: int, epoch: int) -> torch.Tensor:
        dm = MuMapDataModule(tiny_cohort, patch_size=(16, 16, 16), patches_per_image=2, batch_size=4, seed=seed)
        dm.setup()
        loader = dm.train_dataloader()
        loader.dataset.set_epoch(epoch)
        loader.sampler.epoch = epoch
        return next(iter(loader))[0]

    assert torch.equal(first_batch(0, 1), first_batch(0, 1))
    assert not torch.equal(first_batch(0, 1), first_batch(0, 2))
    assert not torch.equal(first_batch(0, 1), first_batch(1, 1))
    order = list(EpochShuffle(5, 0, 3))
    assert order == list(EpochShuffle(5, 0, 3)) and sorted(order) == list(range(5))


def test_a_preset_cohort_is_built_on_first_use(tmp_path, tiny_cohort):
    root = tmp_path / "tiny"
    dm = MuMapDataModule(root, preset="tiny", seed=3)
    dm.prepare_data()
    assert (root / "studies.csv").read_text() == (tiny_cohort / "studies.csv").read_text()  # the same seed
    dm.prepare_data()  # present: nothing to do
    without = MuMapDataModule(tmp_path / "none")
    without.prepare_data()
    with pytest.raises(io.DatasetError, match="not found"):
        without.setup()


def test_a_dataset_without_bed_masks_is_named(tiny_cohort, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_cohort, tmp_path / "old")
    text = (copy / "studies.csv").read_text().replace(",bed", ",old_bed")
    (copy / "studies.csv").write_text(text)
    with pytest.raises(io.DatasetError, match="has no 'bed' file"):
        MuMapDataModule(copy).setup()

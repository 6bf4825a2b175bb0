"""Training callbacks: dropout's random numbers from (seed, rank, step) alone; a mid-slice figure per epoch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mumap.training.callbacks import ResumableRandomness, mid_slice_figure
from mumap.utils.seeding import derive_seed


def test_randomness_depends_on_seed_rank_and_step_only():
    callback = ResumableRandomness(seed=7)
    draws = []
    for rank, step in ((0, 3), (0, 3), (1, 3), (0, 4)):
        torch.manual_seed(12345 + len(draws))  # whatever ran before
        callback.on_train_batch_start(SimpleNamespace(global_rank=rank, global_step=step), None, None, 0)
        draws.append(torch.rand(3))
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2]) and not torch.equal(draws[0], draws[3])
    torch.manual_seed(derive_seed(7, 0, 3))
    assert torch.equal(torch.rand(3), draws[0])


def test_mid_slice_figure_shows_input_prediction_truth_and_their_difference():
    volume = np.zeros((8, 10, 12), np.float32)
    volume[4, 5, 6] = 0.15
    fig = mid_slice_figure({"input (normalised)": volume, "predicted μ": volume * 0.5, "true μ": volume},
                           (2.0, 1.0, 1.0), "S0001, epoch 3")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2 * 4  # transaxial and coronal of four columns
    difference_transaxial = next(ax for ax in images if ax.get_title() == "|predicted − true|, transaxial")
    assert difference_transaxial.images[0].get_array()[5, 6] == np.float32(0.075)


@pytest.mark.slow
def test_every_validation_epoch_leaves_its_figure(smoke_run):
    assert sorted(p.name for p in (smoke_run / "images").glob("*.png")) == ["val-epoch=000.png", "val-epoch=001.png"]

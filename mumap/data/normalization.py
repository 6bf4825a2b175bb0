"""Input normalisation of SPECT images (the paper's two kinds), per image.

``mean``: divide by the image mean; ``gaussian``: subtract the mean, divide by the standard deviation.
The statistics come from each image itself (whole volume), at training and at inference alike; the
kind is saved with the model's hyper-parameters so inference normalises the same way.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Kind = Literal["mean", "gaussian"]


def normalize(image: Tensor, kind: Kind) -> Tensor:
    """Normalised ``image`` (any shape; statistics over all of it)."""
    if kind == "mean":
        mean = image.mean()
        return image / mean if mean > 0 else image
    if kind == "gaussian":
        std = image.std()
        return (image - image.mean()) / std if std > 0 else image - image.mean()
    raise ValueError(f"unknown normalisation {kind!r}: choose mean or gaussian")


def normalize_channels(image: Tensor, kind: Kind) -> Tensor:
    """:func:`normalize` each channel of ``[C, z, y, x]`` on its own."""
    return torch.stack([normalize(channel, kind) for channel in image])

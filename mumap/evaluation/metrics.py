"""Image metrics, defined once for the whole project."""

from __future__ import annotations

from torch import Tensor


def nmae(prediction: Tensor, target: Tensor) -> Tensor:
    """Normalised mean absolute error of one image: mean|pred − true| / (max(true) − min(true))."""
    value_range = target.max() - target.min()
    if value_range <= 0:
        raise ValueError("NMAE needs a target with a value range (max > min)")
    return (prediction - target).abs().mean() / value_range

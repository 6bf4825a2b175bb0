"""Metrics of a predicted μ-map against the true one, logged every validation epoch and used by the
convergence rule (:mod:`mumap.training.convergence`) and the evaluation report."""

from __future__ import annotations

from torch import Tensor

from mumap.data.body import AIR_MU_MAX


def nmae(prediction: Tensor, target: Tensor) -> Tensor:
    """Normalised mean absolute error of one image: mean|pred − true| / (max(true) − min(true)).
    Unitless; report the mean ± std over images."""
    value_range = target.max() - target.min()
    if value_range <= 0:
        raise ValueError("NMAE needs a target with a value range (max > min)")
    return (prediction - target).abs().mean() / value_range


def _body(target: Tensor) -> Tensor:
    body = target > AIR_MU_MAX
    if not body.any():
        raise ValueError(f"the true μ-map has no voxel above {AIR_MU_MAX} cm⁻¹ (no body)")
    return body


def contrast_ratio(prediction: Tensor, target: Tensor) -> Tensor:
    """std of the predicted μ over the body of ``target`` (bed excluded) / std of the true μ there
    (unitless; same shapes). Near 0: a flat, near-constant prediction."""
    body = _body(target)
    return prediction[body].float().std() / target[body].float().std().clamp_min(1e-8)


def roughness_ratio(prediction: Tensor, target: Tensor) -> Tensor:
    """Total variation of the prediction / that of the true μ-map (sum of |finite differences| along the
    last three dimensions, whole volume; unitless). Blurring a map keeps it near 1 (edges move, their
    height stays); speckle raises it several-fold."""

    def total_variation(volume: Tensor) -> Tensor:
        volume = volume.float()
        return sum(volume.diff(dim=axis).abs().sum() for axis in (-3, -2, -1))

    _body(target)
    return total_variation(prediction) / total_variation(target).clamp_min(1e-8)

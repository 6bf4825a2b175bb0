"""Ordered-subset expectation maximisation (OSEM; MLEM when the projector has one subset)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor

from mumap.spect.projector import SPECTProjector

IterationCallback = Callable[[int, Tensor], None]


def osem(
    projector: SPECTProjector,
    projections: Tensor,
    *,
    n_iterations: int = 10,
    additive: Tensor | None = None,
    initial: Tensor | None = None,
    callback: IterationCallback | None = None,
    progress: bool = False,
    description: str = "OSEM",
) -> Tensor:
    """Reconstruct ``projections [n_views, rows, columns]`` (counts) with OSEM.

    Update per subset k: ``x ← x / (A_kᵀ1) · A_kᵀ( y_k / (A_k x + s_k) )``, where ``s`` is the
    ``additive`` expected scatter (counts, same shape as ``projections``). The subsets are the
    projector's (``SPECTProjector(n_subsets=…)``); the paper uses 10 iterations × 3 subsets.
    The estimate stays non-negative; voxels no ray sees stay 0. ``callback(iteration, image)``
    runs after each full iteration (1-based). Returns the image ``[nz, ny, nx]`` (counts per voxel).
    """
    if n_iterations < 1:
        raise ValueError(f"n_iterations must be >= 1, got {n_iterations}")
    projections = _checked(projector, projections, "projections")
    if torch.any(projections < 0):
        raise ValueError("projections contain negative counts")
    additive = None if additive is None else _checked(projector, additive, "additive")
    sensitivities = [projector.adjoint(torch.ones_like(projections[v]), k) for k, v in enumerate(projector.subsets)]
    seen = torch.stack(sensitivities).amin(0) > 0
    image = seen.to(projector.dtype) if initial is None else projector.as_image(initial, "initial").clamp_min(0) * seen
    tiny = torch.finfo(projector.dtype).tiny

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        disable=not progress, transient=True,
    ) as bar:
        task = bar.add_task(description, total=n_iterations * projector.n_subsets)
        for iteration in range(1, n_iterations + 1):
            for k, views in enumerate(projector.subsets):
                expected = projector.forward(image, k)
                if additive is not None:
                    expected = expected + additive[views]
                ratio = torch.where(expected > tiny, projections[views] / expected.clamp_min(tiny), 0.0)
                image = image * projector.adjoint(ratio, k) / torch.where(seen, sensitivities[k], 1.0)
                bar.advance(task)
            if callback is not None:
                callback(iteration, image)
    return image


def _checked(projector: SPECTProjector, data: Tensor, name: str) -> Tensor:
    data = torch.as_tensor(data).to(device=projector.device, dtype=projector.dtype)
    if tuple(data.shape) != projector.projection_shape:
        raise ValueError(f"{name} have shape {tuple(data.shape)}, expected {projector.projection_shape}")
    return data

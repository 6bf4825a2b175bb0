"""The patient bed: found once, removed from μ-maps for training, reinserted after prediction.

A dataset's bed is its ``bed`` mask file (:func:`read_bed_mask`): ``mumap synthesize`` writes the phantom's
true bed, ``mumap import`` the bed :func:`find_bed` detects, once. Everything downstream reads that file.
``mumap predict`` has no CT: it places the training cohort's bed template (:func:`bed_profile`,
:func:`place_bed`) under the body outline.

The paper removes the bed by hand and suggests automating it by thresholding the μ-map and taking
the lowest region. Here, per transaxial slice: the body is the filled outline of tissue
(μ ≥ ``body_mu`` cm⁻¹, default :data:`~mumap.data.body.TISSUE_MU_MIN`, holes such as lungs filled, then
grown by ``margin_mm``); everything else above ``air_mu`` (:data:`~mumap.data.body.AIR_MU_MAX`) forms
candidate regions, and the 3-D connected regions that lie below the body (posterior,
+y) are the bed. Bed-like voxels (``air_mu`` < μ < ``body_mu``) of the margin that touch the bed are
then added back, so a pallet lying against the skin is separated too: it is far less dense than
tissue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from scipy import ndimage

from mumap.data import io
from mumap.data.body import AIR_MU_MAX, TISSUE_MU_MIN
from mumap.data.io import DatasetError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


def find_bed(mu: np.ndarray, voxel_zyx_mm: tuple[float, float, float], *, body_mu: float = TISSUE_MU_MIN,
             air_mu: float = AIR_MU_MAX, margin_mm: float = 5.0) -> np.ndarray:
    """Boolean mask ``[z, y, x]`` of the bed in the μ-map ``mu`` (cm⁻¹)."""
    tissue = mu >= body_mu
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in tissue])
    grow = max(round(margin_mm / voxel_zyx_mm[1]), 0)
    in_plane = np.ones((1, 3, 3), bool)
    body = ndimage.binary_dilation(filled, structure=in_plane, iterations=grow) if grow else filled
    candidates = (mu > air_mu) & ~body
    labels, n = ndimage.label(candidates)
    if n == 0 or not body.any():
        return np.zeros(mu.shape, bool)
    y = np.arange(mu.shape[1])[None, :, None]
    body_centre_y = np.broadcast_to(y, mu.shape)[body].mean()
    bed = np.zeros(mu.shape, bool)
    sizes = ndimage.sum_labels(np.ones(mu.shape), labels, index=np.arange(1, n + 1))
    centres_y = ndimage.mean(np.broadcast_to(y, mu.shape), labels, index=np.arange(1, n + 1))
    for label, (size, centre_y) in enumerate(zip(sizes, centres_y, strict=True), start=1):
        if centre_y > body_centre_y and size >= 10:  # below (posterior of) the body, not a speck
            bed |= labels == label
    # take back the bed-like voxels of the margin that touch the bed (a pallet lying against the skin)
    margin = (mu > air_mu) & (mu < body_mu) & ~filled
    for _ in range(grow):
        bed |= ndimage.binary_dilation(bed, structure=in_plane) & margin
    return bed


def read_bed_mask(root: str | Path, row: dict) -> np.ndarray:
    """The bed mask ``[z, y, x]`` of a dataset study: the file in its ``bed`` column of studies.csv, written by
    ``mumap synthesize`` (the phantom's true bed) and ``mumap import`` (:func:`find_bed`, once). This file is
    the one source of truth for the bed: training, evaluation and the model file's bed template read it."""
    if not row.get("bed"):
        raise DatasetError(f"{Path(root) / 'studies.csv'}: study {row['id']} has no 'bed' file; import the data "
                           f"again with this mumap (mumap import writes it)")
    return io.load_nifti(Path(root) / row["bed"])[0] > 0


def remove_bed(mu: np.ndarray, bed_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(μ without the bed, the bed's μ values elsewhere 0)`` of a μ-map and its bed mask; their sum is ``mu``."""
    return np.where(bed_mask, 0.0, mu).astype(mu.dtype), np.where(bed_mask, mu, 0.0).astype(mu.dtype)


def reinsert_bed(prediction: ArrayOrTensor, bed: ArrayOrTensor) -> ArrayOrTensor:
    """Put the bed (μ values, 0 elsewhere) back into a predicted μ-map: the bed's value wherever it is
    positive. NumPy arrays or torch tensors of one shape; the prediction's dtype is kept."""
    if isinstance(prediction, torch.Tensor):
        return torch.where(bed > 0, bed, prediction)
    return np.where(bed > 0, bed, prediction).astype(prediction.dtype)


def _body_anchor(body_plane: np.ndarray) -> tuple[int, float] | None:
    """(row of the body's back — its most posterior voxel —, column of its centre) of a slice mask ``[y, x]``."""
    ys, xs = np.nonzero(body_plane)
    return (int(ys.max()), float(xs.mean())) if ys.size else None


def bed_profile(bed_mu: np.ndarray, body: np.ndarray, voxel_zyx_mm: tuple[float, float, float], *,
                above_mm: float = 40.0, below_mm: float = 60.0, half_width_mm: float = 250.0) -> np.ndarray:
    """The mean transaxial cross-section of one study's bed (``bed_mu``: its μ, cm⁻¹, 0 elsewhere) relative
    to its ``body`` mask: ``[rows, cols]`` (cm⁻¹, NaN where no slice reached). Rows run from ``above_mm``
    anterior to ``below_mm`` posterior of the body's back (its most posterior voxel) in each slice — a body
    outline from an nAC image may reach into the bed —, column c lies c − cols // 2 voxels from the body's
    centre, so that the profiles of different patients align; :func:`place_bed` puts it under another body."""
    shape = (round((above_mm + below_mm) / voxel_zyx_mm[1]), 2 * round(half_width_mm / voxel_zyx_mm[2]) + 1)
    above = round(above_mm / voxel_zyx_mm[1])
    total, count = np.zeros(shape), np.zeros(shape)
    for plane, body_plane in zip(bed_mu, body, strict=True):
        anchor = _body_anchor(body_plane)
        if anchor is None:
            continue
        (ys, xs), (rows, cols) = _window(anchor, plane.shape, shape, above)
        total[np.ix_(rows, cols)] += plane[np.ix_(ys, xs)]
        count[np.ix_(rows, cols)] += 1
    with np.errstate(invalid="ignore"):
        return (total / count).astype(np.float32)


def place_bed(body: np.ndarray, profile: np.ndarray, voxel_zyx_mm: tuple[float, float, float], *,
              above_mm: float = 40.0) -> np.ndarray:
    """The bed's μ values ``[z, y, x]`` (cm⁻¹, 0 elsewhere) for a ``body`` mask found the way the profile's
    was (e.g. the nAC outline, :func:`mumap.data.body.body_outline`): the ``profile`` of
    :func:`bed_profile` (same voxel size and ``above_mm``) anchored at the body's back in every slice.
    Slices without body take the anchor of the nearest slice with body; no body at all → no bed. Combine
    with a prediction by the voxel-wise maximum: tissue stays tissue, air under the body becomes bed."""
    anchors = [_body_anchor(plane) for plane in body]
    found = [z for z, a in enumerate(anchors) if a is not None]
    bed = np.zeros(body.shape, np.float32)
    values = np.nan_to_num(profile).astype(np.float32)
    for z in range(body.shape[0]) if found else ():
        anchor = anchors[min(found, key=lambda k: abs(k - z))]
        (ys, xs), (rows, cols) = _window(anchor, body.shape[1:], values.shape, round(above_mm / voxel_zyx_mm[1]))
        bed[z][np.ix_(ys, xs)] = values[np.ix_(rows, cols)]
    return bed


def _window(anchor: tuple[int, float], plane_shape: tuple[int, int], profile_shape: tuple[int, int], above: int):
    """Matching ``((ys, xs), (profile rows, profile cols))`` of a slice and a profile whose row ``above``
    lies just behind the body's back and whose middle column is under its centre (``anchor``)."""
    back, centre = anchor
    first = back + 1 - above
    ys = np.arange(max(first, 0), min(first + profile_shape[0], plane_shape[0]))
    cols = np.arange(plane_shape[1]) - round(centre) + profile_shape[1] // 2
    keep = (cols >= 0) & (cols < profile_shape[1])
    return (ys, np.flatnonzero(keep)), (ys - first, cols[keep])

"""The projector's building blocks: each operator's ``adjoint`` is the exact transpose of its ``forward``
(⟨Ax, y⟩ = ⟨x, Aᵀy⟩ in float64 on random inputs and random, non-symmetric matrices), and the Gaussian
blur matrices lose the counts blurred past the ends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mumap.spect.operators import FLOAT32_TINY, AxialSampler, DepthBlur, InPlaneSampler, RayFactor, gaussian_matrices

D, U, V, Z, P = 3, 5, 4, 6, 7  # depth samples, detector columns, views, image slices, detector rows
PLANE = (8, 9)  # (ny, nx) voxels


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _assert_adjoint(operator, x: torch.Tensor, y: torch.Tensor) -> None:
    ax = operator.forward(x)
    assert ax.shape == y.shape
    aty = operator.adjoint(y)
    assert aty.shape == x.shape
    lhs, rhs = float((ax * y).sum()), float((x * aty).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_in_plane_sampler_adjoint_with_points_outside_the_grid():
    generator = np.random.default_rng(0)
    ny, nx = PLANE
    points = generator.uniform([-2.0, -2.0], [ny + 1.0, nx + 1.0], size=(D, U, V, 3, 2))  # some outside
    sampler = InPlaneSampler(points, PLANE, torch.float64, torch.device("cpu"))
    _assert_adjoint(sampler, _random(Z, ny, nx, seed=1), _random(D, U, V, Z, seed=2))


def test_in_plane_sampler_interpolates_bilinearly_and_sees_zero_outside():
    ny, nx = PLANE
    image = torch.arange(ny * nx, dtype=torch.float64).view(1, ny, nx)  # value = 9 y + x: bilinear is exact
    points = np.array([[2.25, 3.5], [7.0, 8.0], [-0.5, 4.0], [-5.0, 4.0]]).reshape(1, 1, 4, 1, 2)  # (y, x) indices
    rays = InPlaneSampler(points, PLANE, torch.float64, torch.device("cpu")).forward(image)
    # the last voxel exactly; half a voxel above row 0 is half zero padding, half row 0; far outside is 0
    assert rays.flatten().tolist() == pytest.approx([9 * 2.25 + 3.5, 9 * 7 + 8, 0.5 * 4, 0.0], abs=1e-12)


def test_axial_sampler_adjoint():
    _assert_adjoint(AxialSampler(_random(D, P, Z, seed=3)), _random(D, U, V, Z, seed=4), _random(D, U, V, P, seed=5))


def test_ray_factor_adjoint():
    _assert_adjoint(RayFactor(_random(D, U, V, P, seed=6)), _random(D, U, V, P, seed=7), _random(D, U, V, P, seed=8))


@pytest.mark.parametrize(("row_blur", "column_blur"), [(True, True), (True, False), (False, True), (False, False)])
def test_depth_blur_adjoint(row_blur, column_blur):
    rows = _random(D, P, P, seed=9) if row_blur else None
    columns = _random(D, U, U, seed=10) if column_blur else None
    _assert_adjoint(DepthBlur(rows, columns, D), _random(D, U, V, P, seed=11), _random(U, V, P, seed=12))


def test_depth_blur_without_blur_sums_over_depth():
    rays = _random(D, U, V, P, seed=13)
    torch.testing.assert_close(DepthBlur(None, None, D).forward(rays), rays.sum(0))


def test_gaussian_matrices_lose_counts_only_past_the_ends():
    blur = gaussian_matrices(np.array([0.0, 1.5]), 21)
    assert blur.shape == (2, 21, 21)
    np.testing.assert_allclose(blur[0], np.eye(21), atol=1e-12)  # σ ≤ 0.05 px: a delta
    np.testing.assert_allclose(blur[1], blur[1].T)
    column_sums = blur[1].sum(axis=0)
    assert column_sums[10] == pytest.approx(1.0, abs=1e-9)  # the middle sample keeps all its counts
    assert column_sums[0] == pytest.approx(0.5 + 0.5 * blur[1][0, 0], abs=1e-9)  # an end sample: half its tail
    assert np.all(column_sums <= 1.0 + 1e-12)


def test_gaussian_matrices_hold_no_float32_subnormals():
    """A σ of 3 px over 200 samples reaches exp(−0.5 (200/3)²) ≈ 1e-965 in its corners: the entries below
    float32's smallest normal number are zeros (subnormals slow x86 products tenfold), every one above kept."""
    blur = gaussian_matrices(np.array([3.0]), 200)[0]
    exact = np.exp(-0.5 * ((np.arange(200)[:, None] - np.arange(200)[None, :]) / 3.0) ** 2) * blur[0, 0]
    assert not np.any((blur > 0) & (blur < FLOAT32_TINY))
    assert np.any((exact > 0) & (exact < FLOAT32_TINY))  # the case the rule is for
    np.testing.assert_array_equal(blur > 0, exact >= FLOAT32_TINY)
    np.testing.assert_allclose(blur[blur > 0], exact[blur > 0], rtol=1e-12)
    as_float32 = torch.from_numpy(blur).float()
    assert not torch.any((as_float32 != 0) & (as_float32.abs() < FLOAT32_TINY))

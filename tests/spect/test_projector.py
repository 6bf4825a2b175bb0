"""The system matrix: exact adjoint, geometry limits, magnification, attenuation and PSF physics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from mumap.spect.geometry import Acquisition, Collimator, ImageGrid
from mumap.spect.projector import SPECTProjector
from tests.helpers import rel_l2, smooth_random

GEOMETRIES = {
    "parallel": Acquisition(collimator=Collimator(kind="parallel"), detector_shape=(30, 56), pixel_vu_mm=(8.0, 8.0),
                            radius_cm=30.0),
    "multifocal-cardiocentric": Acquisition(collimator=Collimator(kind="multifocal"), detector_shape=(30, 56),
                                            pixel_vu_mm=(8.0, 8.0), rotation_centre_zyx_mm=(9.6, -19.2, 28.8)),
    # a crystal smaller than the matrix: edge pixels partly covered, outer ones dead
    "multifocal-truncated": Acquisition(collimator=Collimator(kind="multifocal"), detector_shape=(30, 56),
                                        pixel_vu_mm=(8.0, 8.0), field_of_view_vu_cm=(17.0, 30.3)),
}


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("attenuation", [False, True])
@pytest.mark.parametrize("footprint_rays", [1, 3])
def test_backprojection_is_the_exact_adjoint(small_grid, name, attenuation, footprint_rays):
    projector = SPECTProjector(small_grid, GEOMETRIES[name], psf=True, n_subsets=3, footprint_rays=footprint_rays,
                               dtype=torch.float64)
    if attenuation:
        projector = projector.with_attenuation(0.15 * smooth_random(small_grid, seed=1))
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(small_grid.shape, generator=generator, dtype=torch.float64)
    y = torch.rand(projector.projection_shape, generator=generator, dtype=torch.float64)
    lhs, rhs = (projector.forward(x) * y).sum(), (x * projector.adjoint(y)).sum()
    assert abs(float(lhs - rhs)) <= 1e-6 * abs(float(lhs))
    for k, views in enumerate(projector.subsets):
        lhs = (projector.forward(x, k) * y[views]).sum()
        rhs = (x * projector.adjoint(y[views], k)).sum()
        assert abs(float(lhs - rhs)) <= 1e-6 * abs(float(lhs))


def test_subsets_partition_the_views(small_grid):
    projector = SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), n_subsets=3, dtype=torch.float64)
    x = smooth_random(small_grid)
    full = projector.forward(x)
    assert sorted(torch.cat(projector.subsets).tolist()) == list(range(34))
    for k, views in enumerate(projector.subsets):
        torch.testing.assert_close(projector.forward(x, k), full[views])


def test_multifocal_with_infinite_focal_length_is_parallel(small_grid):
    mu = 0.15 * smooth_random(small_grid, seed=3)
    x = smooth_random(small_grid, seed=4)
    parallel = GEOMETRIES["parallel"]
    far_focus = Acquisition(collimator=Collimator(kind="multifocal", focal_length_cm=1e9),
                            detector_shape=parallel.detector_shape, pixel_vu_mm=parallel.pixel_vu_mm,
                            radius_cm=parallel.radius_cm)
    a = SPECTProjector(small_grid, parallel, dtype=torch.float64).with_attenuation(mu).forward(x)
    # one ray per pixel, as a parallel axis samples: the geometry is compared here, the footprint rays (which
    # average a converging pixel's width, 0.25 % off the centre ray on this grid) in their own tests below
    b = SPECTProjector(small_grid, far_focus, dtype=torch.float64, footprint_rays=1).with_attenuation(mu).forward(x)
    assert rel_l2(b, a) <= 1e-4
    # and a real multifocal collimator is not parallel
    c = SPECTProjector(small_grid, GEOMETRIES["multifocal-cardiocentric"], dtype=torch.float64).forward(x)
    assert rel_l2(c[:, :, :], a) > 0.1


def _point_projection(offset_xyz_mm: tuple[float, float, float], collimator: Collimator, psf: bool = False):
    """Projection at θ = 0 (detector anterior, columns along +x) of one voxel, 2 mm grid, 1 mm pixels."""
    grid = ImageGrid((33, 65, 65), (2.0, 2.0, 2.0))
    image = torch.zeros(grid.shape, dtype=torch.float64)
    index = [round(o / 2.0) + n // 2 for o, n in zip(offset_xyz_mm[::-1], grid.shape, strict=True)]
    assert all(0 <= i < n for i, n in zip(index, grid.shape, strict=True)), "point outside the test grid"
    image[tuple(index)] = 1.0
    acq = Acquisition(collimator=collimator, n_views=1, n_heads=1, start_deg=0.0, detector_shape=(121, 241),
                      pixel_vu_mm=(1.0, 1.0))
    projection = SPECTProjector(grid, acq, psf=psf, dtype=torch.float64).forward(image)[0]
    return projection, acq


def _centroid_cm(projection: torch.Tensor, acq: Acquisition) -> tuple[float, float]:
    """(u, v) centroid of a projection in cm from the detector centre."""
    u, v = acq.detector_offsets_cm("u"), acq.detector_offsets_cm("v")
    total = float(projection.sum())
    return float(projection.sum(0).numpy() @ u) / total, float(projection.sum(1).numpy() @ v) / total


@pytest.mark.parametrize("depth_cm", [28.0, 34.0])
def test_point_source_near_the_focus_is_magnified_as_the_collimator_predicts(depth_cm):
    """A source 12 mm right and 8 mm up of the axis maps to s with s − t·g(s) = x (M ≈ F0/(F0 − t))."""
    iq = Collimator(kind="multifocal")
    offset = (12.0, (depth_cm - 28.0) * 10.0, 8.0)  # x, y (away from the anterior detector), z in mm
    projection, acq = _point_projection(offset, iq)
    u, v = _centroid_cm(projection, acq)
    s = np.linspace(-10, 10, 200001)
    for measured, x_cm, axis in ((u, offset[0] / 10, "u"), (v, offset[2] / 10, "v")):
        expected = np.interp(x_cm, s - depth_cm * iq.ray_slope(s, axis), s)
        assert measured == pytest.approx(expected, abs=0.02)  # 0.2 mm
        assert measured / x_cm == pytest.approx(56.0 / (56.0 - depth_cm), rel=0.05)  # nominal F0 / (F0 − t)


def test_parallel_point_source_projects_straight_and_conserves_counts():
    projection, acq = _point_projection((12.0, 20.0, 8.0), Collimator(kind="parallel"))
    u, v = _centroid_cm(projection, acq)
    assert (u, v) == pytest.approx((1.2, 0.8), abs=0.01)
    assert float(projection.sum()) == pytest.approx(1.0, rel=1e-3)


def _detector_fwhm_cm(collimator: Collimator, depth_cm: float) -> float:
    """FWHM (cm) on the detector of the response to a point source on the central ray at ``depth_cm``:
    the PSF's variance less that of the same projection without the response (voxel and interpolation)."""
    grid = ImageGrid((5, 161, 21), (2.0, 2.0, 2.0))  # y spans ±16 cm about the rotation centre
    image = torch.zeros(grid.shape, dtype=torch.float64)
    image[2, 80 + round((depth_cm - 28.0) * 5), 10] = 1.0  # θ = 0: the detector is anterior, depth grows with +y
    acq = Acquisition(collimator=collimator, n_views=1, n_heads=1, start_deg=0.0, detector_shape=(11, 521),
                      pixel_vu_mm=(2.0, 1.0), field_of_view_vu_cm=None)
    u = acq.detector_offsets_cm("u")
    variances = []
    for psf in (True, False):
        profile = SPECTProjector(grid, acq, psf=psf, dtype=torch.float64).forward(image)[0].sum(0).numpy()
        mean = profile @ u / profile.sum()
        variances.append(profile @ (u - mean) ** 2 / profile.sum())
    return float(np.sqrt(variances[0] - variances[1]) * 2.3548)


@pytest.mark.parametrize("depth_cm", [14.0, 28.0, 42.0])
def test_parallel_fwhm_follows_the_lehr_hole_geometry(depth_cm):
    """SY-LEHR (d 1.11 mm, l 24.05 mm, μ_Pb 28.3 cm⁻¹) with 3.8 mm intrinsic: √((d(l_e + t)/l_e)² + R_i²)."""
    length = 2.405 - 2 / 28.3
    expected = np.hypot(0.111 * (length + depth_cm) / length, 0.38)
    # the issue asked for 10 %; the projector follows the geometry to < 1 %
    assert _detector_fwhm_cm(Collimator(kind="parallel"), depth_cm) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("depth_cm", [13.0, 28.0, 43.0])
def test_multifocal_fwhm_in_the_patient_follows_the_model(depth_cm):
    """At the rotation centre and 15 cm either side of it: detector FWHM / M = √(R_g² + (R_i/M)²), M = F/(F − t)."""
    iq = Collimator(kind="multifocal")
    magnification = 56.0 / (56.0 - depth_cm)
    expected = np.hypot(iq.geometric_fwhm_cm(depth_cm), 0.38 / magnification)
    assert _detector_fwhm_cm(iq, depth_cm) / magnification == pytest.approx(expected, rel=0.02)


def test_pixels_off_the_crystal_record_nothing():
    """A source 22.5 cm above the rotation centre projects beyond the 38.7 cm crystal's edge (±19.35 cm)."""
    grid = ImageGrid((121, 5, 5), (5.0, 5.0, 5.0))
    image = torch.zeros(grid.shape, dtype=torch.float64)
    image[60, 2, 2] = image[105, 2, 2] = 1.0  # at the centre and 22.5 cm towards the head
    acquisition = Acquisition(n_views=1, n_heads=1, start_deg=0.0, detector_shape=(100, 11), pixel_vu_mm=(5.0, 5.0))
    projection = SPECTProjector(grid, acquisition, dtype=torch.float64).forward(image)[0]
    v = acquisition.detector_offsets_cm("v")
    assert float(projection.sum()) == pytest.approx(1.0, rel=1e-3)  # only the central source is seen
    assert float(projection[np.abs(v) > 19.35 + 0.25].sum()) == 0.0
    unbounded = SPECTProjector(grid, replace(acquisition, field_of_view_vu_cm=None), dtype=torch.float64)
    assert float(unbounded.forward(image)[0].sum()) == pytest.approx(2.0, rel=1e-3)


def test_attenuation_of_a_central_source_in_a_water_cylinder():
    grid = ImageGrid((5, 101, 101), (2.5, 2.5, 2.5))
    _, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    # partial-volume edge, so that the voxelised radius is 10 cm in every direction
    mu = torch.from_numpy(0.15 * np.clip((100.0 - np.hypot(x, y)) / 2.5 + 0.5, 0.0, 1.0))
    source = torch.zeros(grid.shape, dtype=torch.float64)
    source[2, 50, 50] = 1.0
    projector = SPECTProjector(grid, Acquisition.parallel_for(grid), psf=False, dtype=torch.float64)
    survival = projector.with_attenuation(mu).forward(source).sum((1, 2)) / projector.forward(source).sum((1, 2))
    np.testing.assert_allclose(survival.numpy(), np.exp(-0.15 * 10.0), rtol=0.01)


def test_mean_transmission_in_a_water_cylinder_is_the_orbit_average_of_the_path_lengths():
    """A voxel 4 cm left of the axis of a 10 cm water cylinder: e^(−μ·L(θ)) averaged over the orbit's 34 views,
    L(θ) the distance to the surface towards the detector at θ, n(θ) = (sin θ, −cos θ)."""
    grid = ImageGrid((5, 101, 101), (2.5, 2.5, 2.5))
    _, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    mu = torch.from_numpy(0.15 * np.clip((100.0 - np.hypot(x, y)) / 2.5 + 0.5, 0.0, 1.0))
    acquisition = Acquisition.parallel_for(grid)
    transmission = SPECTProjector(grid, acquisition, psf=False, dtype=torch.float64).mean_transmission(mu)
    theta = np.radians(acquisition.angles_deg)
    along = 40.0 * np.sin(theta)  # the voxel (x = 40 mm, y = 0) projected on n(θ)
    path_cm = (-along + np.sqrt(100.0**2 - 40.0**2 + along**2)) / 10.0
    assert float(transmission[2, 50, 66]) == pytest.approx(np.exp(-0.15 * path_cm).mean(), rel=0.01)
    assert float(transmission[2, 50, 50]) == pytest.approx(np.exp(-0.15 * 10.0), rel=0.01)
    assert float(transmission[2, 50, 66]) > 1.2 * float(transmission[2, 50, 34])  # the orbit is on the left
    with pytest.raises(ValueError, match="attenuation-free"):
        SPECTProjector(grid, acquisition, psf=False).with_attenuation(mu).mean_transmission(mu)


def test_smooth_object_counts_are_conserved_in_every_parallel_view(small_grid):
    x = smooth_random(small_grid, radius_voxels=19)
    projections = SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), psf=False,
                                 dtype=torch.float64).forward(x)
    np.testing.assert_allclose(projections.sum((1, 2)).numpy(), float(x.sum()), rtol=5e-3)


def test_backprojection_weights_are_nearly_uniform(small_grid):
    """Thick rays keep the per-voxel backprojection of a flat projection within a few per cent."""
    projector = SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), psf=False, dtype=torch.float64)
    sensitivity = projector.adjoint(torch.ones(projector.projection_shape, dtype=torch.float64))
    _, y, x = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in small_grid.shape), indexing="ij")
    inside = torch.from_numpy(np.hypot(y, x) < 15)
    values = sensitivity[inside]
    assert float(values.std() / values.mean()) < 0.02
    assert float(values.mean()) == pytest.approx(34.0, rel=0.01)


def test_rays_across_a_magnified_pixel_converge_to_a_smooth_sensitivity():
    """Pixel-centre rays of a magnifying collimator sample a voxel grid at a spacing that changes with depth, so the
    per-voxel sensitivity ``Aᵀ1`` ripples from slice to slice (stripes across a hot liver in nAC images); spreading
    rays across each pixel converges: 4 per pixel are within 1 % of 16 where 1 is off by more than 5 %."""
    grid = ImageGrid((24, 48, 48), (6.4, 6.4, 6.4))
    acquisition = Acquisition(collimator=Collimator(kind="multifocal"), detector_shape=(36, 56),
                              pixel_vu_mm=(6.4, 6.4), n_views=12, step_deg=17.0)
    z, y, x = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in grid.shape), indexing="ij")
    inside = torch.from_numpy((np.hypot(y, x) < 16) & (np.abs(z) < 9))

    def sensitivity(footprint_rays: int) -> torch.Tensor:
        projector = SPECTProjector(grid, acquisition, psf=False, footprint_rays=footprint_rays, dtype=torch.float64)
        return projector.adjoint(torch.ones(projector.projection_shape, dtype=torch.float64))[inside]

    converged = sensitivity(16)
    assert float((sensitivity(1) / converged - 1).abs().max()) > 0.05
    assert float((sensitivity(4) / converged - 1).abs().max()) < 0.01


def test_footprint_rays_leave_a_parallel_collimator_alone(small_grid):
    """Parallel rays stay one pixel apart at every depth: the pixel centre is sampled, whatever ``footprint_rays``."""
    image = smooth_random(small_grid, radius_voxels=19)
    acquisition = GEOMETRIES["parallel"]
    one, four = (SPECTProjector(small_grid, acquisition, footprint_rays=n).forward(image) for n in (1, 4))
    torch.testing.assert_close(one, four)


def test_bad_inputs_are_named(small_grid):
    projector = SPECTProjector(small_grid, Acquisition.parallel_for(small_grid))
    with pytest.raises(ValueError, match="image has shape"):
        projector.forward(torch.zeros(24, 40, 40))
    with pytest.raises(ValueError, match="negative"):
        projector.with_attenuation(-torch.ones(small_grid.shape))
    with pytest.raises(ValueError, match="projections have shape"):
        projector.adjoint(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="n_subsets"):
        SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), n_subsets=0)
    with pytest.raises(ValueError, match="footprint_rays"):
        SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), footprint_rays=0)


def test_float32_by_default_and_device_follows_the_argument(small_grid):
    projector = SPECTProjector(small_grid, Acquisition.parallel_for(small_grid), device="cpu")
    out = projector.forward(np.ones(small_grid.shape))
    assert out.dtype == torch.float32 and out.device.type == "cpu"


def test_converging_collimator_gains_sensitivity_at_the_heart():
    """Rays crowd the magnified centre: a point at the rotation centre yields ≈ M_u·M_v = 4× the counts."""
    parallel, _ = _point_projection((0.0, 0.0, 0.0), Collimator(kind="parallel"))
    converging, _ = _point_projection((0.0, 0.0, 0.0), Collimator(kind="multifocal"))
    assert float(converging.sum() / parallel.sum()) == pytest.approx(4.0, rel=0.05)


def test_broad_windows_binned_before_their_blur_match_blurred_then_binned(small_grid, monkeypatch):
    """The shortcut of forward_windows for kernels ≥ 4 binned pixels changes a scatter window by < 1 %."""
    from mumap.spect import projector as projector_module
    from mumap.spect.scatter import ScatterModel

    acquisition = replace(GEOMETRIES["multifocal-cardiocentric"], detector_shape=(30, 56)).supersampled(2)
    fine = SPECTProjector(small_grid.refined(2), acquisition, n_subsets=34, dtype=torch.float64)
    activity = torch.from_numpy(np.kron(smooth_random(small_grid).numpy(), np.ones((2, 2, 2))))
    mu = 0.15 * (activity > 0)
    shortcut = fine.forward_windows(activity, mu, ScatterModel(), detector_binning=2)
    monkeypatch.setattr(projector_module, "BROAD_KERNEL_PIXELS", float("inf"))
    exact = fine.forward_windows(activity, mu, ScatterModel(), detector_binning=2)
    assert shortcut[0].shape == (34, 30, 56)
    torch.testing.assert_close(shortcut[0], exact[0])  # the primary window is never binned first
    for window in (1, 2):
        assert rel_l2(shortcut[window], exact[window]) < 0.01

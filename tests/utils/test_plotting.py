"""The slice figure shows the slices asked for, with their true aspect, and figures are saved whole."""

from __future__ import annotations

import numpy as np
import pytest

from mumap.utils.atomic import TMP_PREFIX
from mumap.utils.plotting import plane_heights, plt, save_figure, slice_figure


def _volume(shape=(10, 12, 14)) -> np.ndarray:
    """A volume whose every voxel holds its own index: value = 10000 z + 100 y + x."""
    z, y, x = np.indices(shape)
    return (10000 * z + 100 * y + x).astype(np.float64)


def _images(fig) -> dict[str, np.ndarray]:
    return {ax.get_title(): ax.images[0] for ax in fig.axes if ax.images}


def test_one_panel_per_plane_and_column_and_one_colour_bar_per_column():
    volume = _volume()
    fig = slice_figure({"a": (volume, "gray", 1.0, "μ (cm⁻¹)"), "b": (volume, "magma", None, "counts")},
                       (4.0, 2.0, 2.0), planes=("transaxial", "coronal"), title="study")
    panels = _images(fig)
    assert list(panels) == ["a, transaxial", "b, transaxial", "a, coronal", "b, coronal"]  # rows: planes
    colour_bars = [ax for ax in fig.axes if not ax.images]
    assert [ax.get_ylabel() for ax in colour_bars] == ["μ (cm⁻¹)", "counts"]
    assert panels["a, transaxial"].get_clim() == (0.0, 1.0) and panels["a, transaxial"].get_cmap().name == "gray"
    assert fig.get_suptitle() == "study"
    plt.close(fig)


def test_slices_go_through_the_centre_index_head_up():
    volume = _volume()
    fig = slice_figure({"v": (volume, "gray", None, "")}, (1.0, 1.0, 1.0), centre_index=(3, 5, 7))
    panels = {title: image.get_array() for title, image in _images(fig).items()}
    np.testing.assert_array_equal(panels["v, transaxial"], volume[3])  # [y, x]
    np.testing.assert_array_equal(panels["v, coronal"], volume[::-1, 5])  # [z, x], head (high z) up
    np.testing.assert_array_equal(panels["v, sagittal"], volume[::-1, :, 7])  # [z, y]
    default = {title: image.get_array() for title, image in _images(slice_figure({"v": (volume, "gray", None, "")},
                                                                                  (1.0, 1.0, 1.0))).items()}
    np.testing.assert_array_equal(default["v, transaxial"], volume[5])  # the volume centre (5, 6, 7)
    np.testing.assert_array_equal(default["v, sagittal"], volume[::-1, :, 7])
    plt.close("all")


@pytest.mark.parametrize("voxel_zyx_mm", [(4.0, 2.0, 1.0), (1.0, 1.0, 1.0)])
def test_pixels_keep_their_true_aspect(voxel_zyx_mm):
    dz, dy, dx = voxel_zyx_mm
    fig = slice_figure({"v": (_volume(), "gray", None, "")}, voxel_zyx_mm)
    aspects = {title: ax.get_aspect() for title, ax in ((ax.get_title(), ax) for ax in fig.axes if ax.images)}
    assert aspects == {"v, transaxial": dy / dx, "v, coronal": dz / dx, "v, sagittal": dz / dy}
    plt.close(fig)


def test_rows_are_as_high_as_their_slices():
    voxel_zyx_mm = (4.0, 2.0, 1.0)  # extents: z 40 mm, y 24 mm, x 14 mm
    assert plane_heights((10, 12, 14), voxel_zyx_mm) == pytest.approx([24 / 14, 40 / 14, 40 / 24])
    fig = slice_figure({"v": (_volume(), "gray", None, "")}, voxel_zyx_mm, planes=("coronal", "transaxial"))
    gridspec = fig.axes[0].get_subplotspec().get_gridspec()
    assert gridspec.get_height_ratios() == pytest.approx([40 / 14, 24 / 14])
    plt.close(fig)


def test_draws_into_part_of_a_larger_figure():
    fig = plt.figure(layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    assert slice_figure({"v": (_volume(), "gray", None, "")}, (1.0, 1.0, 1.0), figure=top) is top
    bottom.subplots(1, 2)
    assert len(top.axes) == 3 + 1 and len(fig.axes) == 3 + 1 + 2
    plt.close(fig)


def test_save_figure_writes_a_png_and_closes_the_figure(tmp_path):
    fig = slice_figure({"v": (_volume(), "gray", None, "")}, (1.0, 1.0, 1.0))
    path = save_figure(fig, tmp_path / "figures" / "slices.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
    assert not list(path.parent.glob(TMP_PREFIX + "*"))

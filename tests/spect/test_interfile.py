"""Interfile export: round trip, PyTomography's readers, STIR recipe, clear errors, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from mumap.spect import interfile
from mumap.spect.geometry import Acquisition, ImageGrid


@pytest.fixture
def image():
    return np.random.default_rng(0).random((6, 5, 7)).astype(np.float32)


@pytest.fixture
def acquisition():
    return Acquisition(detector_shape=(6, 9), pixel_vu_mm=(4.0, 3.5))


def test_image_round_trip_keeps_values_and_voxel_size(tmp_path, image):
    path = interfile.write_image(tmp_path / "mu.hv", image, (3.0, 4.8, 4.8))
    data, header = interfile.read(path)
    np.testing.assert_array_equal(data, image)
    assert header["matrix size [1]"] == "7" and header["matrix size [3]"] == "6"
    assert float(header["scaling factor (mm/pixel) [3]"]) == 3.0
    assert not list(tmp_path.glob("*.tmp"))


def test_projection_round_trip_and_geometry_keys(tmp_path, acquisition):
    projections = np.random.default_rng(1).poisson(5.0, (34, 6, 9)).astype(np.float32)
    path = interfile.write_projections(tmp_path / "peak.hs", projections, acquisition)
    data, header = interfile.read(path)
    np.testing.assert_array_equal(data, projections)
    assert header["number of projections"] == "34"
    assert float(header["radius"]) == 280.0
    assert float(header["scaling factor (mm/pixel) [1]"]) == 3.5
    assert float(header["start angle"]) == 234.0  # STIR's 180° − θ₀ for θ₀ = −54°
    assert header["direction of rotation"] == "CW"


def test_pytomography_reads_our_files(tmp_path, image, acquisition):
    """Images load with PyTomography's Interfile μ-map reader; projection headers parse with its key reader.

    (Its projection reader is SIMIND-specific: it wants SIMIND's 'short float' number format, while
    STIR's examples write 'float', which is what STIR users need.)
    """
    pytest.importorskip("pytomography")
    from pytomography.io.shared import get_attenuation_map_interfile, get_header_value

    hv = interfile.write_image(tmp_path / "img.hv", image, (4.8, 4.8, 4.8))
    theirs = get_attenuation_map_interfile(str(hv)).cpu().numpy()  # SIMIND axes: [x, y, z] with y, z flipped
    np.testing.assert_array_equal(theirs, image.transpose(2, 1, 0)[:, ::-1, ::-1])
    hs = interfile.write_projections(tmp_path / "p.hs", np.zeros((34, 6, 9)), acquisition)
    lines = np.array(hs.read_text().splitlines(keepends=True))
    assert get_header_value(lines, "number of projections", int) == 34
    assert get_header_value(lines, "matrix size [1]", int) == 9
    assert get_header_value(lines, "matrix size [2]", int) == 6
    assert get_header_value(lines, "scaling factor (mm/pixel) [2]") == pytest.approx(4.0)
    assert get_header_value(lines, "extent of rotation") == pytest.approx(204.0)


def test_stir_prac_recipe_is_complete(tmp_path, image):
    grid = ImageGrid(image.shape, (4.8, 4.8, 4.8))
    script = interfile.export_prac_for_stir(tmp_path / "stir", image, 0.15 * (image > 0.5), grid, Acquisition())
    names = {p.name for p in script.parent.iterdir()}
    assert {"nac.hv", "nac.v", "mu_spectub.hv", "init.hv", "template.hs", "template.s", "forward_project.par",
            "prac_osem.par", "run_prac_stir.sh"} <= names
    par = (script.parent / "prac_osem.par").read_text()
    assert par.startswith("OSMAPOSLParameters :=")  # STIR's parser wants it first, before any comment
    assert "attenuation map := mu_spectub.hv" in par and "number of subsets := 3" in par
    mirrored, _ = interfile.read(script.parent / "mu_spectub.hv")
    np.testing.assert_array_equal(mirrored, (0.15 * (image > 0.5))[:, :, ::-1].astype(np.float32))
    assert "number of subiterations := 30" in par and "collimator slope := 0.0194" in par
    assert "forward_project pseudo_projections nac.hv template.hs" in script.read_text()
    template, _ = interfile.read(script.parent / "template.hs")
    assert template.shape == (34, 6, 7)


def test_errors_name_the_file_and_the_problem(tmp_path, image):
    with pytest.raises(interfile.InterfileError, match="no such Interfile header"):
        interfile.read(tmp_path / "missing.hv")
    bogus = tmp_path / "bogus.hv"
    bogus.write_text("hello\n")
    with pytest.raises(interfile.InterfileError, match=r"bogus\.hv: not an Interfile header"):
        interfile.read(bogus)
    path = interfile.write_image(tmp_path / "a.hv", image, (1.0, 1.0, 1.0))
    (tmp_path / "a.v").write_bytes(b"\0" * 12)
    with pytest.raises(interfile.InterfileError, match=r"a\.v: holds 3 values"):
        interfile.read(path)
    (tmp_path / "a.v").unlink()
    with pytest.raises(interfile.InterfileError, match=r"data file 'a\.v' not found"):
        interfile.read(path)
    with pytest.raises(interfile.InterfileError, match="must be 3-D"):
        interfile.write_image(tmp_path / "b.hv", image[0], (1.0, 1.0, 1.0))
    with pytest.raises(interfile.InterfileError, match=r"end in \.hv"):
        interfile.write_image(tmp_path / "b.img", image, (1.0, 1.0, 1.0))

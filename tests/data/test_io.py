"""NIfTI files of the dataset contract: [z, y, x] arrays with voxel sizes (mm) and LPS origin (mm) survive a
round trip, the same volume stored with flipped or permuted axes loads to the same array, and errors name
the file."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from mumap.data import io
from mumap.data.io import DatasetError

SHAPE, VOXEL, ORIGIN = (5, 6, 7), (2.5, 1.5, 3.0), (-10.0, 20.5, -30.0)  # [z, y, x]; (dz, dy, dx) mm; (z, y, x) mm


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(0).random(SHAPE)


@pytest.fixture
def saved(volume, tmp_path) -> nib.Nifti1Image:
    """``volume`` as mumap writes it, read back by nibabel."""
    return nib.load(io.save_nifti(tmp_path / "volume.nii.gz", volume, VOXEL, ORIGIN))


def test_round_trip_keeps_the_array_voxel_size_and_origin(volume, tmp_path):
    path = io.save_nifti(tmp_path / "volume.nii.gz", volume, VOXEL, ORIGIN)
    image, voxel, origin = io.load_nifti(path)
    assert image.shape == SHAPE and image.dtype == volume.dtype
    np.testing.assert_array_equal(image, volume)
    assert voxel == pytest.approx(VOXEL) and origin == pytest.approx(ORIGIN)
    assert [p.name for p in tmp_path.iterdir()] == ["volume.nii.gz"]  # no temporary file left behind


def test_the_file_is_x_y_z_in_mm_with_an_ras_affine_of_the_lps_grid(volume, saved):
    """Voxel [z, y, x] sits at LPS (z0 + z dz, y0 + y dy, x0 + x dx); NIfTI indexes (x, y, z) in RAS."""
    assert saved.shape == SHAPE[::-1] and saved.header.get_xyzt_units()[0] == "mm"
    z, y, x = 4, 1, 6
    assert saved.get_fdata()[x, y, z] == volume[z, y, x]
    ras = saved.affine @ [x, y, z, 1]
    lps = (-ras[0], -ras[1], ras[2])  # (x, y, z)
    assert lps == pytest.approx((ORIGIN[2] + x * VOXEL[2], ORIGIN[1] + y * VOXEL[1], ORIGIN[0] + z * VOXEL[0]))


def _flip(data: np.ndarray, affine: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The same image with file axis ``axis`` stored in reverse order."""
    index = np.eye(4)
    index[axis, axis], index[axis, 3] = -1, data.shape[axis] - 1
    return np.flip(data, axis), affine @ index


def _permute(data: np.ndarray, affine: np.ndarray, order: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The same image with file axes stored in ``order``."""
    index = np.eye(4)
    index[:3, :3] = np.eye(3)[:, order]
    return data.transpose(order), affine @ index


@pytest.mark.parametrize("layout", ["flip x", "flip y and z", "permute to z, y, x", "permute and flip"])
def test_a_flipped_or_permuted_file_loads_to_the_same_array(layout, volume, saved, tmp_path):
    data, affine = saved.get_fdata(), saved.affine
    if layout == "flip x":
        data, affine = _flip(data, affine, 0)
    elif layout == "flip y and z":
        data, affine = _flip(*_flip(data, affine, 1), 2)
    elif layout == "permute to z, y, x":
        data, affine = _permute(data, affine, (2, 1, 0))
    else:
        data, affine = _flip(*_permute(data, affine, (1, 2, 0)), 2)
    assert data.shape != SHAPE[::-1] or not np.array_equal(data, saved.get_fdata())  # a layout of its own
    path = tmp_path / "other.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), path)
    image, voxel, origin = io.load_nifti(path)
    np.testing.assert_array_equal(image, volume)
    assert voxel == pytest.approx(VOXEL) and origin == pytest.approx(ORIGIN)

    # an image written on that file's grid overlays it; an axis-aligned layout is kept as it is
    like = io.save_nifti_like(tmp_path / "like.nii.gz", 2 * volume, path)
    image, voxel, origin = io.load_nifti(like)
    np.testing.assert_allclose(image, 2 * volume, rtol=1e-6)  # saved as float32
    assert voxel == pytest.approx(VOXEL) and origin == pytest.approx(ORIGIN)
    if layout.startswith("flip"):
        np.testing.assert_allclose(nib.load(like).affine, affine)


def test_errors_name_the_file(volume, tmp_path):
    missing = tmp_path / "missing.nii.gz"
    with pytest.raises(DatasetError, match=r"missing\.nii\.gz: file not found"):
        io.load_nifti(missing)
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(gzip.compress(b"not a NIfTI header" * 30))
    with pytest.raises(DatasetError, match=r"garbage\.nii\.gz: not a readable NIfTI file"):
        io.load_nifti(garbage)
    four_d = tmp_path / "four_d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2)), np.eye(4)), four_d)
    with pytest.raises(DatasetError, match=r"four_d\.nii\.gz: expected a 3-D volume"):
        io.load_nifti(four_d)
    with pytest.raises(DatasetError, match=r"flat\.nii\.gz: a volume must be 3-D"):
        io.save_nifti(tmp_path / "flat.nii.gz", volume[0], VOXEL)
    reference = io.save_nifti(tmp_path / "reference.nii.gz", volume, VOXEL)
    with pytest.raises(DatasetError, match=r"like\.nii\.gz: image shape \(5, 6, 6\) is not the grid of .*reference"):
        io.save_nifti_like(tmp_path / "like.nii.gz", volume[..., :6], reference)
    with pytest.raises(DatasetError, match=r"nowhere[/\\]studies\.csv: not found"):
        io.read_studies(tmp_path / "nowhere" / "studies.csv")


def test_read_studies_gives_the_rows_as_dicts(tmp_path):
    listing = tmp_path / "studies.csv"
    listing.write_text("id,nac\nS0000,S0000/nac.nii.gz\nS0001,S0001/nac.nii.gz\n")
    assert io.read_studies(listing) == [{"id": "S0000", "nac": "S0000/nac.nii.gz"},
                                        {"id": "S0001", "nac": "S0001/nac.nii.gz"}]


def test_read_split_gives_one_split_in_file_order(tmp_path):
    (tmp_path / "studies.csv").write_text("id,split\nS0,train\nS1,test\nS2,train\nS3,train\n")
    assert [row["id"] for row in io.read_split(tmp_path, "train")] == ["S0", "S2", "S3"]
    assert [row["id"] for row in io.read_split(tmp_path, "train", max_studies=2)] == ["S0", "S2"]
    assert io.read_split(tmp_path, "val") == []  # an empty split is the caller's to judge
    with pytest.raises(DatasetError, match=r"nowhere[/\\]studies\.csv: not found"):
        io.read_split(tmp_path / "nowhere", "train")


def test_cohort_description_says_what_built_the_dataset(tmp_path):
    assert io.cohort_description(tmp_path) == {}  # your own data, laid out by hand
    (tmp_path / "dataset.json").write_text('{"generator": "mumap 9.9 synthetic", "preset": "quick", "seed": 2, '
                                           '"n_studies": 48}')
    assert io.cohort_description(tmp_path) == {"generator": "mumap 9.9 synthetic", "preset": "quick", "seed": 2}
    (tmp_path / "dataset.json").write_text('{"generator": ')
    with pytest.raises(DatasetError, match=r"dataset\.json: unreadable"):
        io.cohort_description(tmp_path)

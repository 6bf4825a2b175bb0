"""The Butterworth post-filter against its analytic transfer function."""

from __future__ import annotations

import numpy as np
import pytest

from mumap.spect.postfilter import butterworth_filter, butterworth_response

VOXEL_ZYX_MM = (4.0, 4.0, 4.0)


def _plane_wave(frequency_per_cm: float, axis: int, shape=(40, 48, 56)) -> np.ndarray:
    position_cm = np.indices(shape)[axis] * VOXEL_ZYX_MM[axis] / 10.0
    return np.cos(2 * np.pi * frequency_per_cm * position_cm)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("frequency_per_cm", [0.25, 0.5, 0.625, 1.0])
def test_a_plane_wave_is_scaled_by_the_butterworth_response(frequency_per_cm, axis):
    """Away from the faces, a cosine at frequency f keeps its phase and is scaled by 1 / √(1 + (f / f_c)^(2n)):
    1/√2 at the critical frequency 0.5 cycles/cm, 1/√(1 + 2^10) = 0.031 at twice it."""
    wave = _plane_wave(frequency_per_cm, axis)
    filtered = butterworth_filter(2.0 + wave, VOXEL_ZYX_MM, cutoff_per_cm=0.5, order=5)
    inner = (slice(12, -12),) * 3
    expected = float(butterworth_response(frequency_per_cm, 0.5, 5))
    np.testing.assert_allclose(filtered[inner] - 2.0, expected * wave[inner], atol=0.01)
    assert expected == pytest.approx({0.25: 0.99951, 0.5: 2 ** -0.5, 0.625: 0.31139, 1.0: 0.031235}[frequency_per_cm],
                                     rel=1e-4)


def test_the_critical_frequency_is_in_cycles_per_cm_of_the_voxel_size():
    """The same wave in cm on a grid of half the voxel size is filtered alike."""
    fine = np.cos(2 * np.pi * 0.5 * np.indices((40, 40, 80))[2] * 0.2)  # 2 mm voxels, 0.5 cycles/cm
    filtered = butterworth_filter(fine, (2.0, 2.0, 2.0), cutoff_per_cm=0.5, order=5)
    np.testing.assert_allclose(filtered[12:-12, 12:-12, 24:-24], 2 ** -0.5 * fine[12:-12, 12:-12, 24:-24], atol=0.01)


def test_a_constant_image_is_unchanged():
    np.testing.assert_allclose(butterworth_filter(np.full((9, 10, 11), 3.0), VOXEL_ZYX_MM), 3.0, rtol=1e-9)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\[z, y, x\] volume"):
        butterworth_filter(np.ones((8, 8)), VOXEL_ZYX_MM)
    with pytest.raises(ValueError, match="positive critical frequency"):
        butterworth_response(np.ones(3), 0.0, 5)

"""Post-reconstruction smoothing of SPECT images: the 3-D Butterworth low-pass filter of nuclear cardiology.

Clinical myocardial perfusion images are read, and their polar maps drawn, after a low-pass post-filter that
suppresses the noise of OSEM at high frequencies; for Tc-99m the Butterworth filter with a critical frequency
of 0.4–0.5 cycles/cm and order 5–10 is the usual choice (Holly TA et al., ASNC imaging guidelines for nuclear
cardiology procedures: single photon-emission computed tomography, J Nucl Cardiol 2010;17:941–973; for OSEM
with resolution recovery: Hutton BF, Lau YH, Phys Med Biol 1998;43:1679–1693, Butterworth order 5). Here
the filter is the amplitude form ``B(f) = 1 / √(1 + (f / f_c)^(2n))`` of the radial spatial frequency ``f``
(cycles/cm, from the voxel size): 1 at f = 0, 1/√2 at the critical frequency, falling as ``f^(−n)`` beyond.

Written here: neither SciPy nor MONAI offers a Butterworth filter of a volume with a physical critical
frequency (scikit-image's ``filters.butterworth`` would add a dependency for these few lines).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLINICAL_CUTOFF_PER_CM = 0.5  # critical frequency (cycles/cm) of the Tc-99m perfusion post-filter (ASNC 2010)
CLINICAL_ORDER = 5
PAD_MM = 50.0  # mirrored margin: several widths of the filter's impulse response at 0.4–0.5 cycles/cm


def butterworth_response(frequency_per_cm: np.ndarray, cutoff_per_cm: float, order: int) -> np.ndarray:
    """Amplitude response ``1 / √(1 + (f / f_c)^(2n))`` at spatial frequencies ``f`` (cycles/cm)."""
    if cutoff_per_cm <= 0 or order < 1:
        raise ValueError(f"a Butterworth filter needs a positive critical frequency and order ≥ 1, got "
                         f"{cutoff_per_cm} cycles/cm and order {order}")
    return 1.0 / np.sqrt(1.0 + (np.asarray(frequency_per_cm) / cutoff_per_cm) ** (2 * order))


def butterworth_filter(image_zyx: np.ndarray, voxel_zyx_mm: Sequence[float],
                       cutoff_per_cm: float = CLINICAL_CUTOFF_PER_CM, order: int = CLINICAL_ORDER) -> np.ndarray:
    """``image_zyx`` ``[z, y, x]`` filtered by the 3-D Butterworth low pass (same shape, float64).

    The volume is mirrored ``PAD_MM`` beyond its faces before the FFT, so that opposite edges do not wrap onto
    each other.
    """
    image = np.asarray(image_zyx, np.float64)
    if image.ndim != 3 or len(voxel_zyx_mm) != 3:
        raise ValueError(f"a post-filter needs a [z, y, x] volume and three voxel sizes, got shape {image.shape} "
                         f"and voxel {tuple(voxel_zyx_mm)}")
    pads = [min(int(np.ceil(PAD_MM / size)), n - 1) for n, size in zip(image.shape, voxel_zyx_mm, strict=True)]
    padded = np.pad(image, [(p, p) for p in pads], mode="symmetric")
    frequencies = np.meshgrid(*(np.fft.fftfreq(n, d=size / 10.0) for n, size in zip(padded.shape, voxel_zyx_mm,
                                                                                       strict=True)),
                              indexing="ij", sparse=True)  # cycles/cm
    radial = np.sqrt(sum(f ** 2 for f in frequencies))[..., : padded.shape[2] // 2 + 1]
    filtered = np.fft.irfftn(np.fft.rfftn(padded) * butterworth_response(radial, cutoff_per_cm, order),
                             s=padded.shape, axes=(0, 1, 2))
    return filtered[tuple(slice(p, p + n) for p, n in zip(pads, image.shape, strict=True))]

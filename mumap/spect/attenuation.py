"""Linear attenuation coefficients μ (cm⁻¹) at the ⁹⁹ᵐTc photopeak, 140.5 keV: the one table mumap uses.

Source: NIST's mass attenuation coefficients μ/ρ (total, with coherent scattering; the XCOM photon cross
sections, NIST Standard Reference Database 126, Hubbell & Seltzer) as PyTomography ships them
(``pytomography/data/NIST_attenuation_data``), interpolated to 140.5 keV and times the density
(``tests/spect/test_attenuation.py`` recomputes them). Soft tissue = NIST muscle; adipose, breast and
cortical bone are NIST's tissues of those names; lung = NIST lung tissue at an inflated density of
0.30 g/cm³ (instead of 1.05); spongy bone = 20 % cortical bone + 80 % soft tissue by volume; ribs = 50/50.
The carbon-fibre/foam bed pallet has no NIST table: its effective μ (0.07 cm⁻¹) is an assumption of this
project, the middle of 0.05–0.1 cm⁻¹ (carbon fibre, ρ ≈ 1.5–1.8 g/cm³ and μ/ρ ≈ 0.14 cm²/g at 140 keV, in a
1–2 cm pallet with foam); ``mumap predict --bed`` takes a scanner's own bed μ-map instead.

The synthetic phantoms are rendered from this table, so changing a value changes every cohort.
"""

from __future__ import annotations

MU_140KEV: dict[str, float] = {  # cm⁻¹ at 140.5 keV
    "air": 0.0,
    "lung": 0.0456,
    "bed": 0.07,
    "adipose": 0.145,
    "water": 0.153,
    "breast": 0.155,
    "soft_tissue": 0.159,
    "spongy_bone": round(0.2 * 0.291 + 0.8 * 0.159, 4),
    "rib": round(0.5 * 0.291 + 0.5 * 0.159, 4),
    "cortical_bone": 0.291,
}

MU_WATER_140KEV = MU_140KEV["water"]
"""μ of water at 140.5 keV (cm⁻¹): the one water value — the HU → μ conversion of real CTs, the uniform
μ-map baseline, and the phantoms' table entry are all this number."""

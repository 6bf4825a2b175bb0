"""mumap: deep-learning attenuation maps for myocardial perfusion SPECT (IQ·SPECT and parallel-hole)."""

__version__ = "0.10.0"

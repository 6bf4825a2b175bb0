"""SPECT physics: μ at 140.5 keV, geometry, projector with exact adjoint, scatter, OSEM, PRAC (native, or by STIR or
PyTomography) and Interfile export."""

"""SPECT physics: μ at 140.5 keV, geometry, projector with exact adjoint, scatter, OSEM, PRAC and Interfile export."""

"""SPECT physics: geometry, projector with exact adjoint, scatter, OSEM, PRAC and Interfile export."""

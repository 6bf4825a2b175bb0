"""μ-maps for new patients: the self-contained model file and ``mumap predict``."""

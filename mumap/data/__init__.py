"""Data: phantoms, the synthetic cohort, the on-disk dataset and its loaders, bed and body masks."""

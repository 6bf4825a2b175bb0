"""mumap's Optuna sweeper for Hydra (``hydra/sweeper=mumap_optuna``); see :mod:`.sweeper`."""

"""One seed from several integers, for random streams that must not depend on what ran before them."""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """A 32-bit seed determined by ``keys`` alone (e.g. ``(seed, epoch)``), well mixed by NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])

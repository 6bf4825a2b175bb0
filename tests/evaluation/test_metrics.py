"""Metrics on values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from mumap.evaluation.metrics import nmae


def test_nmae():
    target = torch.tensor([0.0, 0.1, 0.2])
    assert float(nmae(target + 0.02, target)) == pytest.approx(0.1)
    assert float(nmae(target, target)) == 0.0
    with pytest.raises(ValueError, match="value range"):
        nmae(target, torch.zeros(3))

"""Evaluation figures: the numbers drawn are the numbers computed."""

from __future__ import annotations

import numpy as np

from mumap.evaluation import figures, polar
from mumap.evaluation.metrics import pearson_r
from mumap.utils.plotting import save_figure


def _map(size: int = 64, offset: float = 0.0) -> np.ndarray:
    segments = polar.segment_image(size)
    return np.where(segments > 0, 50.0 + 2.0 * segments + offset, np.nan)


def test_bland_altman_lines_are_the_bias_and_limits_of_agreement():
    reference = np.tile(np.arange(17, dtype=float) + 50, (3, 1))
    method = reference + np.array([1.0, 2.0, 6.0])[:, None]
    fig = figures.bland_altman_figure({"DLAC": method}, reference)
    levels = sorted(line.get_ydata()[0] for line in fig.axes[0].lines)
    difference = (method - reference).ravel()
    spread = 1.96 * difference.std(ddof=1)
    np.testing.assert_allclose(levels, [3.0 - spread, 3.0, 3.0 + spread])


def test_correlation_title_shows_pearson_r():
    maps = [_map(), _map(offset=3.0)]
    noisy = [m + np.random.default_rng(0).normal(0, 2, m.shape) for m in maps]
    fig = figures.polar_correlation_figure({"nAC": noisy}, maps)
    expected = pearson_r(np.concatenate([m.ravel() for m in noisy]), np.concatenate([m.ravel() for m in maps]))
    assert fig.axes[0].get_title() == f"nAC: R = {expected:.3f}"


def test_bullseye_annotates_every_segment_with_its_mean(tmp_path):
    fig = figures.polar_maps_figure({"CTAC": _map(), "DLAC": _map(offset=1.0)}, difference_to="CTAC")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [f"{s}\n{50 + 2 * s:.0f}%" for s in range(1, 18)]
    difference_texts = [t.get_text() for t in fig.axes[2].texts]
    assert difference_texts == [f"{s}\n1" for s in range(1, 18)]
    path = save_figure(fig, tmp_path / "fig5.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mu_map_figure_scales_to_the_true_maximum():
    true = np.zeros((8, 10, 12), np.float32)
    true[2:6, 3:7, 3:9] = 0.15
    fig = figures.mu_map_figure(true, true * 0.9, (4.0, 4.0, 4.0))
    assert fig.axes[0].images[0].get_clim() == (0.0, np.float32(0.15))


def test_mean_difference_bullseyes_share_one_symmetric_scale():
    women, men = _map() - _map(offset=3.0), _map(offset=-8.0) - _map()
    fig = figures.mean_difference_figure({"women": women, "men": men})
    for ax in fig.axes[:2]:
        assert ax.images[0].get_clim() == (-8.0, 8.0)
    assert [t.get_text() for t in fig.axes[0].texts] == [f"{s}\n-3" for s in range(1, 18)]
    assert [t.get_text() for t in fig.axes[1].texts] == [f"{s}\n-8" for s in range(1, 18)]

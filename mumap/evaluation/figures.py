"""The paper's evaluation figures as functions of arrays (each returns a Figure; save with
:func:`mumap.utils.plotting.save_figure`).

Fig. 4: μ-map slices (true, predicted, |difference|); Fig. 5: bullseyes with AHA segments; Fig. 6:
Bland–Altman of the 17 segment scores; Fig. 7: pixel-wise correlation of polar maps (2-D histograms).
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from mumap.evaluation.metrics import pearson_r, spearman
from mumap.evaluation.polar import RING_EDGES, segment_scores
from mumap.utils.plotting import plt, slice_figure

# segment borders (φ in degrees, clockwise from anterior) and the φ of each segment's centre
_BORDERS = {"six": (30, 90, 150, 210, 270, 330), "four": (45, 135, 225, 315)}
_CENTRES = [0, -60, -120, 180, 120, 60] * 2 + [0, -90, 180, 90]


def mu_map_figure(true_mu: np.ndarray, predicted_mu: np.ndarray, voxel_zyx_mm, centre_index=None,
                  title: str = "") -> Figure:
    """Fig. 4: :func:`~mumap.utils.plotting.slice_figure` of the true and predicted μ-maps ``[z, y, x]``
    (cm⁻¹, one grey scale) and their |difference|."""
    vmax = float(true_mu.max())
    return slice_figure({"true μ-map": (true_mu, "gray", vmax, "μ (cm⁻¹)"),
                         "predicted μ-map": (predicted_mu, "gray", vmax, "μ (cm⁻¹)"),
                         "|predicted − true|": (np.abs(predicted_mu - true_mu), "magma", vmax / 4, "|Δμ| (cm⁻¹)")},
                        voxel_zyx_mm, centre_index, title=title)


def bullseye_axes(ax: Axes, polar: np.ndarray, title: str = "", vmin: float = 0.0, vmax: float = 100.0,
                  cmap: str = "inferno", unit: str = "%") -> None:
    """Draw one polar map ``[size, size]`` as a bullseye on ``ax``: AHA segment borders, and each
    segment's number and mean value."""
    ax.imshow(polar, extent=(-1, 1, -1, 1), origin="upper", cmap=cmap, vmin=vmin, vmax=vmax)
    for radius in RING_EDGES:
        ax.add_patch(plt.Circle((0, 0), radius, fill=False, color="white", lw=0.8))
    for (inner, outer), kind in (((RING_EDGES[2], 1.0), "six"), ((RING_EDGES[1], RING_EDGES[2]), "six"),
                                 ((RING_EDGES[0], RING_EDGES[1]), "four")):
        for phi in np.radians(_BORDERS[kind]):
            ax.plot([inner * np.sin(phi), outer * np.sin(phi)], [inner * np.cos(phi), outer * np.cos(phi)],
                    color="white", lw=0.8)
    scores = segment_scores(polar)
    radii = [0.875] * 6 + [0.625] * 6 + [0.375] * 4 + [0.0]
    for segment, (score, radius, phi) in enumerate(zip(scores, radii, [*_CENTRES, 0], strict=True), start=1):
        x, y = radius * np.sin(np.radians(phi)), radius * np.cos(np.radians(phi))
        ax.text(x, y, f"{segment}\n{score:.0f}{unit}", ha="center", va="center", fontsize=6,
                color="cyan" if unit else "black")
    ax.set_xlim(-1.02, 1.02)
    ax.set_ylim(-1.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def polar_maps_figure(maps: dict[str, np.ndarray], title: str = "", difference_to: str | None = None) -> Figure:
    """Fig. 5: one bullseye per polar map (% of max); with ``difference_to`` (e.g. ``"CTAC"``) a second row
    shows each other map minus that one in %-points."""
    others = [name for name in maps if name != difference_to] if difference_to else []
    rows = 2 if others else 1
    fig, axes = plt.subplots(rows, len(maps), figsize=(3.2 * len(maps), 3.4 * rows), squeeze=False)
    for ax, (name, polar) in zip(axes[0], maps.items(), strict=True):
        bullseye_axes(ax, polar, name)
    fig.colorbar(axes[0, 0].images[0], ax=axes[0].tolist(), fraction=0.02, label="% of max")
    if others:
        limit = max(float(np.nanmax(np.abs(maps[n] - maps[difference_to]))) for n in others) or 1.0
        for ax, name in zip(axes[1], others, strict=False):
            bullseye_axes(ax, maps[name] - maps[difference_to], f"{name} − {difference_to}", -limit, limit,
                          "coolwarm", unit="")
        for ax in axes[1, len(others):]:
            ax.axis("off")
        fig.colorbar(axes[1, 0].images[0], ax=axes[1].tolist(), fraction=0.02, label="%-points")
    fig.suptitle(title, fontsize=10)
    return fig


def mean_difference_figure(differences: dict[str, np.ndarray], title: str = "") -> Figure:
    """One bullseye per group (e.g. women, men) of a mean polar-map difference ``[size, size]`` (%-points, e.g.
    nAC − CTAC averaged over the group's studies), on one symmetric colour scale: where the two disagree."""
    limit = max(float(np.nanmax(np.abs(d))) for d in differences.values()) or 1.0
    fig, axes = plt.subplots(1, len(differences), figsize=(3.4 * len(differences), 3.6), squeeze=False)
    for ax, (name, difference) in zip(axes[0], differences.items(), strict=True):
        bullseye_axes(ax, difference, name, -limit, limit, "coolwarm", unit="")
    fig.colorbar(axes[0, 0].images[0], ax=axes[0].tolist(), fraction=0.03, label="%-points")
    fig.suptitle(title, fontsize=10)
    return fig


def bland_altman_figure(scores: dict[str, np.ndarray], reference: np.ndarray, title: str = "") -> Figure:
    """Fig. 6: per method, difference (method − CTAC, %-points) against mean of the 17 segment scores of
    all studies (arrays ``(n_studies, 17)``), with the mean difference and its 95 % limits of agreement
    (± 1.96 SD); one y scale for all panels."""
    fig, axes = plt.subplots(1, len(scores), figsize=(4.5 * len(scores), 4), squeeze=False, sharey=True)
    for ax, (name, values) in zip(axes[0], scores.items(), strict=True):
        mean, difference = (np.ravel(values) + np.ravel(reference)) / 2, np.ravel(values) - np.ravel(reference)
        bias, spread = float(np.mean(difference)), 1.96 * float(np.std(difference, ddof=1))
        ax.scatter(mean, difference, s=6, alpha=0.6)
        for level, style in ((bias, "-"), (bias + spread, "--"), (bias - spread, "--")):
            ax.axhline(level, color="k", ls=style, lw=1)
            ax.annotate(f"{level:+.1f}", (1.0, level), xycoords=("axes fraction", "data"), fontsize=7,
                        ha="right", va="bottom")
        ax.set_xlabel(f"mean of {name} and CTAC segment score (%)")
        ax.set_title(name)
    axes[0, 0].set_ylabel("difference to CTAC (%-points)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def polar_correlation_figure(maps: dict[str, list[np.ndarray]], reference: list[np.ndarray], bins: int = 100,
                             title: str = "") -> Figure:
    """Fig. 7: per method, the 2-D histogram (log counts) of its polar-map pixels against CTAC's, all
    studies pooled, the identity line and Pearson R in the title."""
    fig, axes = plt.subplots(1, len(maps), figsize=(4.5 * len(maps), 4), squeeze=False)
    truth = np.concatenate([np.ravel(m) for m in reference])
    for ax, (name, polar_list) in zip(axes[0], maps.items(), strict=True):
        values = np.concatenate([np.ravel(m) for m in polar_list])
        both = np.isfinite(values) & np.isfinite(truth)
        ax.hist2d(truth[both], values[both], bins=bins, range=((0, 100), (0, 100)), norm=LogNorm(), cmap="viridis")
        ax.plot([0, 100], [0, 100], color="r", lw=0.8)
        ax.set_xlabel("CTAC (% of max)")
        ax.set_ylabel(f"{name} (% of max)")
        ax.set_title(f"{name}: R = {pearson_r(values, truth):.3f}")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def uncertainty_error_figure(groups: dict[str, tuple[list[float], list[float]]], title: str = "") -> Figure:
    """Fig. 8: per study, the normalised uncertainty (Monte Carlo dropout) against the actual NMAE, one colour
    per group (``name → (uncertainties, nmae)``), each group's Spearman ρ in the legend."""
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, (uncertainty, error) in groups.items():
        rho = spearman(uncertainty, error)
        ax.scatter(uncertainty, error, s=18, label=f"{name} ({len(error)} studies, Spearman ρ {rho:.2f})")
    ax.set_xlabel("uncertainty: mean MC-dropout std ÷ μ range")
    ax.set_ylabel("NMAE of the μ-map")
    ax.legend(fontsize=8)
    ax.set_title(title or "Does the uncertainty rank the error?", fontsize=10)
    fig.tight_layout()
    return fig

"""Automatic polar maps (AHA 17 segments) of the left ventricle from a reconstruction.

Three steps, no ground truth used:

1. :func:`find_lv` finds the LV and its frame (centre, long axis base → apex, anterior direction):
   a hollow-sphere matched filter proposes candidate centres, and at each a truncated, blurred
   ellipsoidal shell (the textbook LV: apex cap, open base) is fitted to the image by least squares
   over its pose and size; the most LV-like fit wins (correlation² × √cavity contrast), and its centre and axis
   are refined on the wall's count peaks. Given the other reconstructions of the same acquisition (the nAC
   behind a CTAC), the pose that fits them all best wins. The frame says how sure it is
   (:attr:`LVFrame.uncertain`); a reader's frame (:func:`reader_frame`) replaces it where it is wrong.
2. :func:`short_axis` resamples the image in that frame (short-axis slices from base to apex), and
   :func:`polar_map` samples the post-filtered image's maximum count within the fitted wall along profiles
   normal to its mid-wall surface — which are radial (short-axis) profiles in the basal and mid LV and
   spherical ones in the apical cap — normalised to 100 % of the wall's maximum (a hot neighbour whose
   counts rise through the window without a ridge is no wall peak: :func:`extracardiac_excess` says how far it
   lies above the wall).
3. The bullseye layout (:func:`segment_image`) places the apex (segment 17, beyond the cavity tip) in
   the centre disc and the apical, mid and basal thirds of the cavity (base → cavity tip along the long
   axis, as in :func:`mumap.data.phantom.aha_segment`) in rings of equal width, in the standard
   orientation: anterior up, septum left, lateral right, inferior down.

Coordinates: images are ``[z, y, x]`` with ``origin_zyx_mm`` (z, y, x) of voxel ``[0, 0, 0]`` and
``voxel_zyx_mm`` (dz, dy, dx), as returned by :func:`mumap.data.io.load_nifti`; positions and directions
are world (x, y, z) mm in the patient axes (x left, y posterior, z head), named ``*_xyz_mm``, as in
``truth.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from scipy import ndimage, optimize, signal

from mumap.data.body import body_outline
from mumap.data.phantom import FRONT_XYZ, anterior_direction, short_axis_direction
from mumap.spect.postfilter import CLINICAL_CUTOFF_PER_CM, CLINICAL_ORDER, butterworth_filter

N_SEGMENTS = 17
RING_EDGES = (0.25, 0.5, 0.75, 1.0)  # bullseye radii: apex 17 | apical | mid | basal
SEGMENT_NAMES = (
    "basal anterior", "basal anteroseptal", "basal inferoseptal", "basal inferior", "basal inferolateral",
    "basal anterolateral", "mid anterior", "mid anteroseptal", "mid inferoseptal", "mid inferior",
    "mid inferolateral", "mid anterolateral", "apical anterior", "apical septal", "apical inferior",
    "apical lateral", "apex",
)


def bullseye_coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ρ, φ)`` of every pixel of a ``size × size`` bullseye: ρ = 1 on the disc's rim, φ in degrees
    clockwise from up (0° anterior, +90° lateral on the right, −90° septal on the left, ±180° inferior)."""
    centre = (size - 1) / 2.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = (cols - centre) / (size / 2.0), (centre - rows) / (size / 2.0)
    return np.hypot(x, y), np.degrees(np.arctan2(x, y))


def segment_of(rho: np.ndarray, phi_deg: np.ndarray) -> np.ndarray:
    """AHA segment (1–17) of bullseye positions ``(ρ, φ)``; 0 outside the disc. Segment centres: basal and
    mid rings at φ = 0 (1/7 anterior), −60 (2/8 anteroseptal), −120 (3/9 inferoseptal), 180 (4/10
    inferior), 120 (5/11 inferolateral), 60 (6/12 anterolateral); apical ring at 0 (13), −90 (14), 180 (15),
    90 (16) — the same numbering as :func:`mumap.data.phantom.aha_segment`."""
    six = np.round(-phi_deg / 60.0).astype(int) % 6
    four = np.round(-phi_deg / 90.0).astype(int) % 4
    apex, apical, mid, basal = RING_EDGES
    return np.select([rho < apex, rho < apical, rho < mid, rho <= basal], [17, 13 + four, 7 + six, 1 + six], 0)


def segment_image(size: int) -> np.ndarray:
    """AHA segment number of every pixel of a ``size × size`` bullseye (``int8``, 0 outside the disc)."""
    return segment_of(*bullseye_coordinates(size)).astype(np.int8)


def segment_scores(polar: np.ndarray) -> np.ndarray:
    """Mean value (% of max) of each AHA segment of a polar map ``[size, size]``: shape ``(17,)``,
    index 0 = segment 1. Pixels that are NaN are skipped."""
    segments = segment_image(polar.shape[0])
    values = np.asarray(polar, np.float64)
    scores = np.full(N_SEGMENTS, np.nan)
    for s in range(1, N_SEGMENTS + 1):
        inside = (segments == s) & np.isfinite(values)
        if inside.any():
            scores[s - 1] = values[inside].mean()
    return scores


# --- the LV: detection and frame -------------------------------------------------------------------

PRIOR_LONG_AXIS = (0.61, -0.61, -0.5)  # base → apex: anterior, left, inferior (45° azimuth, 30° down)
PRIOR_SIZE_MM = (65.0, 30.0, 10.0)  # outer long, short semi-axis, wall (adult LV: 7.5–9.5 cm, r 2.5–3.5, 0.8–1.2 cm)
SIZE_BOUNDS_MM = ((35.0, 85.0), (18.0, 45.0), (5.0, 16.0))  # long, short, wall
BASE_FRACTION_BOUNDS = (0.05, 0.6)  # base plane at −fraction × long semi-axis from the centre
BASE_MARGIN_MM = 6.0  # the polar map's rim lies this far apical of the fitted base plane
FRAME_SCORE_MIN = 0.2  # LVFrame.uncertain: below this score …
RIVAL_SCORE_MAX = 0.7  # … or a rival ≥ RIVAL_DISTANCE_MM away scoring above this fraction of it
RIVAL_DISTANCE_MM = 20.0
EXTRACARDIAC_EXCESS_MAX = 0.05  # extracardiac_excess: a polar map's neighbour above the wall by more is flagged
TIGHT_SEARCH_ROI_MM = 40.0  # find_lv's second look also fits the pose to only this much around each candidate
AXIS_FROM_PRIOR_MAX_DEG = 60.0
"""A fit whose long axis lies farther than this from :data:`PRIOR_LONG_AXIS` is not an LV: the heart's long axis points
from the base (right, posterior, superior) to the apex (left, anterior, inferior) in every patient without
dextrocardia, 30–60° from the sagittal plane and 20–40° below the horizontal (the ranges of
:func:`~mumap.data.phantom.sample_anatomy`; the hard cohorts' unusual axes lie up to 28° from the prior). A shell
fitted across a wall-erasing defect can point backwards (hard seed 1's S0007 on nAC: 126° from the LV's axis). Such a
fit still counts as a rival: the prior says where the LV's axis points, not that the image holds no second LV-like
shell, and a rival pointing away flagged a wrong frame that the cone alone would have let pass (hard seed 0's S0012,
PRAC + nAC: 31.9° off, its rival at 0.85 of it)."""


@dataclass(frozen=True)
class LVFrame:
    """The LV found in an image, in world mm (x, y, z): the centre of the fitted ellipsoidal shell, its long
    axis (unit, base → apex), the anterior direction (unit, ⟂ to the long axis, the standard reorientation's:
    :func:`~mumap.data.phantom.anterior_direction`), the outer semi-axes and wall thickness (mm), the base
    plane's position along the axis (mm, negative: below the centre), the fit's correlation with the image and
    cavity contrast, the best score of a fit elsewhere in the image (``rival_score``) and whether the frame was
    found (``automatic``) or given by a reader (``reader``)."""

    centre_xyz_mm: tuple[float, float, float]
    long_axis: tuple[float, float, float]
    anterior: tuple[float, float, float]
    long_mm: float
    short_mm: float
    wall_mm: float
    base_mm: float
    correlation: float
    cavity_contrast: float
    rival_score: float = 0.0
    source: str = "automatic"

    @property
    def score(self) -> float:
        """How LV-like the fit is: correlation² × √(1 − cavity / wall counts). The shape's correlation
        weighs most; the cavity contrast only has to be there (a solid hot organ scores low) — a reconstruction's
        resolution and breathing blur fill the LV's own cavity with counts too."""
        return self.correlation ** 2 * float(np.sqrt(max(self.cavity_contrast, 0.0)))

    @property
    def uncertain(self) -> bool:
        """Whether an automatic frame should be checked by a reader: its fit is not LV-like enough (score
        below :data:`FRAME_SCORE_MIN`) or another place in the image fits almost as well (rival's score above
        :data:`RIVAL_SCORE_MAX` of it). Chosen on the quick and hard cohorts (``docs/BENCHMARKS.md``)."""
        return self.source == "automatic" and (self.score < FRAME_SCORE_MIN
                                               or self.rival_score > RIVAL_SCORE_MAX * self.score)

    @property
    def lateral(self) -> np.ndarray:
        """Unit vector ⟂ to the long axis towards the lateral (free) wall, the patient's left side."""
        lateral = np.cross(self.long_axis, self.anterior)
        return lateral if lateral[0] >= 0 else -lateral

    @property
    def cavity_tip_mm(self) -> float:
        """Position of the cavity's apical end along the long axis (mm from the centre)."""
        return self.long_mm - self.wall_mm

    def to_dict(self) -> dict:
        return asdict(self)


def world_coordinates(shape: tuple[int, int, int], voxel_zyx_mm, origin_zyx_mm) -> np.ndarray:
    """World (x, y, z) mm of every voxel of a ``[z, y, x]`` image: ``[z, y, x, 3]``."""
    axes = [origin_zyx_mm[i] + voxel_zyx_mm[i] * np.arange(shape[i]) for i in range(3)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return np.stack([x, y, z], axis=-1)


def to_voxel(points_xyz_mm: np.ndarray, voxel_zyx_mm, origin_zyx_mm) -> np.ndarray:
    """Fractional voxel indices ``(z, y, x)`` of world points ``[..., 3]`` (x, y, z): ``[3, ...]``."""
    return np.stack([(points_xyz_mm[..., 2 - i] - origin_zyx_mm[i]) / voxel_zyx_mm[i] for i in range(3)])


def find_lv(image: np.ndarray, voxel_zyx_mm, origin_zyx_mm, *, same_acquisition: Sequence[np.ndarray] = (),
            n_candidates: int = 6, roi_mm: float = 60.0) -> LVFrame:
    """The LV of a reconstruction ``image [z, y, x]`` (counts), found without ground truth.

    A zero-mean hollow-sphere filter (hot shell 12–30 mm around a cold ball of 10 mm, the LV's
    short-axis profile) proposes ``n_candidates`` centres; at each, :func:`fit_lv_shell` fits the
    shell model from the population's mean LV orientation and from four orientations 20° around it;
    the fit with the best :attr:`LVFrame.score` (correlation² × √cavity contrast) is the LV, its pose refined on
    the wall's count peaks (:func:`refine_pose`), and the best
    score of the fits elsewhere (centre ≥ :data:`RIVAL_DISTANCE_MM` away) is kept as its rival's
    (:attr:`LVFrame.uncertain` uses both).

    ``same_acquisition``: other reconstructions of the same data on the same grid (the nAC image behind a CTAC
    or DLAC one). The LV is then searched for in each image and in their mean (each scaled to its 99.9th
    percentile), and the pose that fits all the images best wins: the sum over the images of the scores of the
    shell fitted to each with that pose held (:func:`fit_lv_shell`, ``fit_pose=False``). The myocardium is where
    every reconstruction of the data has it, while attenuation correction lifts the liver, the gut and the
    stomach beneath the heart more than the heart: on a CTAC image alone the fit lands on them or is pulled
    towards them, and the nAC image of the same data, which has them dim, outvotes it. Candidates outside the body —
    outside the outline (:func:`~mumap.data.body.body_outline`) of every image — are dropped first: in an nAC image an
    arm at the patient's side is cupped, colder inside than at its skin, and looks like a hollow shell to the filter,
    but it lies apart from the torso, outside the nAC image's outline, which is the body's (on the quick and both hard
    cohorts the LV's centre lies inside every nAC and every CTAC outline: ``docs/BENCHMARKS.md``, "Polar maps"). Not
    on a single image: a CTAC image's outline is that of its hot organs, and where the liver is hotter than the heart
    and apart from it, the LV lies outside it. The frame returned is
    that pose refined on ``image``'s own wall (:func:`refine_pose`: the polar map is drawn from ``image``, and the
    winning pose may have been refined on another image, whose attenuated walls peak elsewhere) when the refined pose
    fits all the images at least as well (the same summed score; where hot organs touch the wall, the peaks of
    ``image`` pull the pose off the LV, and the vote's pose stays), with the size fitted to ``image`` at that pose,
    and its search's rival ratio (validated on the quick and hard cohorts: ``docs/BENCHMARKS.md``, "Polar maps").
    When that frame is uncertain, the search is run again with twice the candidates, twice: with the poses fitted to
    ``roi_mm`` around each candidate as before, and to only :data:`TIGHT_SEARCH_ROI_MM` (the summed scores still over
    ``roi_mm``); the better of the two frames is taken if it lies elsewhere (≥ :data:`RIVAL_DISTANCE_MM` away) and fits
    the images so much better that the first frame would not even be its close rival (summed score below
    :data:`RIVAL_SCORE_MAX` of its). Why twice the candidates: gut loops beneath a high left dome can rank above the
    LV in the hollow-sphere filter and suppress its own peak, so that none of the first candidates lies on it. Why the
    tighter region: where the liver or the stomach rises against the LV's inferior wall, 60 mm around a candidate on
    the LV take them in, and the fit explains more of that region with a larger shell wrapped around the LV and the
    organ (hard seed 1's S0012: outer short semi-axis 40 mm, the LV's 27) than with the LV; 40 mm hold little more
    than the LV. On a single image only the tighter fit among the same candidates is tried, and taken when it fits
    better elsewhere: more candidates bring in more impostors, places outside the heart that fit one image a little
    better (the same validation).
    """
    images = [_normalised(image, "find_lv")] + [_normalised(other, "find_lv") for other in same_acquisition]
    if any(other.shape != images[0].shape for other in images[1:]):
        raise ValueError(f"find_lv needs the reconstructions of one acquisition on one grid, got shapes "
                         f"{[other.shape for other in images]}")
    body = np.logical_or.reduce([body_outline(one) for one in images]) if len(images) > 1 else None
    frame, fit = _found(images, body, voxel_zyx_mm, origin_zyx_mm, n_candidates, roi_mm, roi_mm)
    if not frame.uncertain:
        return frame
    if len(images) > 1:
        searches = [_found(images, body, voxel_zyx_mm, origin_zyx_mm, 2 * n_candidates, roi_mm, search_roi)
                    for search_roi in (roi_mm, min(roi_mm, TIGHT_SEARCH_ROI_MM))]
        second, second_fit = max(searches, key=lambda found: found[1])
        margin = RIVAL_SCORE_MAX  # the first frame is not even a close rival of it
    else:  # on a single image, the tighter fit among the same candidates only, when it fits better
        second, second_fit = _found(images, body, voxel_zyx_mm, origin_zyx_mm, n_candidates, roi_mm,
                                    min(roi_mm, TIGHT_SEARCH_ROI_MM))
        margin = 1.0
    elsewhere = np.linalg.norm(np.subtract(second.centre_xyz_mm, frame.centre_xyz_mm)) >= RIVAL_DISTANCE_MM
    return second if elsewhere and fit < margin * second_fit else frame


def _found(images: Sequence[np.ndarray], body: np.ndarray | None, voxel_zyx_mm, origin_zyx_mm, n_candidates: int,
           roi_mm: float, search_roi_mm: float) -> tuple[LVFrame, float]:
    """:func:`find_lv`'s search with ``n_candidates`` inside ``body [z, y, x]`` (``None``: anywhere) on normalised
    ``images``, each candidate's pose fitted to ``search_roi_mm`` around it: the frame and how well it fits them all
    (its score; with several images, the sum of the scores of the shell fitted to each with its pose held, over
    ``roi_mm``)."""
    if len(images) == 1:
        frame = _search_lv(images[0], body, voxel_zyx_mm, origin_zyx_mm, n_candidates, search_roi_mm)
        return frame, frame.score
    searches = [_search_lv(one, body, voxel_zyx_mm, origin_zyx_mm, n_candidates, search_roi_mm)
                for one in [*images, np.mean(images, axis=0)]]

    def held(frames: Sequence[LVFrame]) -> list[list[LVFrame]]:  # per image, the shell fitted with each pose held
        poses = [(np.asarray(frame.centre_xyz_mm), np.asarray(frame.long_axis)) for frame in frames]
        return [fit_lv_shell(one, voxel_zyx_mm, origin_zyx_mm, poses, roi_mm=roi_mm, fit_pose=False) for one in images]

    with _single_thread():
        fits = held(searches)
        votes = np.sum([[fit.score for fit in per_image] for per_image in fits], axis=0)
        best = int(np.argmax(votes))
        found, fitted, fit = searches[best], fits[0][best], float(votes[best])
        again = [per_image[0] for per_image in held([refine_pose(images[0], fitted, voxel_zyx_mm, origin_zyx_mm)])]
    if sum(one.score for one in again) >= fit:
        fitted, fit = again[0], float(sum(one.score for one in again))
    return replace(fitted, rival_score=found.rival_score / max(found.score, 1e-12) * fitted.score), fit


def _search_lv(image: np.ndarray, body: np.ndarray | None, voxel_zyx_mm, origin_zyx_mm, n_candidates: int, roi_mm: float
               ) -> LVFrame:
    """:func:`find_lv` on one normalised image, its candidates inside ``body`` (``None``: anywhere)."""
    with _single_thread():
        centres = lv_candidates(image, voxel_zyx_mm, origin_zyx_mm, n_candidates, inside=body)
        fits = fit_lv_shell(image, voxel_zyx_mm, origin_zyx_mm,
                            [(centre, axis) for centre in centres for axis in initial_axes()], roi_mm=roi_mm)
    prior = np.asarray(PRIOR_LONG_AXIS) / np.linalg.norm(PRIOR_LONG_AXIS)
    plausible = [fit for fit in fits if np.dot(fit.long_axis, prior) >= np.cos(np.radians(AXIS_FROM_PRIOR_MAX_DEG))]
    best = refine_pose(image, max(plausible or fits, key=lambda fit: fit.score), voxel_zyx_mm, origin_zyx_mm)
    rivals = [fit.score for fit in fits if np.linalg.norm(np.subtract(fit.centre_xyz_mm, best.centre_xyz_mm))
              >= RIVAL_DISTANCE_MM]
    return replace(best, rival_score=max(rivals, default=0.0))


WALL_RIDGE_DROP = 0.75
"""A profile's maximum is a wall peak only if the counts fall outside it below this fraction of it: a wall is a ridge.
Where the liver or the gut lies against the wall the counts keep rising outwards, and that maximum is the organ's."""


def refine_pose(image: np.ndarray, frame: LVFrame, voxel_zyx_mm, origin_zyx_mm, iterations: int = 3,
                bullseye_size: int = 48) -> LVFrame:
    """The frame's centre and long axis refitted to where the wall's counts peak, as clinical software
    places its surface (Germano et al., J Nucl Med 36:1107, 1995): along each polar-map profile the
    position of the maximum is a point of the mid-wall if it is a ridge — not at the profile's ends, the counts
    outside it falling below :data:`WALL_RIDGE_DROP` of it (where fewer than half the profiles have one, every
    maximum counts) —; the mid-wall ellipsoid is fitted to those points by
    robust least squares over its axis and its centre's position across the axis, weighted by the square
    root of their counts so that a defect's faint wall counts less. Size and the centre's position along the
    axis stay the shell fit's: the peaks of an open-based shell do not pin them down (fitted freely they run
    to the bounds on defects and hot neighbours). The intensity fit of :func:`fit_lv_shell` is pulled where the
    wall's brightness varies (attenuation, defects, the RV's wall beside the septum), the peaks much less
    (validated on the quick and hard cohorts: ``docs/BENCHMARKS.md``)."""
    rho, phi = bullseye_coordinates(bullseye_size)
    rho, phi = rho[rho <= 1.0], phi[rho <= 1.0]
    for _ in range(iterations):
        offsets = _window_offsets(frame, voxel_zyx_mm, search_mm=10.0)
        points, normals, counts = _wall_profiles(image, frame, rho, phi, voxel_zyx_mm, origin_zyx_mm, offsets)
        at = counts.argmax(axis=0)
        peak = counts.max(axis=0)
        beyond = np.minimum.accumulate(counts[::-1], axis=0)[::-1][at, np.arange(len(at))]  # lowest count outside
        ridge = (at > 0) & (at < len(offsets) - 1) & (beyond < WALL_RIDGE_DROP * peak)
        keep = ridge if ridge.mean() >= 0.5 else np.ones_like(ridge)
        peaks = (points + offsets[at][:, None] * normals)[keep]
        weights = np.sqrt(np.clip(peak / peak.max(), 0.0, None))[keep]
        semi_axes = (frame.long_mm - 0.5 * frame.wall_mm, frame.short_mm - 0.5 * frame.wall_mm)
        start, centre = np.asarray(frame.long_axis), np.asarray(frame.centre_xyz_mm)
        across = np.stack([np.asarray(frame.anterior), frame.lateral])
        pose = optimize.least_squares(_mid_wall_distances, np.r_[0.0, 0.0, start], loss="soft_l1", f_scale=3.0,
                                      args=(centre, across, peaks, weights, semi_axes)).x
        axis = pose[2:] / np.linalg.norm(pose[2:])
        axis = axis if axis @ start > 0 else -axis  # the ellipsoid is symmetric: keep the apex where it was
        frame = replace(frame, centre_xyz_mm=tuple(float(v) for v in centre + pose[:2] @ across),
                        long_axis=tuple(float(v) for v in axis),
                        anterior=tuple(float(v) for v in anterior_direction(axis)))
    return frame


def _mid_wall_distances(pose: np.ndarray, centre: np.ndarray, across: np.ndarray, points: np.ndarray,
                        weights: np.ndarray, semi_axes: tuple[float, float]) -> np.ndarray:
    """Weighted, approximately metric distances (mm) of ``points [N, 3]`` from the ellipsoid of revolution of
    ``semi_axes`` (along, across the axis) centred at ``centre`` shifted by ``pose[:2]`` along the two unit
    vectors ``across [2, 3]``, with the (unnormalised) axis ``pose[2:]``."""
    axis = pose[2:] / np.linalg.norm(pose[2:])
    rel = points - centre - pose[:2] @ across
    along = rel @ axis
    radial = np.linalg.norm(rel - along[:, None] * axis, axis=1)
    long_mid, short_mid = semi_axes
    return weights * (np.sqrt((along / long_mid) ** 2 + (radial / short_mid) ** 2) - 1.0) * short_mid


def lv_frame(image: np.ndarray, voxel_zyx_mm, origin_zyx_mm, given: dict | None = None, *,
             same_acquisition: Sequence[np.ndarray] = ()) -> LVFrame:
    """The LV frame of ``image [z, y, x]``: the reader's when ``given`` (``centre_xyz_mm``, ``long_axis``:
    :func:`reader_frame`), else the automatic one (:func:`find_lv`, with the other reconstructions of the
    acquisition, ``same_acquisition``)."""
    if given:
        return reader_frame(image, voxel_zyx_mm, origin_zyx_mm, **given)
    return find_lv(image, voxel_zyx_mm, origin_zyx_mm, same_acquisition=same_acquisition)


def reader_frame(image: np.ndarray, voxel_zyx_mm, origin_zyx_mm, centre_xyz_mm, long_axis) -> LVFrame:
    """The LV frame a reader gives, as readers correct an automatic frame in QPS or ECTb: the LV's centre
    (world x, y, z mm; the centre of the LV ellipsoid, :attr:`LVFrame.centre_xyz_mm`) and its long axis
    (base → apex, any length). The LV's size and base plane are fitted to ``image [z, y, x]`` with that
    pose held (:func:`fit_lv_shell` with ``fit_pose=False``); the frame is never :attr:`~LVFrame.uncertain`."""
    centre, axis = lv_pose(centre_xyz_mm, long_axis)
    image = _normalised(image, "reader_frame")
    with _single_thread():
        [frame] = fit_lv_shell(image, voxel_zyx_mm, origin_zyx_mm, [(centre, axis)], fit_pose=False)
    return replace(frame, source="reader")


def lv_pose(centre_xyz_mm, long_axis) -> tuple[np.ndarray, np.ndarray]:
    """A reader's LV centre (x, y, z mm) and long axis checked and as arrays, the axis made unit length;
    ``ValueError`` saying what is wrong otherwise."""
    try:
        centre, axis = np.asarray(centre_xyz_mm, np.float64), np.asarray(long_axis, np.float64)
    except (TypeError, ValueError):
        centre = axis = np.array([np.nan])
    if centre.shape != (3,) or axis.shape != (3,) or not np.isfinite([*centre, *axis]).all():
        raise ValueError(f"an LV frame needs a centre and a long axis of 3 finite numbers each (x, y, z mm), "
                         f"got {centre_xyz_mm} and {long_axis}")
    if np.linalg.norm(axis) == 0:
        raise ValueError("the LV's long axis cannot be the zero vector")
    return centre, axis / np.linalg.norm(axis)


def _normalised(image: np.ndarray, caller: str) -> np.ndarray:
    """``image`` as float64 scaled to its 99.9th percentile, after checking it is a 3-D image with counts."""
    image = np.asarray(image, np.float64)
    if image.ndim != 3 or min(image.shape) < 3:
        raise ValueError(f"{caller} needs a 3-D image [z, y, x], got shape {image.shape}")
    if not np.isfinite(image).all() or image.max() <= 0:
        raise ValueError(f"{caller} needs a finite image with positive counts")
    return image / np.percentile(image, 99.9)


@contextmanager
def _single_thread():
    """Torch on one thread: the fits are thousands of tiny steps, threads only add synchronisation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def initial_axes(spread_deg: float = 20.0) -> list[np.ndarray]:
    """The prior long axis and four axes ``spread_deg`` away from it (towards the patient's front and back, and
    ⟂ to those)."""
    prior = np.asarray(PRIOR_LONG_AXIS) / np.linalg.norm(PRIOR_LONG_AXIS)
    first = short_axis_direction(prior, FRONT_XYZ)
    second = np.cross(prior, first)
    tilt = np.radians(spread_deg)
    return [prior] + [np.cos(tilt) * prior + np.sin(tilt) * d for d in (first, -first, second, -second)]


def lv_candidates(image: np.ndarray, voxel_zyx_mm, origin_zyx_mm, n: int, inside: np.ndarray | None = None
                  ) -> list[np.ndarray]:
    """World (x, y, z) mm of the ``n`` most LV-like points, ≥ 30 mm apart, less those outside the mask
    ``inside [z, y, x]`` (unless all are; default: no mask): a hot shell 12–30 mm around a cold ball of 10 mm, hot all
    round. The shell is split into 14 sectors (towards the faces and corners of
    a cube); the response is the 30th percentile of the sector means minus the ball's mean, so that a hot
    organ's edge (hot on one side only) or its inside (no cold centre) respond little, the LV (open only at
    its base) strongly."""
    offsets = np.meshgrid(*(np.arange(-r, r + 1) * v for r, v in zip((int(np.ceil(32.0 / v)) for v in voxel_zyx_mm),
                                                                     voxel_zyx_mm, strict=True)), indexing="ij")
    radius = np.sqrt(sum(o**2 for o in offsets))
    shell = (radius >= 12.0) & (radius <= 30.0)
    unit = np.stack(offsets, axis=-1) / np.maximum(radius, 1e-9)[..., None]
    directions = [np.array(d, float) / np.linalg.norm(d) for d in
                  [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
                  + [(a, b, c) for a in (1, -1) for b in (1, -1) for c in (1, -1)]]

    def mean_filter(mask: np.ndarray) -> np.ndarray:
        return signal.fftconvolve(image, (mask / mask.sum())[::-1, ::-1, ::-1], mode="same")

    sectors = np.stack([mean_filter(shell & (unit @ d > np.cos(np.radians(40.0)))) for d in directions])
    response = np.percentile(sectors, 30, axis=0) - mean_filter(radius <= 10.0)
    peaks = response == ndimage.maximum_filter(response, footprint=radius <= 30.0)
    order = np.argsort(response[peaks])[::-1][:n]
    indices = np.argwhere(peaks)[order]
    kept = inside[tuple(indices.T)] if inside is not None else None
    if kept is not None and kept.any():
        indices = indices[kept]
    return [np.array([origin_zyx_mm[2 - i] + voxel_zyx_mm[2 - i] * index[2 - i] for i in range(3)])
            for index in indices]


def fit_lv_shell(image: np.ndarray, voxel_zyx_mm, origin_zyx_mm, starts: Sequence[tuple[np.ndarray, np.ndarray]], *,
                 roi_mm: float = 60.0, steps: int = 150, fit_pose: bool = True) -> list[LVFrame]:
    """Least-squares fits of a truncated ellipsoidal shell to ``image``, one per start ``(cavity_centre_xyz_mm,
    axis)``, over the voxels within ``roi_mm`` of that start's cavity centre.

    ``shell`` is 1 between an outer ellipsoid (semi-axes long, short) and an inner one (wall thickness
    less) on the apex side of the base plane, with logistic edges (width ≈ the reconstruction's
    resolution). The image is modelled as the shell times a smoothly varying wall activity (linear
    along the axis, second-order harmonics around it: perfusion defects and attenuation change the
    wall's counts, not its shape) plus a constant; those amplitudes are solved in closed form, the pose
    (centre, axis, started at ``axis``) and size by Adam on the fraction of variance left unexplained.
    The apex is the closed end: the model's asymmetry fixes the axis's sign. With ``fit_pose=False`` the pose
    is held: ``cavity_centre_xyz_mm`` is the ellipsoid's centre and ``axis`` its long axis (a frame given by a
    reader), only size and base are fitted.

    The fits are independent but run as one batch ``[fit, voxel]`` (each fit's voxels padded to the largest
    region with zero weight, one Adam over all): the same result as fitting one start after the other, a
    fraction of the time — a single fit is thousands of tiny tensor operations.
    """
    points = world_coordinates(image.shape, voxel_zyx_mm, origin_zyx_mm).reshape(-1, 3)
    centres = np.array([centre for centre, _ in starts], np.float64)  # [B, 3]
    near = [np.flatnonzero(np.linalg.norm(points - centre, axis=1) < roi_mm) for centre in centres]
    if not all(len(inside) for inside in near):
        raise ValueError(f"an LV centre lies farther than {roi_mm} mm from every voxel of the image")
    n = max(len(inside) for inside in near)
    index = np.stack([np.pad(inside, (0, n - len(inside)), mode="edge") for inside in near])  # [B, N]
    mask = torch.from_numpy(np.arange(n)[None] < np.array([len(inside) for inside in near])[:, None]).double()
    p_t = torch.from_numpy(points[index] - centres[:, None]).transpose(1, 2).contiguous()  # [B, 3, N]
    v = torch.from_numpy(image.reshape(-1)[index].astype(np.float64))  # [B, N]
    edge_mm = 0.5 * max(voxel_zyx_mm) + 2.0

    long, short, wall = PRIOR_SIZE_MM
    start = torch.tensor(np.array([axis / np.linalg.norm(axis) for _, axis in starts]), dtype=torch.float64)
    # the candidate is the cavity's middle, ≈ 0.35 long semi-axes apical of the ellipsoid centre
    centre = (-0.35 * long * start if fit_pose else torch.zeros_like(start)).clone().requires_grad_(fit_pose)
    direction = start.clone().requires_grad_(fit_pose)
    size = torch.tensor([[_unbound(x, b) for x, b in zip((long, short, wall), SIZE_BOUNDS_MM, strict=True)]]
                        * len(starts), dtype=torch.float64, requires_grad=True)
    base = torch.full((len(starts),), _unbound(0.3, BASE_FRACTION_BOUNDS), dtype=torch.float64, requires_grad=True)
    size_bounds = tuple(torch.tensor(b, dtype=torch.float64) for b in zip(*SIZE_BOUNDS_MM, strict=True))
    pose = [{"params": [centre], "lr": 1.0}, {"params": [direction], "lr": 0.02}] if fit_pose else []
    optimiser = torch.optim.Adam([*pose, {"params": [size, base], "lr": 0.05}])

    def model() -> tuple[torch.Tensor, ...]:
        """Per fit: the shell's design matrix ``[B, 7, N]``, the points' position along the unit axis and
        distance from it (mm, ``[B, N]`` each), the axis and (outer long, outer short, wall, base position) mm."""
        u = direction / direction.norm(dim=1, keepdim=True)
        l_out, s_out, w = _bound(size, size_bounds).unbind(dim=1)
        b = -_bound(base, BASE_FRACTION_BOUNDS) * l_out
        first = _front_torch(u)  # the angular terms span the same functions in any basis ⟂ to the axis
        frame = torch.stack([u, first, torch.linalg.cross(u, first)], dim=1)  # [B, 3, 3]: orthonormal rows
        along, e1, e2 = (frame @ (p_t - centre[..., None])).unbind(dim=1)
        across = torch.sqrt(e1**2 + e2**2 + 1e-6)
        shell = _shell(along, across, l_out, s_out, w, b, edge_mm)
        cos, sin = e1 / across, e2 / across
        terms = torch.stack([shell, shell * along / l_out[:, None], shell * cos, shell * sin,
                             shell * (cos**2 - sin**2), shell * 2 * cos * sin, torch.ones_like(shell)], dim=1)
        return terms, along, across, u, torch.stack([l_out, s_out, w, b], dim=1)

    weight = mask
    for step in range(steps):
        optimiser.zero_grad()
        r2, residual = _r_squared(model()[0], v, weight)
        (-r2.sum()).backward()
        optimiser.step()
        if step % 25 == 24:
            weight = _robust_weights(residual.detach(), v, mask)
    with torch.no_grad():
        terms, along, across, u, dims = model()
        r2 = _r_squared(terms[:, [0, -1]], v, weight)[0]
        l_out, s_out, w, b = dims.unbind(dim=1)
        shell = _shell(along, across, l_out, s_out, w, b, edge_mm) * mask
        cavity = _cavity(along, across, l_out, s_out, w, b, edge_mm) * mask
        inside_wall = shell > 0.5 * shell.amax(dim=1, keepdim=True)
        inside_cavity = cavity > 0.5 * cavity.amax(dim=1, keepdim=True)
    frames = []
    for k, (cavity_centre, _) in enumerate(starts):
        wall_k, cavity_k = inside_wall[k], inside_cavity[k]
        contrast = float(1.0 - v[k][cavity_k].mean() / v[k][wall_k].mean()) if cavity_k.any() and wall_k.any() else 0.0
        axis = u[k].numpy()
        frames.append(LVFrame(tuple(float(c) for c in cavity_centre + centre[k].detach().numpy()),
                              tuple(float(c) for c in axis), tuple(float(c) for c in anterior_direction(axis)),
                              *(float(x) for x in dims[k]), float(torch.sqrt(r2[k].clamp(min=0))), contrast))
    return frames


def _front_torch(u: torch.Tensor) -> torch.Tensor:
    """:func:`~mumap.data.phantom.short_axis_direction` of unit axes ``u [B, 3]`` towards the patient's front."""
    front = torch.tensor([0.0, -1.0, 0.0], dtype=u.dtype) + u * u[:, 1:2]
    return front / front.norm(dim=1, keepdim=True)


def _r_squared(terms: torch.Tensor, values: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per fit, the share of the weighted variance of ``values [B, N]`` that a weighted least-squares fit by the
    rows of ``terms [B, K, N]`` explains ``[B]``, and the fit's residuals ``[B, N]``.

    The coefficients are solved without gradient: at the least-squares optimum the derivative of the residual
    sum of squares with respect to ``terms`` is its partial derivative with the coefficients held (the envelope
    theorem), so back-propagating through the solve would only add work."""
    with torch.no_grad():
        weighted = terms * weight[:, None]
        normal = weighted @ terms.transpose(1, 2)
        eye = 1e-9 * torch.eye(normal.shape[-1], dtype=normal.dtype)
        coefficients = torch.linalg.solve(normal + eye, weighted @ values[..., None])  # [B, K, 1]
    residual = values - (coefficients.transpose(1, 2) @ terms)[:, 0]
    mean = (weight * values).sum(dim=1, keepdim=True) / weight.sum(dim=1, keepdim=True)
    return 1.0 - (weight * residual**2).sum(dim=1) / (weight * (values - mean) ** 2).sum(dim=1), residual


def _robust_weights(residual: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cauchy weights ``[B, N]`` for counts above the model (scale: 30 % of each fit's maximum over its own
    voxels, ``mask``): hot neighbours the shell cannot explain (stomach, liver touching the wall) stop pulling
    the fit."""
    fitted = (values - residual).masked_fill(mask == 0, -torch.inf)
    scale = 0.3 * fitted.amax(dim=1, keepdim=True)
    return mask / (1.0 + (residual.clamp(min=0) / scale) ** 2)


def _shell(along: torch.Tensor, across: torch.Tensor, long, short, wall, base, edge_mm: float) -> torch.Tensor:
    """Soft indicator ``[B, N]`` of truncated ellipsoidal shells at points ``along``, ``across`` their axes
    (mm from their centres, ``[B, N]``); sizes ``[B]``."""
    return (_inside(along, across, long, short, edge_mm)
            * (1.0 - _inside(along, across, long - wall, short - wall, edge_mm))
            * torch.sigmoid((along - base[:, None]) / edge_mm))


def _cavity(along: torch.Tensor, across: torch.Tensor, long, short, wall, base, edge_mm: float) -> torch.Tensor:
    """Soft indicator ``[B, N]`` of the cavities, one edge width clear of the wall."""
    clear = wall + edge_mm
    return (_inside(along, across, long - clear, short - clear, edge_mm)
            * torch.sigmoid((along - base[:, None]) / edge_mm))


def _inside(along: torch.Tensor, across: torch.Tensor, long, short, edge_mm: float) -> torch.Tensor:
    """Soft indicator of ellipsoids (semi-axes ``long [B]`` along the axis, ``short [B]`` across), edge ≈
    ``edge_mm``."""
    long, short = long[:, None], short[:, None]
    radius = torch.sqrt((along / long) ** 2 + (across / short) ** 2)
    return torch.sigmoid((1.0 - radius) * short / edge_mm)


def _bound(raw: torch.Tensor, bounds) -> torch.Tensor:
    """Map unbounded parameters into ``bounds`` (low, high): numbers, or tensors of one bound per element."""
    low, high = bounds
    return low + (high - low) * torch.sigmoid(raw)


def _unbound(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    fraction = (value - low) / (high - low)
    return float(np.log(fraction / (1.0 - fraction)))


# --- sampling: polar maps and short-axis slices ------------------------------------------------------


def polar_map(image: np.ndarray, frame: LVFrame, voxel_zyx_mm, origin_zyx_mm, size: int = 512,
              search_mm: float = 5.0, post_filter: tuple[float, int] | None = (CLINICAL_CUTOFF_PER_CM, CLINICAL_ORDER),
              ) -> np.ndarray:
    """Polar map ``[size, size]`` of ``image`` in % of the LV wall's maximum (NaN outside the bullseye).

    As clinical software draws it (QPS: the maximal count within the myocardium, between the endo- and
    epicardial surfaces, of the post-filtered image): the image is smoothed by the Butterworth post-filter of
    nuclear cardiology (``post_filter`` = (critical frequency in cycles/cm, order), default 0.5 and 5:
    :mod:`mumap.spect.postfilter`; ``None`` for an image that is already filtered); every bullseye pixel is
    a point of the fitted mid-wall surface (:func:`mid_wall`), and its value is the maximum count along the
    surface normal within the myocardium as the image shows it: half the fitted wall either side plus
    ``search_mm`` (the fitted wall is thinner than the blurred one; without the margin, the apex's peak, which
    blur pulls inwards, is missed) — radial (short-axis) profiles in the basal and mid LV, spherical ones in
    the apical cap. Without the filter, the map's maximum is a single voxel's noise.

    The map is divided by the wall's maximum: the highest of the profiles whose maximum is the wall's
    (:func:`wall_maxima`). Where a hot neighbour (liver, bowel, gallbladder) touches the wall, its counts still
    rise at the window's outer end; normalised to those, every segment of hard seed 1's S0006 read 25–47 %
    instead of 45–90 % (``docs/BENCHMARKS.md``). Such pixels read 100 % (clipped);
    :func:`extracardiac_excess` says how far they lie above the wall.
    """
    values, from_wall = wall_maxima(image, frame, voxel_zyx_mm, origin_zyx_mm, size, search_mm, post_filter)
    reference = np.nanmax(values[from_wall]) if from_wall.any() else np.nanmax(values)
    if not reference > 0:
        raise ValueError("the image has no counts in the LV wall")
    return np.minimum(values / reference * 100.0, 100.0)


def extracardiac_excess(image: np.ndarray, frame: LVFrame, voxel_zyx_mm, origin_zyx_mm, size: int = 128,
                        search_mm: float = 5.0,
                        post_filter: tuple[float, int] | None = (CLINICAL_CUTOFF_PER_CM, CLINICAL_ORDER)) -> float:
    """How far (fraction) the highest count of :func:`polar_map`'s profiles lies above the wall's own maximum:
    0 when the map's maximum is the wall's; above :data:`EXTRACARDIAC_EXCESS_MAX` when a neighbour outside the
    myocardium (:func:`wall_maxima`) is hotter than the wall (``inf`` if no profile's maximum is the wall's). The
    segments next to it read too high (clipped at 100 %)."""
    values, from_wall = wall_maxima(image, frame, voxel_zyx_mm, origin_zyx_mm, size, search_mm, post_filter)
    if not from_wall.any():
        return float("inf")
    return float(np.nanmax(values) / np.nanmax(values[from_wall]) - 1.0)


NEIGHBOUR_RIDGE_MM = 10.0
"""How far beyond the wall's search window :func:`wall_maxima` looks for the counts to fall (about a wall's thickness).
A wall peak just beyond the window falls within it — the fitted apex lies 7–10 mm inside the image's, so the apex's
peak can lie outside (quick S0036's nAC apex: flagged at 5 mm, not at 10) —; a hot liver or
bowel loop does not (hard seed 1's S0006 on CTAC: flagged at 10 mm; its bowel loop falls off within 15 mm)."""


def wall_maxima(image: np.ndarray, frame: LVFrame, voxel_zyx_mm, origin_zyx_mm, size: int, search_mm: float,
                post_filter: tuple[float, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per bullseye pixel ``[size, size]``: the maximum count of the post-filtered ``image`` along its wall profile
    (as :func:`polar_map` samples it; NaN outside the bullseye), and whether that maximum is the wall's. It is not
    where it lies at the window's outer end and the counts go on outwards without a ridge — without falling below
    :data:`WALL_RIDGE_DROP` of their peak within :data:`NEIGHBOUR_RIDGE_MM` beyond the window, the rule
    :func:`refine_pose` takes wall peaks by —: a hot neighbour touching the wall (``False`` outside the disc too)."""
    if post_filter is not None:
        image = butterworth_filter(image, voxel_zyx_mm, *post_filter)
    rho, phi = bullseye_coordinates(size)
    disc = rho <= 1.0
    window_end = len(_window_offsets(frame, voxel_zyx_mm, search_mm))  # samples in the window
    _, _, counts = _wall_profiles(image, frame, rho[disc], phi[disc], voxel_zyx_mm, origin_zyx_mm,
                                  _window_offsets(frame, voxel_zyx_mm, search_mm, NEIGHBOUR_RIDGE_MM))
    window, outside = counts[:window_end], counts[window_end - 1:]  # outside: from the window's end outwards
    at_end = window.argmax(axis=0) == window_end - 1
    peak_at = outside.argmax(axis=0)
    beyond = np.minimum.accumulate(outside[::-1], axis=0)[::-1][peak_at, np.arange(len(peak_at))]
    ridge = (peak_at < len(outside) - 1) & (beyond < WALL_RIDGE_DROP * outside.max(axis=0))
    values, from_wall = np.full((size, size), np.nan), np.zeros((size, size), bool)
    values[disc] = window.max(axis=0)
    from_wall[disc] = ~at_end | ridge
    return values, from_wall


def _window_offsets(frame: LVFrame, voxel_zyx_mm, search_mm: float, beyond_mm: float = 0.0) -> np.ndarray:
    """Offsets (mm) along a mid-wall normal: half the wall plus ``search_mm`` either side in half-voxel steps (the
    wall's search window), then as many steps as reach ``beyond_mm`` further outwards."""
    step = 0.5 * min(voxel_zyx_mm)
    half = 0.5 * frame.wall_mm + search_mm
    window = np.arange(-half, half + step / 2, step)
    return np.concatenate([window, window[-1] + step * np.arange(1, int(np.ceil(beyond_mm / step)) + 1)])


def _wall_profiles(image: np.ndarray, frame: LVFrame, rho: np.ndarray, phi_deg: np.ndarray, voxel_zyx_mm,
                   origin_zyx_mm, offsets_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts along the mid-wall normals of bullseye positions ``(ρ, φ)`` [N] at ``offsets_mm`` [S]
    (:func:`_window_offsets`): ``(points [N, 3], normals [N, 3], counts [S, N])``."""
    points, normals = mid_wall(frame, rho, phi_deg)
    profiles = points[None] + offsets_mm[:, None, None] * normals[None]  # [samples, pixels, 3]
    counts = ndimage.map_coordinates(np.asarray(image, np.float64),
                                     to_voxel(profiles, voxel_zyx_mm, origin_zyx_mm).reshape(3, -1), order=1,
                                     mode="nearest").reshape(len(offsets_mm), -1)
    return points, normals, counts


def mid_wall(frame: LVFrame, rho: np.ndarray, phi_deg: np.ndarray, base_margin_mm: float = BASE_MARGIN_MM
             ) -> tuple[np.ndarray, np.ndarray]:
    """World points ``[N, 3]`` (mm) on the mid-wall surface of the fitted shell for bullseye positions
    ``(ρ, φ)``, and the unit outward normals there.

    The centre disc (ρ < 0.25) spans the apical cap beyond the cavity tip (segment 17) in equal angles
    from the apex; the rings from the cavity tip (ρ = 0.25) to the base (ρ = 1) are equal steps along the
    long axis, so that the apical, mid and basal thirds of :func:`mumap.data.phantom.aha_segment` are the
    bullseye's rings. The rim stops ``base_margin_mm`` short of the fitted base plane, where the open
    wall's counts fall off by partial volume (as clinical software excludes the valve plane).
    """
    long_mid, short_mid = frame.long_mm - 0.5 * frame.wall_mm, frame.short_mm - 0.5 * frame.wall_mm
    tip, base = frame.cavity_tip_mm, max(frame.base_mm + base_margin_mm, -long_mid)
    apex_edge = RING_EDGES[0]
    along = tip - (rho - apex_edge) / (1.0 - apex_edge) * (tip - base)
    theta = np.where(rho < apex_edge, np.arccos(tip / long_mid) * rho / apex_edge,
                     np.arccos(np.clip(along / long_mid, -1.0, 1.0)))
    u, anterior, lateral = (np.asarray(v, np.float64) for v in (frame.long_axis, frame.anterior, frame.lateral))
    radial = np.cos(np.radians(phi_deg))[:, None] * anterior + np.sin(np.radians(phi_deg))[:, None] * lateral
    points = (np.asarray(frame.centre_xyz_mm) + long_mid * np.cos(theta)[:, None] * u
              + short_mid * np.sin(theta)[:, None] * radial)
    normals = np.cos(theta)[:, None] / long_mid * u + np.sin(theta)[:, None] / short_mid * radial
    return points, normals / np.linalg.norm(normals, axis=1, keepdims=True)


def short_axis(image: np.ndarray, frame: LVFrame, voxel_zyx_mm, origin_zyx_mm, spacing_mm: float | None = None,
               field_mm: float = 120.0) -> np.ndarray:
    """The image resampled in the LV frame: short-axis slices ``[slice, row, column]`` from the base
    plane to the apex's outer edge, ``spacing_mm`` apart (default: the smallest voxel size), each
    ``field_mm`` wide, anterior up, septum left, lateral right (the standard short-axis view)."""
    spacing = spacing_mm or min(voxel_zyx_mm)
    along = np.arange(frame.base_mm, frame.long_mm + spacing / 2, spacing)
    half = np.arange(-field_mm / 2, field_mm / 2 + spacing / 2, spacing)
    rows, cols = np.meshgrid(-half, half, indexing="ij")  # row up = anterior, column right = lateral
    u, anterior, lateral = (np.asarray(v, np.float64) for v in (frame.long_axis, frame.anterior, frame.lateral))
    points = (np.asarray(frame.centre_xyz_mm) + along[:, None, None, None] * u
              + rows[None, ..., None] * anterior + cols[None, ..., None] * lateral)
    return ndimage.map_coordinates(np.asarray(image, np.float64), to_voxel(points, voxel_zyx_mm, origin_zyx_mm),
                                   order=1, mode="constant", cval=0.0)

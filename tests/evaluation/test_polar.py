"""Polar maps: bullseye layout, LV detection and sampling on rendered phantoms with known truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from mumap.data.phantom import TERRITORY_SEGMENTS, Anatomy, Defect, Uptake, lv_lowest_z_mm, lv_segment_map, render
from mumap.evaluation import polar
from mumap.spect.geometry import ImageGrid

GRID = ImageGrid((32, 56, 56), (6.4, 6.4, 6.4))
RESOLUTION_FWHM_MM = 13.0  # about what OSEM 10 × 3 reaches on the quick cohort


def _reconstruction_like(anatomy: Anatomy, uptake: Uptake) -> tuple[np.ndarray, tuple, tuple, object]:
    """Activity of a phantom blurred to a SPECT resolution, with the grid's voxel size and origin."""
    activity, _, truth = render(GRID, anatomy, uptake)
    sigma = RESOLUTION_FWHM_MM / 2.355 / np.asarray(GRID.voxel_zyx_mm)
    origin = tuple(float(GRID.centres_mm(i)[0]) for i in range(3))
    return ndimage.gaussian_filter(activity, sigma), GRID.voxel_zyx_mm, origin, truth


ANATOMIES = [Anatomy(), Anatomy(lv_azimuth_deg=33.0, lv_elevation_deg=38.0, heart_centre_xyz_mm=(22.0, -35.0, 0.0)),
             Anatomy(lv_azimuth_deg=58.0, lv_elevation_deg=22.0, lv_semi_axes_mm=(41.0, 26.0))]


def test_bullseye_layout_is_the_standard_orientation():
    segments = polar.segment_image(64)
    assert segments[0, 32] == 1 and segments[63, 32] == 4  # basal anterior up, basal inferior down
    assert segments[32, 1] in (2, 3) and segments[32, 62] in (5, 6)  # septum left, lateral right
    assert segments[32, 32] == 17 and segments[0, 0] == 0
    rho, _ = polar.bullseye_coordinates(64)
    assert np.all((segments > 0) == (rho <= 1.0))
    # each ring's segments have (nearly) equal areas
    counts = np.bincount(polar.segment_image(256).ravel(), minlength=18)[1:]
    for ring in (counts[:6], counts[6:12], counts[12:16]):
        assert ring.max() - ring.min() <= 0.02 * ring.mean()


def test_segment_scores_average_each_segment():
    segments = polar.segment_image(32)
    values = np.where(segments > 0, segments * 2.0, np.nan)
    np.testing.assert_allclose(polar.segment_scores(values), 2.0 * np.arange(1, 18))


@pytest.mark.slow
@pytest.mark.parametrize("anatomy", ANATOMIES)
def test_find_lv_recovers_the_true_frame(anatomy):
    image, voxel, origin, truth = _reconstruction_like(anatomy, Uptake())
    frame = polar.find_lv(image, voxel, origin)
    angle = np.degrees(np.arccos(np.dot(frame.long_axis, truth.long_axis)))
    assert angle < 6.0
    assert np.linalg.norm(np.subtract(frame.centre_xyz_mm, truth.centre_xyz_mm)) < 8.0
    assert np.dot(frame.anterior, truth.anterior_axis) > np.cos(np.radians(6.0))
    assert not frame.uncertain and frame.source == "automatic"


@pytest.mark.slow
def test_find_lv_ignores_a_hotter_liver():
    image, voxel, origin, truth = _reconstruction_like(Anatomy(), Uptake(liver=1.2, stomach=1.0))
    frame = polar.find_lv(image, voxel, origin)
    assert np.linalg.norm(np.subtract(frame.centre_xyz_mm, truth.centre_xyz_mm)) < 8.0


def test_the_wall_refinement_ignores_a_liver_fused_to_the_inferior_wall():
    """A left dome 35 mm above the LV's lowest point puts liver and stomach against the inferior wall; as hot as
    the myocardium, their counts keep rising outwards from the wall, and those profiles' maxima are the organs'.
    Refined from the true pose, the axis stays on the LV (taking every profile's maximum: 26° off)."""
    anatomy = Anatomy()
    lowest = anatomy.heart_centre_xyz_mm[2] + lv_lowest_z_mm(*anatomy.lv_semi_axes_mm, anatomy.lv_elevation_deg)
    high_dome = dataclasses.replace(anatomy, diaphragm_z_mm=(lowest + 50.0, lowest + 35.0))
    image, voxel, origin, truth = _reconstruction_like(high_dome, Uptake(liver=1.0, stomach=1.0))
    image = polar._normalised(image, "")
    held = polar.fit_lv_shell(image, voxel, origin, [(np.asarray(truth.centre_xyz_mm), np.asarray(truth.long_axis))],
                              fit_pose=False)[0]
    refined = polar.refine_pose(image, held, voxel, origin)
    assert np.degrees(np.arccos(np.clip(np.dot(refined.long_axis, truth.long_axis), -1.0, 1.0))) < 4.0


@pytest.mark.slow
def test_find_lv_with_the_nac_image_ignores_what_attenuation_correction_lifts():
    """A high left dome with liver, stomach and gallbladder 3.5× the myocardium against the inferior wall, as
    attenuation correction lifts them beneath the heart: alone, the CTAC-like image's search lands on them (28° and
    51 mm off; at 2.5× the wall-ridge rule of ``refine_pose`` already keeps it on the LV); with the nAC-like image of
    the same data (those organs dim), the pose that fits both is the LV's."""
    anatomy = Anatomy(diaphragm_z_mm=(-40.0, -25.0))
    ctac, voxel, origin, truth = _reconstruction_like(anatomy, Uptake(liver=3.5, stomach=3.5, gallbladder=3.5))
    nac, *_ = _reconstruction_like(anatomy, Uptake(liver=0.6, stomach=0.4))

    def errors(frame: polar.LVFrame) -> tuple[float, float]:
        return (np.degrees(np.arccos(np.dot(frame.long_axis, truth.long_axis))),
                np.linalg.norm(np.subtract(frame.centre_xyz_mm, truth.centre_xyz_mm)))

    assert errors(polar.find_lv(ctac, voxel, origin))[0] > 20.0  # the case the other image is there for
    frame = polar.find_lv(ctac, voxel, origin, same_acquisition=[nac])
    angle, distance = errors(frame)
    assert angle < 6.0 and distance < 8.0 and not frame.uncertain
    scaled = polar.find_lv(ctac, voxel, origin, same_acquisition=[3.0 * nac])  # each image is scaled to itself
    np.testing.assert_allclose(scaled.centre_xyz_mm, frame.centre_xyz_mm, atol=0.01)
    np.testing.assert_allclose(scaled.long_axis, frame.long_axis, atol=1e-4)


def test_find_lv_rejects_reconstructions_on_other_grids():
    with pytest.raises(ValueError, match=r"one grid, got shapes \[\(8, 8, 8\), \(8, 8, 9\)\]"):
        polar.find_lv(np.ones((8, 8, 8)), (6.4,) * 3, (0.0,) * 3, same_acquisition=[np.ones((8, 8, 9))])


@pytest.mark.slow
def test_find_lv_looks_for_the_lv_inside_the_body_only(monkeypatch):
    """Arms down at the sides, and an LV-shaped hot shell in the left arm that fits better than the LV (nothing
    around it): searched for anywhere, it is the frame found; but it lies outside the body's outline (the arm is
    apart from the torso), so the frame found with the acquisition's other reconstruction (here the same image: what
    is tested is where the candidates may lie) is the LV's. In nAC images an arm is cupped, colder inside than at
    its skin, and looks like a hollow shell to the candidate filter (hard seed 1's S0012 on mumap 0.9.0)."""
    grid = ImageGrid((32, 80, 80), (6.4, 6.4, 6.4))
    anatomy = Anatomy(arms_down=True)
    activity, _, truth = render(grid, anatomy, Uptake())
    _, y, x = np.meshgrid(*(grid.centres_mm(i) for i in range(3)), indexing="ij")
    arm = (activity > 0) & (x > anatomy.body_semi_axes_xy_mm[0] + 10.0)
    in_arm = (float(x[arm].mean()), float(y[arm].mean()), 0.0)
    activity[lv_segment_map(grid, dataclasses.replace(anatomy, heart_centre_xyz_mm=in_arm)) > 0] = activity.max()
    image = ndimage.gaussian_filter(activity, RESOLUTION_FWHM_MM / 2.355 / np.asarray(grid.voxel_zyx_mm))
    origin = tuple(float(grid.centres_mm(i)[0]) for i in range(3))
    frame = polar.find_lv(image, grid.voxel_zyx_mm, origin, same_acquisition=[image])
    assert np.linalg.norm(np.subtract(frame.centre_xyz_mm, truth.centre_xyz_mm)) < 10.0, frame
    assert np.degrees(np.arccos(np.dot(frame.long_axis, truth.long_axis))) < 10.0, frame
    with monkeypatch.context() as anywhere:
        anywhere.setattr(polar, "body_outline", lambda one: np.ones(one.shape, bool))
        in_the_arm = polar.find_lv(image, grid.voxel_zyx_mm, origin, same_acquisition=[image])
    assert np.linalg.norm(np.subtract(in_the_arm.centre_xyz_mm, in_arm)) < 10.0, in_the_arm


def test_lv_candidates_outside_a_mask_are_dropped_unless_all_are():
    """Of the most LV-like points, those outside the mask are dropped — the others keep their rank and no new ones
    come in —, unless the mask holds none of them (an outline that failed restricts nothing)."""
    z, y, x = np.meshgrid(*(np.arange(24) * 6.4 - 76.8 for _ in range(3)), indexing="ij")
    image = np.zeros(x.shape)
    for centre_x, counts in ((-40.0, 1.0), (40.0, 2.0)):
        radius = np.sqrt((x - centre_x) ** 2 + y**2 + z**2)
        image += counts * ((radius > 12.0) & (radius < 26.0))
    grid = ((6.4,) * 3, (-76.8,) * 3)

    def sides(n: int = 2, **mask) -> list[int]:  # +1: the shell at x = +40 mm, −1: the one at −40 mm
        return [round(float(centre[0]) / 40.0) for centre in polar.lv_candidates(image, *grid, n, **mask)]

    assert sides() == [1, -1]  # the hotter shell first
    assert sides(inside=x < 0) == [-1]
    assert sides(inside=x > 100) == [1, -1]
    assert sides(1, inside=x < 0) == [1]  # the one candidate lies outside: nothing inside to keep


@pytest.mark.slow
def test_find_lv_is_uncertain_without_an_lv():
    """Two solid hot organs in a warm body and no hollow shell anywhere: whatever fits best is flagged."""
    z, y, x = np.meshgrid(*(GRID.centres_mm(i) for i in range(3)), indexing="ij")
    image = 0.1 * (np.hypot(x / 150.0, y / 110.0) < 1.0)
    image[np.sqrt((x + 40) ** 2 + (y + 10) ** 2 + (z + 30) ** 2) < 45.0] = 0.8
    image[np.sqrt((x - 50) ** 2 + (y - 20) ** 2 + (z - 20) ** 2) < 30.0] = 1.0
    image = ndimage.gaussian_filter(image, RESOLUTION_FWHM_MM / 2.355 / np.asarray(GRID.voxel_zyx_mm))
    frame = polar.find_lv(image, GRID.voxel_zyx_mm, tuple(float(GRID.centres_mm(i)[0]) for i in range(3)))
    assert frame.uncertain, frame


def test_uncertain_frames_are_the_automatic_ones_with_a_low_score_or_a_close_rival():
    frame = polar.LVFrame((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0), 60.0, 30.0, 10.0, -20.0,
                          correlation=0.9, cavity_contrast=0.36, rival_score=0.1)
    assert frame.score == pytest.approx(0.81 * 0.6) and not frame.uncertain  # correlation² × √contrast
    assert dataclasses.replace(frame, cavity_contrast=-0.2).score == 0.0  # a cavity hotter than the wall
    low_contrast = (0.99 * polar.FRAME_SCORE_MIN / 0.81) ** 2
    assert dataclasses.replace(frame, cavity_contrast=low_contrast).uncertain
    assert not dataclasses.replace(frame, cavity_contrast=1.03 * low_contrast).uncertain
    assert dataclasses.replace(frame, rival_score=1.01 * polar.RIVAL_SCORE_MAX * frame.score).uncertain
    assert not dataclasses.replace(frame, rival_score=0.99 * polar.RIVAL_SCORE_MAX * frame.score).uncertain
    assert not dataclasses.replace(frame, cavity_contrast=0.0, source="reader").uncertain


FIRST, WIDE, TIGHT = (6, 60.0), (12, 60.0), (12, polar.TIGHT_SEARCH_ROI_MM)  # (candidates, search region mm)
SINGLE = (6, polar.TIGHT_SEARCH_ROI_MM)  # on a single image: the same candidates, the tighter region


@pytest.mark.parametrize(("n_images", "first_rival", "shift_mm", "fits", "searches", "taken"), [
    (2, 0.1, 40.0, {WIDE: 0.9, TIGHT: 0.2}, [FIRST], None),  # a certain frame: no second search
    (1, 0.1, 40.0, {SINGLE: 0.9}, [FIRST], None),  # a certain frame on a single image: no second search
    (1, 0.4, 40.0, {SINGLE: 0.6}, [FIRST, SINGLE], SINGLE),  # single image: the tighter fit, better elsewhere
    (1, 0.4, 40.0, {SINGLE: 0.45}, [FIRST, SINGLE], None),  # single image: the tighter fit is worse
    (1, 0.4, 10.0, {SINGLE: 0.9}, [FIRST, SINGLE], None),  # single image: better, but at the first frame's place
    (2, 0.4, 40.0, {WIDE: 0.9, TIGHT: 0.2}, [FIRST, WIDE, TIGHT], WIDE),  # the wider search fits much better elsewhere
    (2, 0.4, 40.0, {WIDE: 0.2, TIGHT: 0.9}, [FIRST, WIDE, TIGHT], TIGHT),  # the tighter search does
    (2, 0.4, 40.0, {WIDE: 0.8, TIGHT: 0.9}, [FIRST, WIDE, TIGHT], TIGHT),  # both do: the better of the two
    (2, 0.4, 40.0, {WIDE: 0.4, TIGHT: 0.3}, [FIRST, WIDE, TIGHT], None),  # elsewhere, but both fit worse
    (2, 0.4, 40.0, {WIDE: 0.6, TIGHT: 0.6}, [FIRST, WIDE, TIGHT], None),  # better, but the first would be a close rival
    (2, 0.4, 10.0, {WIDE: 0.9, TIGHT: 0.9}, [FIRST, WIDE, TIGHT], None),  # much better, but at the first frame's place
])
def test_an_uncertain_frame_is_searched_for_again_wider_and_tighter(monkeypatch, n_images, first_rival, shift_mm, fits,
                                                                    searches, taken):
    """With the other reconstructions of the acquisition, an uncertain frame is searched for again among twice the
    candidates, with the poses fitted to the usual region around them and to
    :data:`~mumap.evaluation.polar.TIGHT_SEARCH_ROI_MM`; the better of the two frames replaces the first only when it
    lies at another place (≥ :data:`~mumap.evaluation.polar.RIVAL_DISTANCE_MM` away) and fits the images so much
    better that the first is not even its close rival (:data:`~mumap.evaluation.polar.RIVAL_SCORE_MAX`). On a single
    image, only the same candidates' poses fitted to the tighter region, taken when that frame lies elsewhere and fits
    better."""
    first = polar.LVFrame((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0), 60.0, 30.0, 10.0, -20.0,
                          correlation=0.9, cavity_contrast=0.36, rival_score=first_rival)
    second = {search: dataclasses.replace(first, centre_xyz_mm=(shift_mm, 0.0, k)) for k, search in enumerate(fits)}
    calls = []

    def found(images, body, voxel_zyx_mm, origin_zyx_mm, n_candidates, roi_mm, search_roi_mm):
        assert len(images) == n_images and (body is None) == (n_images == 1) and roi_mm == 60.0
        calls.append((n_candidates, search_roi_mm))
        return (first, 0.5) if calls[-1] == FIRST else (second[calls[-1]], fits[calls[-1]])

    monkeypatch.setattr(polar, "_found", found)
    others = [np.ones((8, 8, 8))] * (n_images - 1)
    frame = polar.find_lv(np.ones((8, 8, 8)), (6.4,) * 3, (0.0,) * 3, same_acquisition=others)
    assert calls == searches
    assert frame is (second[taken] if taken else first)


@pytest.mark.parametrize(("reversed_deg", "found", "rival"), [
    (61.0, "plausible", 0.9),  # beyond the cone: not the LV, however well it fits, but still its rival
    (59.0, "pointing_away", 0.5),  # inside it: the better fit, the other its rival
])
def test_a_fit_pointing_away_from_the_prior_is_not_an_lv(monkeypatch, reversed_deg, found, rival):
    """Of the shells fitted on one image, those whose long axis lies more than
    :data:`~mumap.evaluation.polar.AXIS_FROM_PRIOR_MAX_DEG` from the population's LV axis are not the LV, however
    well they fit, unless no fit lies inside the cone (then the best of all, as before); they still count as rivals,
    so the frame found is flagged uncertain (a rival at 1.8 of its score)."""
    prior = np.asarray(polar.PRIOR_LONG_AXIS) / np.linalg.norm(polar.PRIOR_LONG_AXIS)
    side = np.cross(prior, (0.0, 0.0, 1.0))
    side /= np.linalg.norm(side)
    turned = np.cos(np.radians(reversed_deg)) * prior + np.sin(np.radians(reversed_deg)) * side
    frame = polar.LVFrame((0.0, 0.0, 0.0), tuple(prior), (0.0, -1.0, 0.0), 60.0, 30.0, 10.0, -20.0,
                          correlation=1.0, cavity_contrast=0.25)  # score 0.5
    fits = {"plausible": frame,
            "pointing_away": dataclasses.replace(frame, centre_xyz_mm=(40.0, 0.0, 0.0), long_axis=tuple(turned),
                                                 cavity_contrast=0.81)}  # score 0.9
    monkeypatch.setattr(polar, "lv_candidates", lambda *args, **kwargs: [np.zeros(3)])
    monkeypatch.setattr(polar, "fit_lv_shell", lambda *args, **kwargs: list(fits.values()))
    monkeypatch.setattr(polar, "refine_pose", lambda image, frame, *args: frame)
    best = polar._search_lv(np.ones((8, 8, 8)), None, (6.4,) * 3, (0.0,) * 3, 1, 60.0)
    assert best == dataclasses.replace(fits[found], rival_score=pytest.approx(rival))
    assert best.uncertain == (found == "plausible")
    monkeypatch.setattr(polar, "fit_lv_shell", lambda *args, **kwargs: [fits["pointing_away"]])
    alone = polar._search_lv(np.ones((8, 8, 8)), None, (6.4,) * 3, (0.0,) * 3, 1, 60.0)
    assert alone.centre_xyz_mm == (40.0, 0.0, 0.0)  # no fit inside the cone: the best of all


@pytest.mark.slow
def test_reader_frame_keeps_the_given_pose_and_fits_the_size():
    anatomy = ANATOMIES[1]
    image, voxel, origin, truth = _reconstruction_like(anatomy, Uptake())
    tilted = np.add(truth.long_axis, 0.05)  # any length, slightly off: the reader's axis is kept as given
    frame = polar.reader_frame(image, voxel, origin, truth.centre_xyz_mm, 3.0 * tilted)
    np.testing.assert_allclose(frame.centre_xyz_mm, truth.centre_xyz_mm)
    np.testing.assert_allclose(frame.long_axis, tilted / np.linalg.norm(tilted))
    assert frame.source == "reader" and not frame.uncertain
    long, short = anatomy.lv_semi_axes_mm
    assert abs(frame.short_mm - short) < 0.25 * short and abs(frame.long_mm - long) < 0.25 * long
    scores = polar.segment_scores(polar.polar_map(image, frame, voxel, origin, size=128))
    assert scores[:16].min() > 70.0  # no defect
    assert 55.0 < scores[16] < scores[6:12].mean()  # the apex (segment 17) thinner than the walls: apical thinning


def test_shell_fits_in_one_batch_are_the_fits_one_by_one():
    """Starts whose regions hold different numbers of voxels (one on the grid's top slice): the padded batch
    gives every start the fit it gets alone."""
    image, voxel, origin, truth = _reconstruction_like(ANATOMIES[1], Uptake())
    image = image / image.max()
    top = np.array([*truth.centre_xyz_mm[:2], GRID.centres_mm(0)[-1]])
    starts = [(np.asarray(truth.centre_xyz_mm), axis) for axis in polar.initial_axes()[:2]]
    starts.append((top, polar.initial_axes()[0]))
    together = polar.fit_lv_shell(image, voxel, origin, starts, steps=30)
    alone = [polar.fit_lv_shell(image, voxel, origin, [start], steps=30)[0] for start in starts]
    for batched, single in zip(together, alone, strict=True):
        np.testing.assert_allclose(np.hstack(dataclasses.astuple(batched)[:-2]),
                                   np.hstack(dataclasses.astuple(single)[:-2]), rtol=1e-9, atol=1e-9)
    assert together[0].score > together[2].score  # the LV's fit beats the one started above the heart


def test_reader_frame_far_outside_the_image_fails_clearly():
    with pytest.raises(ValueError, match=r"farther than 60\.0 mm from every voxel"):
        polar.reader_frame(np.ones((8, 8, 8)), (6.4,) * 3, (0.0,) * 3, (500.0, 0.0, 0.0), (1.0, 0.0, 0.0))


@pytest.mark.parametrize(("centre", "axis", "message"), [((0, 0), (1, 0, 0), "3 finite numbers"),
                                                          ((0, 0, 0), (0, 0, 0), "zero vector")])
def test_reader_frame_rejects_a_frame_that_is_not_one(centre, axis, message):
    with pytest.raises(ValueError, match=message):
        polar.reader_frame(np.ones((8, 8, 8)), (6.4,) * 3, (0.0,) * 3, centre, axis)


def test_find_lv_rejects_images_without_counts():
    with pytest.raises(ValueError, match="positive counts"):
        polar.find_lv(np.zeros((8, 8, 8)), (6.4,) * 3, (0.0,) * 3)


@pytest.mark.slow
def test_normal_polar_map_is_near_uniform():
    image, voxel, origin, _ = _reconstruction_like(Anatomy(), Uptake())
    frame = polar.find_lv(image, voxel, origin)
    scores = polar.segment_scores(polar.polar_map(image, frame, voxel, origin, size=128))
    basal_mid, apical, apex = scores[:12], scores[12:16], scores[16]
    assert basal_mid.min() > 80.0 and basal_mid.std() / basal_mid.mean() < 0.05
    # apical thinning: the wall tapers towards the apex, and partial volume takes its counts
    assert 55.0 < apex < apical.mean() < basal_mid.mean() and apical.min() > 70.0


@pytest.mark.slow
def test_one_hot_voxel_does_not_set_the_polar_maps_maximum():
    """Normalised to a single voxel's noise, every score of a map drops; the clinical post-filter spreads that
    voxel over its neighbours, as it does the noise of OSEM, and the scores move a quarter as much."""
    image, voxel, origin, _ = _reconstruction_like(Anatomy(), Uptake())
    frame = polar.find_lv(image, voxel, origin)
    wall = lv_segment_map(GRID, Anatomy()) == 7  # mid anterior
    spiked = image.copy()
    spiked[tuple(np.argwhere(wall)[len(np.argwhere(wall)) // 2])] = 2.0 * image[wall].max()  # OSEM noise at low counts

    def scores(img, post_filter):
        return polar.segment_scores(polar.polar_map(img, frame, voxel, origin, size=128, post_filter=post_filter))
    raw_drop = scores(image, None) - scores(spiked, None)
    filtered_drop = scores(image, (0.5, 5)) - scores(spiked, (0.5, 5))
    assert np.median(raw_drop) > 15.0
    assert np.abs(filtered_drop).max() < 0.3 * np.median(raw_drop)  # 9.9 against 38.6


def test_a_hot_neighbour_against_the_wall_is_flagged_and_does_not_set_the_maps_maximum():
    """Liver and stomach twice as hot as the myocardium against the inferior wall (a high left dome): their counts
    rise through the wall's search window, and normalised to them every segment read 33–59 % of the map's maximum;
    normalised to the wall's own peaks, the anterior segments (far from the organs) keep four fifths of theirs.
    Without the organ's heat the map is the one normalised to its maximum, and nothing is flagged."""
    anatomy = Anatomy()
    lowest = anatomy.heart_centre_xyz_mm[2] + lv_lowest_z_mm(*anatomy.lv_semi_axes_mm, anatomy.lv_elevation_deg)
    high_dome = dataclasses.replace(anatomy, diaphragm_z_mm=(lowest + 50.0, lowest + 35.0))
    plain, voxel, origin, truth = _reconstruction_like(high_dome, Uptake())
    hot, *_ = _reconstruction_like(high_dome, Uptake(liver=2.0, stomach=2.0))
    frame = polar.reader_frame(plain, voxel, origin, truth.centre_xyz_mm, truth.long_axis)
    post_filter = (0.5, 5)

    def by_global_maximum(image):
        values, _ = polar.wall_maxima(image, frame, voxel, origin, 128, 5.0, post_filter)
        return values / np.nanmax(values) * 100.0
    np.testing.assert_array_equal(polar.polar_map(plain, frame, voxel, origin, size=128), by_global_maximum(plain))
    assert polar.extracardiac_excess(plain, frame, voxel, origin) == 0.0
    assert polar.extracardiac_excess(hot, frame, voxel, origin) > 0.5 > polar.EXTRACARDIAC_EXCESS_MAX  # 0.97
    anterior = [0, 6, 12]  # segments 1, 7, 13
    plain_scores = polar.segment_scores(polar.polar_map(plain, frame, voxel, origin, size=128))[anterior]
    hot_map = polar.polar_map(hot, frame, voxel, origin, size=128)
    assert np.nanmax(hot_map) == 100.0
    # 67-69 against 83-85: the inferior wall's own peaks, the map's 100 %, gain the organs' spill-in
    assert np.all(polar.segment_scores(hot_map)[anterior] > 0.75 * plain_scores)
    assert np.all(polar.segment_scores(by_global_maximum(hot))[anterior] < 0.5 * plain_scores)  # 34-35


def test_a_wall_peak_just_beyond_the_search_window_is_the_walls():
    """A shell fitted 8 mm too small (the fitted apex lies 7-10 mm inside the image's): the wall's counts peak at the
    window's outer end in 98 % of the profiles, the map's maximum among them, but they fall off within
    NEIGHBOUR_RIDGE_MM beyond it: a wall, not a neighbour — the map is scaled to its maximum, nothing flagged."""
    image, voxel, origin, truth = _reconstruction_like(Anatomy(), Uptake())
    frame = polar.reader_frame(image, voxel, origin, truth.centre_xyz_mm, truth.long_axis)
    small = dataclasses.replace(frame, long_mm=frame.long_mm - 8.0, short_mm=frame.short_mm - 8.0)
    values, from_wall = polar.wall_maxima(image, small, voxel, origin, 128, 5.0, (0.5, 5))
    filtered = polar.butterworth_filter(image, voxel, 0.5, 5)
    rho, phi = polar.bullseye_coordinates(128)
    offsets = polar._window_offsets(small, voxel, 5.0)
    _, _, counts = polar._wall_profiles(filtered, small, rho[rho <= 1], phi[rho <= 1], voxel, origin, offsets)
    at_end = counts.argmax(axis=0) == len(offsets) - 1
    assert at_end.mean() > 0.9 and at_end[counts.max(axis=0).argmax()]
    assert from_wall[rho <= 1].all() and polar.extracardiac_excess(image, small, voxel, origin) == 0.0
    np.testing.assert_array_equal(polar.polar_map(image, small, voxel, origin, size=128),
                                  values / np.nanmax(values) * 100.0)


@pytest.mark.slow
@pytest.mark.parametrize(("territory", "side"), [("LAD", "anterior"), ("LCX", "lateral"), ("RCA", "inferior")])
def test_defect_shows_in_its_territory_and_place(territory, side):
    segments = TERRITORY_SEGMENTS[territory]
    image, voxel, origin, _ = _reconstruction_like(Anatomy(), Uptake(defect=Defect(territory, segments, 0.5)))
    frame = polar.find_lv(image, voxel, origin)
    polar_image = polar.polar_map(image, frame, voxel, origin, size=128)
    scores = polar.segment_scores(polar_image)
    assert np.argmin(scores) + 1 in segments
    inside = np.isin(np.arange(1, 18), segments)
    assert scores[inside].mean() < scores[~inside].mean() - 15.0
    # the low half of the bullseye is where the standard orientation puts the territory
    rho, phi = polar.bullseye_coordinates(128)
    halves = {"anterior": np.abs(phi) < 90, "inferior": np.abs(phi) > 90, "lateral": phi > 0}
    ring = (rho > 0.25) & (rho <= 1.0)
    assert np.nanmean(polar_image[ring & halves[side]]) < np.nanmean(polar_image[ring & ~halves[side]])


@pytest.mark.slow
def test_segments_of_the_polar_map_match_the_phantoms_segments():
    """The voxels the map samples for a segment lie mostly in that segment of the phantom's AHA map."""
    anatomy = ANATOMIES[1]
    image, voxel, origin, _ = _reconstruction_like(anatomy, Uptake())
    frame = polar.find_lv(image, voxel, origin)
    rho, phi = polar.bullseye_coordinates(64)
    disc = rho <= 1.0
    points, _ = polar.mid_wall(frame, rho[disc], phi[disc])
    indices = np.round(polar.to_voxel(points, voxel, origin)).astype(int)
    truth = lv_segment_map(GRID, anatomy)[tuple(indices)]
    ours = polar.segment_image(64)[disc]
    known = truth > 0
    assert known.mean() > 0.5
    assert np.mean(truth[known] == ours[known]) > 0.6


@pytest.mark.slow
def test_short_axis_slices_are_rings_centred_on_the_axis():
    anatomy = Anatomy()
    image, voxel, origin, truth = _reconstruction_like(anatomy, Uptake())
    frame = dataclasses.replace(polar.find_lv(image, voxel, origin), centre_xyz_mm=truth.centre_xyz_mm,
                                long_axis=truth.long_axis, anterior=truth.anterior_axis)
    slices = polar.short_axis(image, frame, voxel, origin, spacing_mm=2.0, field_mm=100.0)
    middle = slices[np.argmin(np.abs(np.arange(frame.base_mm, frame.long_mm + 1.0, 2.0)))]
    centre = middle.shape[0] // 2
    assert middle[centre, centre] < 0.5 * middle.max()  # the cold cavity in the middle
    row = middle[centre]
    ring = anatomy.lv_semi_axes_mm[1] - anatomy.lv_wall_mm / 2
    peaks = np.sort(np.argsort(row)[-2:])
    # the wall peaks on the septal (left) and lateral (right) side, one mid-wall radius from the axis
    np.testing.assert_allclose(np.abs(peaks - centre) * 2.0, ring, atol=5.0)

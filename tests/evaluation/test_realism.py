"""The calibration report: LV mass against the analytic shell, and the report of a cohort end to end."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from mumap.data.phantom import Anatomy, lv_segment_map, lv_shell_mass_g
from mumap.evaluation.polar import EXTRACARDIAC_EXCESS_MAX
from mumap.evaluation.realism import lv_mass_g, main, segment_transmission
from mumap.spect.geometry import ImageGrid


def test_lv_mass_is_the_volume_of_the_truncated_ellipsoidal_shell():
    """The voxel-counted mass of the report equals the phantom's analytic shell mass (itself checked against a
    closed form in tests/data/test_phantom.py)."""
    anatomy = Anatomy()
    grid = ImageGrid((80, 140, 140), (1.5, 1.5, 1.5))
    mass = lv_mass_g(lv_segment_map(grid, anatomy), grid.voxel_zyx_mm)
    assert mass == pytest.approx(lv_shell_mass_g(*anatomy.lv_semi_axes_mm, anatomy.lv_wall_mm), rel=0.03)
    assert 100 < mass < 130  # the reference man's LV: 112 g


def test_segment_transmission_follows_the_tissue_in_front_of_each_segment():
    """Segments 1 and 2 at mirror positions in a 10 cm water cylinder: 1 on the left, where the orbit runs, 2 on
    the right; no attenuation, every segment transmits alike."""
    grid_shape, voxel = (4, 41, 41), (5.0, 5.0, 5.0)
    centres = (np.arange(41) - 20) * 5.0
    y, x = np.meshgrid(centres, centres, indexing="ij")
    mu = np.broadcast_to(np.where(np.hypot(x, y) <= 100.0, 0.15, 0.0), grid_shape).astype(np.float32)
    segments = np.zeros(grid_shape, np.int8)
    segments[:, 20, 28], segments[:, 20, 12] = 1, 2
    for k in range(3, 18):
        segments[1, 20 + (k - 10), 20] = k
    flat = segment_transmission(np.zeros_like(mu), segments, voxel)
    np.testing.assert_allclose(flat, 100.0, rtol=1e-5)
    attenuated = segment_transmission(mu, segments, voxel)
    assert attenuated.max() == pytest.approx(100.0) and attenuated[1] < 0.8 * attenuated[0]


def test_a_folder_that_is_no_cohort_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=rf"{tmp_path}: no dataset.json — not a mumap cohort"):
        main([str(tmp_path)])


def test_the_prac_backend_is_checked_before_the_cohort(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--prac-backend", "stri"])
    assert "invalid choice: 'stri'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "stir", None)  # as if STIR were not installed
    with pytest.raises(ImportError, match="STIR is not installed: run `make stir`"):
        main([str(tmp_path), "--prac-backend", "stir"])


@pytest.mark.slow
def test_report_of_a_cohort(tiny_cohort, tmp_path, capsys):
    out = tmp_path / "realism"
    values = main([str(tiny_cohort), "--out", str(out), "--max-studies", "3"])
    for name in ("realism.json", "realism.md", "studies.csv", "bland_altman.png", "correlation.png"):
        assert (out / name).is_file()
    assert json.loads((out / "realism.json").read_text()) == json.loads(json.dumps(values))
    assert values["studies"] == 3
    for key in ("nac_segment_ape", "nac_pixel_distance", "scatter_fraction", "lv_mass_g"):
        assert np.isfinite(values[key]["mean"]) and values[key]["std"] >= 0
    assert -1 <= values["nac_r_segments"] <= 1 and -1 <= values["nac_r_pixels"] <= 1
    assert 0.15 < values["scatter_fraction"]["mean"] < 0.45
    # the studies whose automatic frame is right (against the phantom's LV) are pooled apart as well
    rows = list(csv.DictReader(open(out / "studies.csv")))
    right = [r for r in rows if r["frame_ok"] == "True"]
    assert all(float(r["frame_axis_error_deg"]) <= 10 and float(r["frame_centre_error_mm"]) <= 10 for r in right)
    assert (values["frame_ok"] or {"studies": 0})["studies"] == len(right)
    # every study's segment scores, from which its APE is computed again
    scores = {(r["id"], r["image"]): np.array([float(r[str(s)]) for s in range(1, 18)])
              for r in csv.DictReader(open(out / "segment_scores.csv"))}
    assert len(scores) == 2 * len(rows)
    for row in rows:
        nac, ctac = scores[row["id"], "nAC"], scores[row["id"], "CTAC"]
        assert float(row["segment_ape"]) == pytest.approx(np.mean(np.abs(nac - ctac) / ctac) * 100, rel=1e-6)
    # where the APE sits: the studies without a defect pooled apart, and each study's nAC mean moved to its CTAC's
    free = [row for row in rows if row["defect"] == "False"]
    if free:
        assert values["without_defect"]["studies"] == len(free)
        assert values["without_defect"]["nac_segment_ape"]["mean"] == pytest.approx(np.mean(
            [float(row["segment_ape"]) for row in free]), rel=1e-6)  # every study has 17 segments
    else:
        assert values["without_defect"] is None
    matched = [np.abs(scores[i, "nAC"] - scores[i, "nAC"].mean() + scores[i, "CTAC"].mean() - scores[i, "CTAC"])
               / scores[i, "CTAC"] * 100 for i in (row["id"] for row in rows)]
    assert values["nac_segment_ape_means_matched"]["mean"] == pytest.approx(np.mean(matched), rel=1e-6)
    assert values["frames_wrong"] == len(rows) - len(right)
    wrong = [r for r in rows if r["frame_ok"] != "True"]
    assert values["frames_wrong_flagged"] == sum(r["frame_uncertain"] == "True" for r in wrong)
    assert values["extracardiac_maps"] == sum(max(float(r["extracardiac_nac"]), float(r["extracardiac_ctac"]))
                                              > EXTRACARDIAC_EXCESS_MAX for r in rows)
    # the segment ranges of the studies without a defect, beside the clinical normals; the mean pattern per sex
    normal = [float(r["segment_range_nac"]) for r in rows if r["defect"] == "False"]
    if normal:
        assert values["normal_segment_range_nac"]["mean"] == pytest.approx(np.mean(normal))
    else:
        assert values["normal_segment_range_nac"] is None
    assert all(0 < float(r["segment_range_ctac"]) < 100 for r in rows)
    # the apex against the mid-ventricular ring, per study from its segment scores, pooled over those without a defect
    for row in rows:
        for image in ("nAC", "CTAC"):
            assert float(row[f"apex_to_mid_{image.lower()}"]) == pytest.approx(
                scores[row["id"], image][16] / scores[row["id"], image][6:12].mean(), rel=1e-6)
    if free:
        assert values["normal_apex_to_mid_ctac"]["mean"] == pytest.approx(np.mean(
            [float(row["apex_to_mid_ctac"]) for row in free]), rel=1e-6)
    else:
        assert values["normal_apex_to_mid_ctac"] is None
    for sex in {r["sex"] for r in rows}:
        assert len(values[f"segment_difference_{sex}"]) == 17
        assert all(abs(v) < 100 for v in values[f"segment_difference_{sex}"])
        transmission = values[f"transmission_{sex}"]
        assert len(transmission) == 17 and max(transmission) <= 100.0 and min(transmission) > 20.0
    assert 0.3 < values["septal_lateral_transmission"]["mean"] < 1.0  # the septum lies deeper than the free wall
    assert "Where attenuation sits" in (out / "realism.md").read_text()
    assert (out / "difference.png").is_file()
    assert "![mean difference](difference.png)" in (out / "realism.md").read_text()
    printed = capsys.readouterr().out
    assert "| segment APE (%) | 7.264 ± 5.481 |" in printed and "scatter fraction" in printed
    assert "Kluge 1996: 35.8 ± 10.8 / 20.9 ± 3.3" in printed
    assert "patients' AC, their apex thinner on CT: 0.89" in printed
    assert f"segment APE {values['nac_segment_ape_means_matched']['mean']:.3f}." in printed
    # the simulator's own CTAC instead of PRAC: another reference, the same nAC
    simulator = main([str(tiny_cohort), "--out", str(tmp_path / "simulator"), "--max-studies", "3", "--ctac",
                      "simulator"])
    assert simulator["lv_counts_nac"] == values["lv_counts_nac"]
    assert simulator["nac_segment_ape"] != values["nac_segment_ape"]

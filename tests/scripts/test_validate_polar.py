"""``scripts/validate_polar.py`` on the tiny cohort: its per-study records (``--json``) are the frames it found,
measured against each study's ``truth.json``, and its summary is theirs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mumap.data.phantom import LV_BASE
from mumap.evaluation.polar import EXTRACARDIAC_EXCESS_MAX, LVFrame
from scripts.validate_polar import along_true_axis, main, phantom_frame


@pytest.mark.slow
def test_the_records_are_the_frames_against_the_truth(tiny_cohort, tmp_path):
    out = tmp_path / "ctac.json"
    summary = main([str(tiny_cohort), "ctac", "--json", str(out)])
    written = json.loads(out.read_text())
    assert written["column"] == "ctac" and written["summary"] == summary
    records = written["studies"]
    assert [r["id"] for r in records] == [f"S{i:04d}" for i in range(summary["studies"])]
    for record in records:
        study = json.loads((tiny_cohort / record["id"] / "truth.json").read_text())
        truth, (long_mm, _) = study["lv"], study["anatomy"]["lv_semi_axes_mm"]
        offset = np.subtract(record["centre_xyz_mm"], truth["centre_xyz_mm"])
        for name, position, true_position in (("apex_along_mm", record["long_mm"], long_mm),
                                              ("base_along_mm", record["base_mm"], LV_BASE * long_mm)):
            point = np.add(record["centre_xyz_mm"], position * np.asarray(record["long_axis"]))
            true_point = np.add(truth["centre_xyz_mm"], true_position * np.asarray(truth["long_axis"]))
            assert record[name] == pytest.approx((point - true_point) @ truth["long_axis"])
        assert 0 <= record["polar_mean_abs_pct"] <= record["polar_max_abs_pct"] < 100
        assert record["centre_mm"] == pytest.approx(np.linalg.norm(offset))
        assert record["along_mm"] == pytest.approx(offset @ truth["long_axis"])
        assert record["axis_deg"] == pytest.approx(np.degrees(np.arccos(np.clip(
            np.dot(record["long_axis"], truth["long_axis"]), -1, 1))), abs=1e-6)
    assert summary["axis_within_10deg"] == pytest.approx(np.mean([r["axis_deg"] <= 10 for r in records]))
    assert summary["wrong_frames"] == sum(r["axis_deg"] > 10 or r["centre_mm"] > 10 for r in records)
    assert summary["polar_mean_abs_max_pct"] == max(r["polar_mean_abs_pct"] for r in records)
    hot = [r["extracardiac_excess"] > EXTRACARDIAC_EXCESS_MAX for r in records]
    assert min(r["extracardiac_excess"] for r in records) >= 0.0 and summary["extracardiac_maps"] == sum(hot)
    assert summary["polar_mean_abs_max_pct_unflagged"] == max(
        (r["polar_mean_abs_pct"] for r, h in zip(records, hot, strict=True) if not (h or r["uncertain"])), default=0.0)


def test_the_phantom_frame_is_the_truth_and_errors_are_measured_along_its_axis():
    study = {"lv": {"centre_xyz_mm": [10.0, 0.0, 0.0], "long_axis": [0.0, 0.0, 1.0], "anterior_axis": [0.0, -1.0, 0.0]},
             "anatomy": {"lv_semi_axes_mm": [60.0, 30.0], "lv_wall_mm": 10.0}}
    truth = phantom_frame(study)
    assert (truth.centre_xyz_mm, truth.long_axis, truth.long_mm, truth.short_mm, truth.wall_mm, truth.base_mm) == (
        (10.0, 0.0, 0.0), (0.0, 0.0, 1.0), 60.0, 30.0, 10.0, LV_BASE * 60.0)
    assert not truth.uncertain
    # a frame 4 mm apical of the truth, 10 mm shorter, its base plane at −30 mm instead of −18: apex −6, base −8
    found = LVFrame((10.0, 0.0, 4.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0), 50.0, 30.0, 10.0, -30.0, 0.8, 0.5)
    assert along_true_axis(found, truth, found.long_mm, truth.long_mm) == pytest.approx(-6.0)
    assert along_true_axis(found, truth, found.base_mm, truth.base_mm) == pytest.approx(-8.0)
    # only the component along the true axis counts: a sideways shift of the found frame changes nothing
    aside = replace(found, centre_xyz_mm=(17.0, 0.0, 4.0))
    assert along_true_axis(aside, truth, aside.long_mm, truth.long_mm) == pytest.approx(-6.0)


def test_a_folder_without_a_cohort_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert f"{tmp_path / 'studies.csv'}: not found" in capsys.readouterr().err


def test_a_column_the_cohort_lacks_is_named(tmp_path, capsys):
    (tmp_path / "studies.csv").write_text("id,nac,ctac,truth\n"
                                          "S0000,S0000/nac.nii.gz,S0000/ctac.nii.gz,S0000/truth.json\n")
    with pytest.raises(SystemExit):
        main([str(tmp_path), "ctac+dlac"])
    assert f"{tmp_path / 'studies.csv'}: no column dlac (it has id, nac, ctac, truth)" in capsys.readouterr().err

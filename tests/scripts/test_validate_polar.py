"""``scripts/validate_polar.py`` on the tiny cohort: its per-study records (``--json``) are the frames it found,
measured against each study's ``truth.json``, and its summary is theirs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scripts.validate_polar import main


@pytest.mark.slow
def test_the_records_are_the_frames_against_the_truth(tiny_cohort, tmp_path):
    out = tmp_path / "ctac.json"
    summary = main([str(tiny_cohort), "ctac", "--json", str(out)])
    written = json.loads(out.read_text())
    assert written["column"] == "ctac" and written["summary"] == summary
    records = written["studies"]
    assert [r["id"] for r in records] == [f"S{i:04d}" for i in range(summary["studies"])]
    for record in records:
        truth = json.loads((tiny_cohort / record["id"] / "truth.json").read_text())["lv"]
        offset = np.subtract(record["centre_xyz_mm"], truth["centre_xyz_mm"])
        assert record["centre_mm"] == pytest.approx(np.linalg.norm(offset))
        assert record["along_mm"] == pytest.approx(offset @ truth["long_axis"])
        assert record["axis_deg"] == pytest.approx(np.degrees(np.arccos(np.clip(
            np.dot(record["long_axis"], truth["long_axis"]), -1, 1))), abs=1e-6)
    assert summary["axis_within_10deg"] == pytest.approx(np.mean([r["axis_deg"] <= 10 for r in records]))
    assert summary["wrong_frames"] == sum(r["axis_deg"] > 10 or r["centre_mm"] > 10 for r in records)


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

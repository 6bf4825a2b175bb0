"""``scripts/footprint_stripes.py`` on the tiny cohort: it reconstructs the study's nAC image again, to the
stored image, and the rays spread across each pixel smooth it along z (on the tiny cohort's 9.6 mm voxels
only a little: the quick cohort's figure is in docs/REALISM.md)."""

from __future__ import annotations

import pytest

from scripts.footprint_stripes import main


def test_the_stripes_figure_reproduces_the_nac_image_and_four_rays_smooth_it(tiny_cohort, tmp_path):
    out = tmp_path / "stripes.png"
    measured = main([str(tiny_cohort / "S0000"), "--out", str(out)])
    assert measured["difference_to_nac"] < 1e-5
    assert measured["stripes_4"] < measured["stripes_1"]
    assert out.stat().st_size > 10_000


def test_a_folder_that_is_not_a_study_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert f"{tmp_path} is not a synthetic study folder: no {tmp_path / 'truth.json'}" in capsys.readouterr().err

"""``scripts/ood_normal.py`` on the tiny cohort, given as its own hard cohort: its hard studies are then its test
split, so against the test split the AUROC is exactly 0.5 (every score tied with itself), and each group's AUROC is
the one :func:`mumap.evaluation.metrics.auroc` gives on the scores the script prints."""

from __future__ import annotations

import pytest

from scripts.ood_normal import main


@pytest.mark.slow
def test_the_test_split_against_itself_is_a_coin_toss(tiny_cohort, capsys):
    result = main([str(tiny_cohort), str(tiny_cohort), "--workers", "1"])
    assert result["test"] == 0.5
    assert set(result) == {"test", "val", "train, each left out", "all"}
    assert all(0.0 <= value <= 1.0 for value in result.values())
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "AUROC, 1 hard studies against test (1): 0.50"
    assert printed[-1].startswith("AUROC, 1 hard studies against all (8): ")


def test_a_folder_without_a_cohort_is_named(tiny_cohort, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path), str(tiny_cohort)])
    assert f"{tmp_path / 'studies.csv'}: not found" in capsys.readouterr().err

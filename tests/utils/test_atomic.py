"""Atomic writes: a failed write leaves the target as it was and no temporary behind."""

from __future__ import annotations

import csv

import pytest

from mumap.utils.atomic import TMP_PREFIX, atomic_path, write_csv_atomic, write_text_atomic


class Boom(RuntimeError):
    pass


def test_a_write_that_raises_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "new" / "metrics.json"
    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_an_existing_target_survives_a_failed_write(tmp_path):
    target = write_text_atomic(tmp_path / "summary.md", "old")
    with pytest.raises(Boom), atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name == TMP_PREFIX + "summary.md"
        tmp.write_text("new, half")
        raise Boom
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_success_replaces_the_target_and_a_killed_write_s_leftover_is_cleared(tmp_path):
    target = tmp_path / "volume.nii.gz"
    target.write_text("old")
    (tmp_path / (TMP_PREFIX + target.name)).write_text("left by a killed process")
    with atomic_path(target) as tmp:
        assert not tmp.exists()
        assert tmp.name.endswith(".nii.gz")  # writers that go by the extension see the target's
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_text_and_csv_round_trip(tmp_path):
    assert write_text_atomic(tmp_path / "a.txt", "μ = 0.153 cm⁻¹\n").read_text(encoding="utf-8") == "μ = 0.153 cm⁻¹\n"
    rows = [{"id": "S1", "split": "train"}, {"id": "S2", "split": "test"}]
    with open(write_csv_atomic(tmp_path / "studies.csv", rows), newline="") as f:
        assert list(csv.DictReader(f)) == rows


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "study"
    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "nac.nii.gz").write_text("written")
        raise Boom
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "nac.nii.gz").write_text("written")
        assert not target.exists()  # nothing under the final name until the block ends
    assert [p.name for p in target.iterdir()] == ["nac.nii.gz"]
    assert [p.name for p in tmp_path.iterdir()] == ["study"]


def test_an_existing_folder_is_replaced_only_when_asked(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.png").write_text("old")
    with pytest.raises(FileExistsError, match="out: already exists"), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.png").write_text("new")
    assert [p.name for p in target.iterdir()] == ["old.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with atomic_path(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "new.png").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.png"]


def test_a_folder_temporary_can_be_named_for_its_caller_s_clean_up(tmp_path):
    with atomic_path(tmp_path / "S0001", tmp_name="S0001.tmp") as tmp:
        assert tmp == tmp_path / "S0001.tmp"
        tmp.mkdir()
    assert (tmp_path / "S0001").is_dir() and not tmp.exists()

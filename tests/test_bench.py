"""The benchmark runs end to end on a tiny grid and reports what the README promises."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("pytomography")
from mumap.spect import bench


def test_bench_prints_the_table_and_the_summary_line(capsys):
    bench.main(["--sizes", "24x24x8", "--repeats", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    rows = [line for line in out if line.startswith("| 24×24×8")]
    assert len(rows) == 3
    match = re.fullmatch(r"speedup_vs_pytomography=(\d+\.\d+) rel_diff=(\d+\.\d+)", out[-1])
    assert match, out[-1]
    assert float(match.group(1)) > 0 and float(match.group(2)) < 0.05


def test_bench_rejects_a_malformed_size():
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "128x128"])

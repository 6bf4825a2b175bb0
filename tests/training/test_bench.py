"""The training benchmark runs end to end on tiny nets and prints the table and the summary line."""

from __future__ import annotations

import re

import pytest

from mumap.training import bench


def test_bench_prints_the_table_and_the_summary_line(tiny_cohort, capsys):
    summary = bench.main(["--patches", "16", "--batch", "1", "--steps", "2", "--epochs", "2", "--generator", "4", "8",
                          "--discriminator", "4", "--fully-connected", "8", "--root", str(tiny_cohort)])
    out = capsys.readouterr().out.strip().splitlines()
    assert sum(line.startswith("| 16³ |") for line in out) == 1
    match = re.fullmatch(r"lightning_overhead=(\d+\.\d+) loader_margin=(\d+\.\d+)", out[-1])
    assert match, out[-1]
    assert 0.2 < summary["lightning_overhead"] < 20 and summary["loader_margin"] > 0


def test_bench_needs_a_warm_up_epoch(tiny_cohort):
    with pytest.raises(SystemExit):
        bench.main(["--epochs", "1", "--root", str(tiny_cohort)])

"""The evaluation benchmark runs end to end on a small grid and prints its summary line."""

from __future__ import annotations

import re

from mumap.evaluation import bench


def test_evaluation_bench_prints_the_steps_and_the_summary_line(capsys):
    summary = bench.main(["--size", "48x48x24", "--repeats", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    steps = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out if line.startswith("| ")
             and not line.startswith("| step")}
    assert {"PRAC CTAC", "PRAC DLAC", "LV frame", "4 polar maps"} <= steps.keys()
    match = re.fullmatch(r"seconds_per_study=(\d+\.\d) polar_seconds=(\d+\.\d)", out[-1])
    assert match, out[-1]
    expected = steps["total (with uniform AC)"] - steps["PRAC uniform AC"]
    assert abs(float(match.group(1)) - expected) < 0.1 + 1e-6 * expected
    assert abs(summary["polar_seconds"] - (steps["LV frame"] + steps["4 polar maps"])) < 0.02

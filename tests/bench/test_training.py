"""The training benchmark on tiny nets: both sides do the same work, and the table and summary line agree."""

from __future__ import annotations

import re

import pytest

from mumap.bench import training as bench

TINY = ["--patches", "16", "--batch", "1", "--steps", "2", "--epochs", "2", "--generator", "2", "4",
        "--discriminator", "1", "4", "--fully-connected", "8"]

pytestmark = pytest.mark.slow  # trains on the tiny cohort


def test_lightning_and_the_plain_loop_train_alike_and_the_summary_is_printed(tiny_cohort, capsys):
    summary = bench.main([*TINY, "--root", str(tiny_cohort)])
    out = capsys.readouterr().out.strip().splitlines()
    [row] = [line.split("|")[1:-1] for line in out if line.startswith("| 16³ |")]
    lightning_s, plain_s, overhead, samples_per_s, loader_rate, margin = (float(v) for v in row[1:])
    # one epoch after the warm-up, 2 steps × batch 1; the table's seconds have 2 decimals (±0.005 s)
    assert lightning_s == pytest.approx(overhead * plain_s, abs=0.006 * (1 + overhead) + 0.001 * plain_s)
    assert samples_per_s * lightning_s == pytest.approx(2, abs=0.006 * (samples_per_s + lightning_s))
    assert margin == pytest.approx(loader_rate / samples_per_s, rel=0.05, abs=1)
    match = re.fullmatch(r"lightning_overhead=(\d+\.\d+) loader_margin=(\d+\.\d+) loss_difference=(\S+)", out[-1])
    assert match, out[-1]
    assert float(match.group(1)) == pytest.approx(overhead, abs=1e-3) == pytest.approx(summary["lightning_overhead"],
                                                                                        abs=1e-3)
    # no bounds on the times themselves: on a busy machine one tiny epoch can take 10× another (overhead 0.09 seen)
    assert summary["lightning_overhead"] > 0 and summary["loader_margin"] > 0
    # the same networks, batches, optimisers and dropout seeds: the same losses through Lightning and the plain loop
    assert float(match.group(3)) == pytest.approx(summary["loss_difference"], rel=0.1, abs=1e-12)
    assert summary["loss_difference"] < 1e-5


def test_bench_needs_a_warm_up_epoch(tiny_cohort):
    with pytest.raises(SystemExit):
        bench.main(["--epochs", "1", "--root", str(tiny_cohort)])

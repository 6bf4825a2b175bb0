"""map_jobs: results in the order given, one torch thread per job, the first failure raised, the same in and out
of worker processes."""

from __future__ import annotations

import operator

import pytest
import torch

from mumap.utils.parallel import map_jobs

WORKERS = [1, pytest.param(2, marks=pytest.mark.slow)]  # spawned workers import torch: seconds


@pytest.mark.parametrize("workers", WORKERS)
def test_results_come_in_the_order_given_and_every_job_is_counted(workers):
    done = []
    jobs = [(i, 3) for i in range(7)]
    assert map_jobs(operator.mul, jobs, workers, lambda: done.append(1)) == [i * 3 for i in range(7)]
    assert len(done) == 7


@pytest.mark.parametrize("workers", WORKERS)
def test_each_job_runs_on_one_torch_thread_and_the_caller_keeps_its_threads(workers):
    threads = torch.get_num_threads()
    assert map_jobs(torch.get_num_threads, [()] * 3, workers) == [1, 1, 1]
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("workers", WORKERS)
def test_the_first_failure_is_raised(workers):
    with pytest.raises(ValueError, match="invalid literal for int"):
        map_jobs(int, [("1",), ("two",), ("3",)], workers)


def test_no_jobs_no_processes():
    assert map_jobs(operator.mul, [], 4) == []

"""Independent per-study jobs on worker processes: one torch thread each, results in the order given.

The cohort synthesis, the evaluation report, the realism survey and the OOD reference all run one job per study,
each on one core (the LV fits and the simulator are thousands of small steps that threads only slow down). Worker
processes are *spawned*, not forked: the caller may be a Lightning trainer or hold rich's live display, and a
forked child inherits their threads' locks as they were at the fork.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def _one_torch_thread() -> None:
    torch.set_num_threads(1)


def map_jobs(function: Callable[..., T], jobs: Sequence[tuple[Any, ...]], workers: int,
             on_done: Callable[[], None] | None = None) -> list[T]:
    """``[function(*job) for job in jobs]`` on ``min(workers, len(jobs))`` processes (in this one when that is 1),
    each with one torch thread; ``on_done()`` after each job (a progress bar's advance). The first job to fail
    raises its exception here, and the jobs not yet started are cancelled. ``function`` and the jobs' arguments
    must be picklable when ``workers`` > 1, and the results too."""
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        results = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for job in jobs:
                results.append(function(*job))
                if on_done:
                    on_done()
        finally:
            torch.set_num_threads(threads)
        return results
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_one_torch_thread) as pool:
        futures = [pool.submit(function, *job) for job in jobs]
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
                    if on_done:
                        on_done()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return [future.result() for future in futures]

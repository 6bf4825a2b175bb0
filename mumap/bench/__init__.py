"""Benchmarks (``make bench`` runs them all, in this order), each also ``python -m mumap.bench.<name>``:

- :mod:`mumap.bench.spect` — mumap's projector and PRAC vs PyTomography's: speed, memory, relative difference.
- :mod:`mumap.bench.training` — the cGAN step through Lightning vs a plain PyTorch loop, and the data pipeline.
- :mod:`mumap.bench.evaluation` — evaluation time per study: PRAC with two μ-maps, the LV frame, four polar maps.
- :mod:`mumap.bench.search` — search throughput: trials/hour with 1 and 2 local workers.

They sit in the top layer because they use every layer below (the phantom, the networks, the search).
Results and the commands behind them: docs/BENCHMARKS.md.
"""

"""Benchmark: the cGAN training step through Lightning vs a plain PyTorch loop, and the data pipeline.

    python -m mumap.bench.training [--patches 32 64] [--batch 2] [--steps 2] [--epochs 3]

For each cubic patch size, the paper's networks (U-Net 64→512, classifier 64/128/256 + FC 512/128)
are trained on the same fixed batches (one DataLoader) twice: by ``CGANModule`` under
``lightning.Trainer`` and by a plain loop that calls the same :func:`cgan_step` with plain Adam
optimisers. The two alternate epoch by epoch in A B B A order (``--epochs`` each, ``--steps`` batches per
epoch); the first pair is warm-up, the overhead is the median of the other pairs' time ratios. Both sides of
an epoch start from the same torch seed (dropout), so they do the same work: their mean generator losses
per epoch agree (``loss_difference``, relative). The data pipeline is
``MuMapDataModule.train_dataloader()`` on the quick cohort (built if missing) at the same patch and
batch size. Prints a Markdown table; the last line is
``lightning_overhead=<Lightning s / plain s, worst size> loader_margin=<loader patches/s ÷ training
samples/s, worst size> loss_difference=<largest |Lightning − plain| / |plain| of an epoch's loss>``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from mumap.data.datamodule import MuMapDataModule
from mumap.models.discriminators import ClassifierDiscriminator
from mumap.models.generator import UNet3D
from mumap.training.losses import L1Loss, LeastSquaresGANLoss
from mumap.training.modules import CGANModule, cgan_step


class EpochTimer(L.Callback):
    """Wall time of each training epoch (s)."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds.append(time.perf_counter() - self._start)


@dataclass
class Side:
    """One side of the comparison, per epoch: wall time (s) and mean generator loss λ_adv·L_adv + λ_dist·L_dist."""

    seconds: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def _networks(patch: int, generator: Sequence[int], discriminator: Sequence[int], fully_connected: Sequence[int],
              seed: int) -> tuple[UNet3D, ClassifierDiscriminator]:
    """The networks sized (depth, first-level filters) as the configs size them."""
    torch.manual_seed(seed)
    (g_depth, g_filters), (d_depth, d_filters) = generator, discriminator
    return (UNet3D(1, 1, g_depth, g_filters),
            ClassifierDiscriminator([patch] * 3, 1, d_depth, d_filters, fully_connected=fully_connected))


def interleaved_epochs(loader: DataLoader, patch: int, epochs: int, make_nets: Callable[[], tuple]
                       ) -> tuple[Side, Side]:
    """(Lightning, plain) per epoch, alternating one epoch of ``CGANModule`` under a Trainer (no validation,
    no logger, no checkpoints) and one epoch of the plain loop, in A B B A order, so that both see the
    machine in the same state; each side has its own copy of the same initial networks and fresh
    Adams every epoch, and both sides of epoch k start from torch seed k."""
    distance, adversarial = L1Loss(), LeastSquaresGANLoss()
    module = CGANModule(*make_nets(), distance, adversarial, patch_size=[patch] * 3)
    generator, discriminator = make_nets()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    generator, discriminator = generator.to(device).train(), discriminator.to(device).train()
    lightning, plain = Side(), Side()

    def lightning_epoch() -> None:
        timer = EpochTimer()
        trainer = L.Trainer(max_epochs=1, accelerator="auto", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                            num_sanity_val_steps=0, callbacks=[timer])
        trainer.fit(module, train_dataloaders=loader)
        lightning.seconds.extend(timer.seconds)
        lightning.losses.append(float(trainer.callback_metrics["train/g"]))

    def plain_epoch() -> None:
        opt_g = torch.optim.Adam(generator.parameters(), 1e-3)
        opt_d = torch.optim.Adam(discriminator.parameters(), 1e-3)
        start = time.perf_counter()
        losses = [cgan_step(generator, discriminator, opt_g, opt_d, x.to(device), y.to(device), distance, 1.0,
                            100.0, adversarial)["g"] for x, y in loader]
        if device.type == "cuda":
            torch.cuda.synchronize()
        plain.seconds.append(time.perf_counter() - start)
        plain.losses.append(float(torch.stack(losses).mean()))

    for epoch in range(epochs):  # A B B A …: neither side always runs first
        for run in (lightning_epoch, plain_epoch) if epoch % 2 == 0 else (plain_epoch, lightning_epoch):
            torch.manual_seed(epoch)  # the same dropout on both sides
            run()
    return lightning, plain


def loader_patches_per_second(datamodule: MuMapDataModule, batches: int) -> float:
    """Patches/s delivered by the training DataLoader (first batch excluded: worker start-up)."""
    iterator = iter(datamodule.train_dataloader())
    next(iterator)
    start, count = time.perf_counter(), 0
    for _, (x, _) in zip(range(batches), iterator, strict=False):
        count += len(x)
    return count / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m mumap.bench.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, nargs="+", default=[32, 64], help="cubic patch sizes (voxels)")
    parser.add_argument("--batch", type=int, default=2, help="patches per batch (the same for both sides)")
    parser.add_argument("--steps", type=int, default=2, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per side; the first is warm-up")
    parser.add_argument("--generator", type=int, nargs=2, default=[4, 64], metavar=("DEPTH", "FILTERS"),
                        help="U-Net levels and first-level filters (the paper's unet4: 4 64)")
    parser.add_argument("--discriminator", type=int, nargs=2, default=[3, 64], metavar=("DEPTH", "FILTERS"),
                        help="classifier levels and first-level filters (the paper's: 3 64)")
    parser.add_argument("--fully-connected", type=int, nargs="+", default=[512, 128])
    parser.add_argument("--root", type=Path, default=Path("data/quick"), help="cohort for the data pipeline")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers of the data pipeline")
    args = parser.parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banners between table rows
    warnings.filterwarnings("ignore", message=".*validation_step.*val_dataloader.*")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is warm-up)")

    datamodule = MuMapDataModule(args.root, preset="quick", batch_size=args.batch, num_workers=args.num_workers)
    datamodule.prepare_data()  # the quick cohort, built if missing
    datamodule.setup("fit")
    print(f"threads={torch.get_num_threads()} batch={args.batch} steps={args.steps} epochs={args.epochs} "
          f"generator={args.generator} discriminator={args.discriminator}+FC{args.fully_connected}")
    print("| patch | Lightning s/epoch | plain s/epoch | overhead | train samples/s | loader patches/s | margin |")
    print("|---|---|---|---|---|---|---|")
    overheads, margins, loss_differences = [], [], []
    for patch in args.patches:
        generator = torch.Generator().manual_seed(patch)
        shape = (args.steps * args.batch, 1, patch, patch, patch)
        data = TensorDataset(torch.rand(shape, generator=generator), 0.15 * torch.rand(shape, generator=generator))
        loader = DataLoader(data, batch_size=args.batch)

        def make_nets(patch=patch):
            return _networks(patch, args.generator, args.discriminator, args.fully_connected, seed=0)

        lightning_side, plain_side = interleaved_epochs(loader, patch, args.epochs, make_nets)
        lightning_s, plain_s = lightning_side.seconds, plain_side.seconds
        lightning = statistics.median(lightning_s[1:])
        ratio = statistics.median(a / b for a, b in zip(lightning_s[1:], plain_s[1:], strict=True))
        plain = statistics.median(plain_s[1:])
        loss_differences += [abs(a - b) / abs(b) for a, b in zip(lightning_side.losses, plain_side.losses, strict=True)]
        datamodule.patch_size, datamodule.patches_per_image = (patch,) * 3, 50
        loader_rate = loader_patches_per_second(datamodule, batches=50)
        samples_per_s = args.steps * args.batch / lightning
        overheads.append(ratio)
        margins.append(loader_rate / samples_per_s)
        print(f"| {patch}³ | {lightning:.2f} | {plain:.2f} | {overheads[-1]:.3f} | {samples_per_s:.2f} | "
              f"{loader_rate:.0f} | {margins[-1]:.0f} |")
    summary = {"lightning_overhead": max(overheads), "loader_margin": min(margins),
               "loss_difference": max(loss_differences)}
    print(f"lightning_overhead={summary['lightning_overhead']:.3f} loader_margin={summary['loader_margin']:.1f} "
          f"loss_difference={summary['loss_difference']:.1e}")
    return summary


if __name__ == "__main__":
    main()

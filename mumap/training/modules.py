"""LightningModules: the cGAN of the paper and the distance-only baseline.

Both validate on whole volumes with MONAI's sliding-window inference and log the validation L1
(``val/l1``, the checkpoint criterion, as in the paper) and NMAE (``val/nmae``), computed with the
bed removed from the target. The cGAN optimises manually: per batch one discriminator step on
(real, generated) pairs, then one generator step on λ_adv·L_adv + λ_dist·L_dist (both Adam).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from monai.inferers import sliding_window_inference
from torch import Tensor, nn

from mumap.evaluation.metrics import nmae
from mumap.training.losses import adversarial_loss, discriminator_loss, distance_loss


class DistanceModule(L.LightningModule):
    """Generator trained on the distance loss alone."""

    def __init__(self, generator: nn.Module, loss: str = "l1", lr: float = 1e-3,
                 patch_size: Sequence[int] = (32, 32, 32), normalization: str = "mean",
                 inputs: Sequence[str] = ("nac",)):
        super().__init__()
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.generator = generator
        self.distance = distance_loss(loss)

    def forward(self, x: Tensor) -> Tensor:
        return self.generator(x)

    def predict_volume(self, x: Tensor) -> Tensor:
        """Whole-volume prediction ``[B, C, z, y, x] → [B, 1, z, y, x]`` by overlapping patches."""
        return sliding_window_inference(x, tuple(self.hparams.patch_size), sw_batch_size=4, predictor=self.generator,
                                        overlap=0.25, mode="gaussian")

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = self.distance(self.generator(x), y)
        self.log("train/dist", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch, stage: str) -> None:
        x, y, _, _ = batch
        prediction = self.predict_volume(x)
        self.log(f"{stage}/l1", (prediction - y).abs().mean(), prog_bar=True, batch_size=1)
        self.log(f"{stage}/nmae", nmae(prediction, y), prog_bar=True, batch_size=1)

    def configure_optimizers(self):
        return torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr)


class CGANModule(DistanceModule):
    """The paper's conditional GAN: generator + conditional discriminator, LSGAN losses."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: str = "l1", lr: float = 1e-3,
                 lambda_adv: float = 1.0, lambda_dist: float = 100.0, patch_size: Sequence[int] = (32, 32, 32),
                 normalization: str = "mean", inputs: Sequence[str] = ("nac",)):
        super().__init__(generator, loss, lr, patch_size, normalization, inputs)
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.discriminator = discriminator
        self.automatic_optimization = False

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        opt_g, opt_d = self.optimizers()
        fake = self.generator(x)

        d_loss = discriminator_loss(self.discriminator(x, y), self.discriminator(x, fake.detach()))
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()

        adv = adversarial_loss(self.discriminator(x, fake))
        dist = self.distance(fake, y)
        g_loss = self.hparams.lambda_adv * adv + self.hparams.lambda_dist * dist
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.log_dict({"train/d": d_loss, "train/adv": adv, "train/dist": dist, "train/g": g_loss},
                      prog_bar=True, on_step=False, on_epoch=True, batch_size=len(x))

    def configure_optimizers(self):
        return (torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr),
                torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr))

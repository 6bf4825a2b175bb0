"""LightningModules: the cGAN of the paper and the distance-only baseline.

Both validate on whole volumes with MONAI's sliding-window inference. As in the paper the bed is
reinserted into the prediction before evaluation, so every metric compares the full μ-map with the
full true one: ``val/l1`` (the checkpoint criterion, as in the paper), ``val/nmae``, ``val/nmae_uniform``
(the uniform body-contour baseline of the same studies, :mod:`mumap.evaluation.baselines`) and the
structure ratios ``val/contrast`` and ``val/roughness`` of :mod:`mumap.search.convergence`; the same
under ``test/``. The cGAN optimises manually: per batch one discriminator step
on (real, generated) pairs, then one generator step on λ_adv·L_adv + λ_dist·L_dist (both Adam).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from monai.inferers import sliding_window_inference
from torch import Tensor, nn
from torch.optim import Optimizer

from mumap.data.normalization import normalize_channels
from mumap.evaluation.metrics import nmae
from mumap.search.convergence import contrast_ratio, roughness_ratio
from mumap.training.losses import adversarial_loss, discriminator_loss, distance_loss


def cgan_step(generator: nn.Module, discriminator: nn.Module, opt_g: Optimizer, opt_d: Optimizer, x: Tensor,
              y: Tensor, distance: Callable[[Tensor, Tensor], Tensor], lambda_adv: float, lambda_dist: float,
              backward: Callable[[Tensor], None] = Tensor.backward) -> dict[str, Tensor]:
    """One cGAN update on a batch ``x [B, C, *patch]``, ``y [B, 1, *patch]``: the discriminator on
    (real, generated) pairs, then the generator on λ_adv·L_adv + λ_dist·L_dist. Returns the losses."""
    fake = generator(x)
    d_loss = discriminator_loss(discriminator(x, y), discriminator(x, fake.detach()))
    opt_d.zero_grad()
    backward(d_loss)
    opt_d.step()

    adv = adversarial_loss(discriminator(x, fake))
    dist = distance(fake, y)
    g_loss = lambda_adv * adv + lambda_dist * dist
    opt_g.zero_grad()
    backward(g_loss)
    opt_g.step()
    return {"d": d_loss.detach(), "adv": adv.detach(), "dist": dist.detach(), "g": g_loss.detach()}


class DistanceModule(L.LightningModule):
    """Generator trained on the distance loss alone.

    The hyper-parameters saved in every checkpoint (``normalization``, ``inputs``, ``patch_size``)
    are what inference needs to treat a new image exactly as the training images were treated.
    """

    def __init__(self, generator: nn.Module, loss: str = "l1", lr: float = 1e-3, lr_schedule: str = "constant",
                 patch_size: Sequence[int] = (32, 32, 32), normalization: str = "mean",
                 inputs: Sequence[str] = ("nac",)):
        super().__init__()
        if lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be constant or cosine, got {lr_schedule!r}")
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.generator = generator
        self.distance = distance_loss(loss)

    def forward(self, x: Tensor) -> Tensor:
        return self.generator(x)

    def predict_volume(self, x: Tensor) -> Tensor:
        """Whole-volume prediction ``[B, C, z, y, x] → [B, 1, z, y, x]`` (μ, cm⁻¹) from normalised
        inputs, by Gaussian-weighted overlapping patches (MONAI zero-pads volumes smaller than a patch)."""
        return sliding_window_inference(x, tuple(self.hparams.patch_size), sw_batch_size=4, predictor=self.generator,
                                        overlap=0.25, mode="gaussian").float()

    @torch.no_grad()
    def predict_mu_map(self, image: Tensor) -> Tensor:
        """μ-map ``[z, y, x]`` (cm⁻¹, no bed) of one raw image ``[C, z, y, x]`` (counts; channels as
        ``hparams.inputs``), normalised with the kind this model was trained with."""
        if image.shape[0] != len(self.hparams.inputs):
            raise ValueError(f"this model takes {len(self.hparams.inputs)} channels {list(self.hparams.inputs)}, "
                             f"got {image.shape[0]}")
        x = normalize_channels(image.float(), self.hparams.normalization)[None].to(self.device)
        return self.predict_volume(x)[0, 0]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = self.distance(self.generator(x), y)
        self.log("train/dist", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def validation_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "test")

    def _evaluate(self, batch, stage: str) -> dict[str, Tensor]:
        """Metrics of one whole study (batch of 1) with the bed reinserted; returns the images."""
        x, target, bed, uniform, _ = batch
        with_bed = bed > 0
        predicted = self.predict_volume(x)
        prediction = torch.where(with_bed, bed, predicted)
        truth = target + bed
        metrics = {"l1": (prediction - truth).abs().mean(), "nmae": nmae(prediction, truth),
                   "nmae_uniform": nmae(torch.where(with_bed, bed, uniform), truth),
                   "contrast": contrast_ratio(predicted, target), "roughness": roughness_ratio(predicted, target)}
        self.log_dict({f"{stage}/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=1, sync_dist=True)
        return {"input": x[:, :1], "prediction": prediction, "target": truth}

    def _optimizers_and_schedules(self, *modules: nn.Module):
        """Adam (lr) per module; ``cosine`` anneals each lr to 0 over ``max_epochs`` (stepped per epoch),
        ``constant`` keeps it, as in the paper."""
        optimizers = [torch.optim.Adam(m.parameters(), lr=self.hparams.lr) for m in modules]
        if self.hparams.lr_schedule == "constant":
            return optimizers, []
        epochs = max(self.trainer.max_epochs, 1)
        return optimizers, [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs) for o in optimizers]

    def configure_optimizers(self):
        return self._optimizers_and_schedules(self.generator)


class CGANModule(DistanceModule):
    """The paper's conditional GAN: generator + conditional discriminator, LSGAN losses."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: str = "l1", lr: float = 1e-3,
                 lr_schedule: str = "constant", lambda_adv: float = 1.0, lambda_dist: float = 100.0,
                 patch_size: Sequence[int] = (32, 32, 32), normalization: str = "mean",
                 inputs: Sequence[str] = ("nac",)):
        super().__init__(generator, loss, lr, lr_schedule, patch_size, normalization, inputs)
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.discriminator = discriminator
        self.automatic_optimization = False

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        opt_g, opt_d = self.optimizers()
        losses = cgan_step(self.generator, self.discriminator, opt_g, opt_d, x, y, self.distance,
                           self.hparams.lambda_adv, self.hparams.lambda_dist, self.manual_backward)
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True, on_step=False, on_epoch=True,
                      batch_size=len(x))

    def on_train_epoch_end(self) -> None:
        schedules = self.lr_schedulers() or []  # manual optimisation steps its own schedules
        for schedule in schedules if isinstance(schedules, list) else [schedules]:
            schedule.step()

    def configure_optimizers(self):
        return self._optimizers_and_schedules(self.generator, self.discriminator)

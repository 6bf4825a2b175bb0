"""LightningModules: the cGAN of the paper and the distance-only baseline, on a common base.

Every component is passed in built (``conf/training``: ``generator: ${model}``, ``discriminator``,
``distance``, ``adversarial`` — each from its ``_target_``), so any ``nn.Module`` with the same call
signature plugs in. Both modules validate on whole volumes with MONAI's sliding-window inference. As in
the paper the bed is reinserted into the prediction before evaluation, so every metric compares the full
μ-map with the full true one: ``val/l1`` (the checkpoint criterion, as in the paper), ``val/nmae``,
``val/nmae_uniform`` (the uniform body-contour baseline of the same studies, :mod:`mumap.data.body`) and
the structure ratios ``val/contrast`` and ``val/roughness`` of :mod:`mumap.training.metrics`; the same
under ``test/``. The cGAN optimises manually: per batch one discriminator step on (real, generated)
pairs, then one generator step on λ_adv·L_adv + λ_dist·L_dist (both Adam).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from mumap.data.bed import reinsert_bed
from mumap.models.prediction import predict_mu_map, predict_volume
from mumap.training.losses import LeastSquaresGANLoss
from mumap.training.metrics import contrast_ratio, nmae, roughness_ratio

LR_SCHEDULES = ("constant", "cosine")


def cgan_step(generator: nn.Module, discriminator: nn.Module, opt_g: Optimizer, opt_d: Optimizer, x: Tensor,
              y: Tensor, distance: Callable[[Tensor, Tensor], Tensor], lambda_adv: float, lambda_dist: float,
              adversarial: LeastSquaresGANLoss, backward: Callable[[Tensor], None] = Tensor.backward,
              ) -> dict[str, Tensor]:
    """One cGAN update on a batch ``x [B, C, *patch]``, ``y [B, 1, *patch]``: the discriminator on
    (real, generated) pairs, then the generator on λ_adv·L_adv + λ_dist·L_dist. Returns the losses."""
    fake = generator(x)
    d_loss = adversarial.discriminator_loss(discriminator(x, y), discriminator(x, fake.detach()))
    opt_d.zero_grad()
    backward(d_loss)
    opt_d.step()

    adv = adversarial.generator_loss(discriminator(x, fake))
    dist = distance(fake, y)
    g_loss = lambda_adv * adv + lambda_dist * dist
    opt_g.zero_grad()
    backward(g_loss)
    opt_g.step()
    return {"d": d_loss.detach(), "adv": adv.detach(), "dist": dist.detach(), "g": g_loss.detach()}


def _plain(patch_size: Sequence[int], inputs: Sequence[str]) -> tuple[list[int], list[str]]:
    """Plain lists (a config passes ListConfigs), so that checkpoints hold plain data only: Lightning saves
    the init arguments of every ``__init__`` in the chain, and loads checkpoints with ``weights_only``."""
    return [int(n) for n in patch_size], [str(kind) for kind in inputs]


class MuMapModule(L.LightningModule):
    """What every mumap model shares: a generator ``[B, C, z, y, x] → [B, 1, z, y, x]`` (μ in cm⁻¹), a
    distance loss, whole-volume validation and test, Adam with a constant or cosine learning rate.

    The hyper-parameters saved in every checkpoint (``inputs``, ``normalization``, ``patch_size``) are what
    inference needs to treat a new image exactly as the training images were treated.
    """

    def __init__(self, generator: nn.Module, distance: nn.Module, lr: float = 1e-3, lr_schedule: str = "constant",
                 patch_size: Sequence[int] = (32, 32, 32), normalization: str = "mean",
                 inputs: Sequence[str] = ("nac",), channels_last: bool = False):
        super().__init__()
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {lr_schedule!r}")
        patch_size, inputs = _plain(patch_size, inputs)
        self.save_hyperparameters(ignore=["generator", "discriminator", "distance", "adversarial"])
        self.generator = generator
        self.distance = distance

    def _set_memory_format(self) -> None:
        """NDHWC memory for every network if ``channels_last`` (call once all networks are attributes)."""
        if self.hparams.channels_last:
            self.to(memory_format=torch.channels_last_3d)

    def forward(self, x: Tensor) -> Tensor:
        return self.generator(x)

    def predict_mu_map(self, image: Tensor) -> Tensor:
        """:func:`predict_mu_map` with this model's generator, inputs, normalisation and patch size."""
        return predict_mu_map(self.generator, image, self.hparams.inputs, self.hparams.normalization,
                              self.hparams.patch_size)

    def validation_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "test")

    def _evaluate(self, batch, stage: str) -> dict[str, Tensor]:
        """Metrics of one whole study (batch of 1) with the bed reinserted; returns the images."""
        x, target, bed, uniform, _ = batch
        predicted = predict_volume(self.generator, x, self.hparams.patch_size)
        prediction = reinsert_bed(predicted, bed)
        truth = target + bed
        metrics = {"l1": (prediction - truth).abs().mean(), "nmae": nmae(prediction, truth),
                   "nmae_uniform": nmae(reinsert_bed(uniform, bed), truth),
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


class DistanceModule(MuMapModule):
    """The generator trained on the distance loss alone."""

    def __init__(self, generator: nn.Module, distance: nn.Module, lr: float = 1e-3, lr_schedule: str = "constant",
                 patch_size: Sequence[int] = (32, 32, 32), normalization: str = "mean",
                 inputs: Sequence[str] = ("nac",), channels_last: bool = False):
        patch_size, inputs = _plain(patch_size, inputs)
        super().__init__(generator, distance, lr, lr_schedule, patch_size, normalization, inputs, channels_last)
        self._set_memory_format()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = self.distance(self.generator(x), y)
        self.log("train/dist", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def configure_optimizers(self):
        return self._optimizers_and_schedules(self.generator)


class CGANModule(MuMapModule):
    """The paper's conditional GAN: generator + conditional discriminator ``(x, μ) → scores``, trained with
    the ``adversarial`` loss (LSGAN) weighted ``lambda_adv`` and the distance loss weighted ``lambda_dist``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, distance: nn.Module,
                 adversarial: LeastSquaresGANLoss, lr: float = 1e-3, lr_schedule: str = "constant",
                 lambda_adv: float = 1.0, lambda_dist: float = 100.0, patch_size: Sequence[int] = (32, 32, 32),
                 normalization: str = "mean", inputs: Sequence[str] = ("nac",), channels_last: bool = False):
        patch_size, inputs = _plain(patch_size, inputs)
        super().__init__(generator, distance, lr, lr_schedule, patch_size, normalization, inputs, channels_last)
        self.save_hyperparameters(ignore=["generator", "discriminator", "distance", "adversarial"])
        self.discriminator = discriminator
        self.adversarial = adversarial
        self.automatic_optimization = False
        self._set_memory_format()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        opt_g, opt_d = self.optimizers()
        losses = cgan_step(self.generator, self.discriminator, opt_g, opt_d, x, y, self.distance,
                           self.hparams.lambda_adv, self.hparams.lambda_dist, self.adversarial, self.manual_backward)
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True, on_step=False, on_epoch=True,
                      batch_size=len(x))

    def on_train_epoch_end(self) -> None:
        schedules = self.lr_schedulers() or []  # manual optimisation steps its own schedules
        for schedule in schedules if isinstance(schedules, list) else [schedules]:
            schedule.step()

    def configure_optimizers(self):
        return self._optimizers_and_schedules(self.generator, self.discriminator)

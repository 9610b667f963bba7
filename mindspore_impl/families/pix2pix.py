"""pix2pix (junyanz `models/pix2pix_model.py`) on the shared trainer: grey page A → colour page B.

Per step, as `optimize_parameters`: the D update first, on cat(A, G(A)) (G(A) detached) and cat(A, B),
loss 0.5·(GAN(fake, 0) + GAN(real, 1)); then the G update with the updated D: GAN(D(cat(A, G(A))), 1) +
lambda_l1·L1(G(A), B). Defaults are pix2pix's: vanilla GAN (BCE on logits), lambda_L1 100, no image pool,
Adam 2e-4 (0.5, 0.999) for both, junyanz's linear lr policy.

The reference computes G(A) once per step and both updates use it; here each update runs its own forward pass,
so the G update replays the D update's dropout masks (`replay_dropout_of`) and the G's BatchNorm running
statistics are restored after the G update (`BatchNormStats`): both updates see the same G(A), and the running
statistics move once per step, as in the reference.
"""
from __future__ import annotations

from dataclasses import dataclass

from mindspore import ops

from mindspore_impl.config import build_dataclass, section
from mindspore_impl.families.base import NETWORK, ExportNetwork, Family
from mindspore_impl.families.translation import (GAN_MODES, LinearDecayOptim, TranslationData, adam, build_data,
                                                 build_discriminator, concat, gan_loss, global_batch,
                                                 translation_grid)
from mindspore_impl.losses import gan
from mindspore_impl.models.translation_blocks import BatchNormStats
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.trainer import AfterStep, Phase, Update


@dataclass
class Pix2PixLoss:
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0

    def __post_init__(self):
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}, got '{self.gan_mode}'")


@FAMILIES.register("pix2pix")
class Pix2PixFamily(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "loss": Pix2PixLoss, "optim": LinearDecayOptim,
                "data": TranslationData}
    # the U-Net is a generic image-to-image network; trained on grey → colour pages it colourises
    exports = {"G": ExportNetwork("generator", task="colorize")}

    def __init__(self, cfg: dict, ctx):
        self.loss_cfg = build_dataclass(Pix2PixLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(LinearDecayOptim, section(cfg, "optim"), "optim")
        data_cfg = build_dataclass(TranslationData, section(cfg, "data"), "data")
        seed = int(section(cfg, "train").get("seed", 0))
        self.generator = build_network(cfg, "generator")
        spec = self.generator.interface()
        a_channels, b_channels = spec.inputs[0].channels, spec.outputs[0].channels
        self.discriminator = build_discriminator(cfg, a_channels + b_channels)  # conditional: sees cat(A, B)
        self.data = build_data(data_cfg, ctx, seed, a_channels, b_channels, spec.size_multiple,
                               ("paired", "aligned"))
        self._samples = self.data.samples(data_cfg.sample_count)
        self.criterion = gan_loss(self.loss_cfg.gan_mode)
        self.bn_stats = BatchNormStats(self.generator)
        o = self.optim_cfg
        steps = self.data.steps_per_epoch(global_batch(cfg, ctx))
        self.opt_g = adam(self.generator.trainable_params(), o.lr, (o.beta1, o.beta2), o.schedule(), steps)
        self.opt_d = adam(self.discriminator.trainable_params(), o.lr, (o.beta1, o.beta2), o.schedule(), steps)

    def networks(self):
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def phases(self):
        return [Phase("train", self.optim_cfg.total_epochs, [
            Update("D", self.d_loss, self.opt_d, ("A", "B"), ("real", "fake")),
            Update("G", self.g_loss, self.opt_g, ("A", "B"), ("gan", "l1"), replay_dropout_of="D",
                   prepare=self._keep_running_stats),
        ], after_step=[AfterStep("bn", self._restore_running_stats)])]

    def sample_grid(self):
        return translation_grid(self.generator, *self._samples)

    # ------------------------------------------------------------------ host-side hooks
    def _keep_running_stats(self, values, info):
        self.bn_stats.take()  # after the D update's G(A): the step's one update of the running statistics
        return {}

    def _restore_running_stats(self, info, values):
        self.bn_stats.restore()
        return None

    # ------------------------------------------------------------------ losses (traced by ms.jit)
    def d_loss(self, a, b):
        fake = ops.stop_gradient(self.generator(a))
        pred_fake = self.discriminator(concat(a, fake))
        pred_real = self.discriminator(concat(a, b))
        real_term, fake_term = self.criterion(pred_real, 1.0), self.criterion(pred_fake, 0.0)
        return 0.5 * (real_term + fake_term), ops.stack([real_term, fake_term])

    def g_loss(self, a, b):
        fake = self.generator(a)
        adv = self.criterion(self.discriminator(concat(a, fake)), 1.0)
        l1 = gan.l1_loss(fake, b)
        return adv + self.loss_cfg.lambda_l1 * l1, ops.stack([adv, l1])

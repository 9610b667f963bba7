"""AnimeGANv2 training family: networks, the official losses and the two-phase schedule.

Phase "init": content loss only (VGG conv4_4 L1), its own Adam(init_lr), discriminator untouched (a colour term
can be added and the content term dropped: loss.init_color_weight, loss.init_con_weight; and for styles made from
photos by a filter, the target can be each photo's own rendering: loss.init_target).
Phase "gan": per batch one D update then one G update, as the official `train.py` (training_rate 1).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.families.base import NETWORK, Family, image_grid, to_uint8
from mindspore_impl.families.translation import adam, global_batch
from mindspore_impl.layers import SpectralNormUpdate
from mindspore_impl.losses import animegan as L
from mindspore_impl.losses import gan
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.schedules import LinearDecay
from mindspore_impl.trainer import Phase, Update


# loss.init_target -> (init loss method, its batch inputs)
INIT_TARGETS = {"photo": ("init_loss", ("photo",)), "paired": ("init_paired_loss", ("photo", "photo_styled"))}


@dataclass
class AnimeGANLoss:
    """Loss weights; defaults are the official `train.py` defaults (Hayao), see configs/animeganv2/."""

    vgg_ckpt: str = "weights/vgg19.ckpt"
    # The loss network and its front-end (models/vgg19.LOSS_VGGS): "caffe" (official: Caffe VGG19, BGR minus the
    # means) or "mindspore_port" (the MindSpore port's BN-VGG19 from its vgg.ckpt, fed raw [-1, 1] RGB).
    vgg_variant: str = "caffe"
    g_adv_weight: float = 300.0
    d_adv_weight: float = 300.0
    con_weight: float = 1.5
    sty_weight: float = 2.5
    color_weight: float = 10.0
    tv_weight: float = 1.0
    d_real_weight: float = 1.2
    d_fake_weight: float = 1.2
    d_gray_weight: float = 1.2
    d_smooth_weight: float = 0.8
    # Not in the official code (0 = official, content-only init). With weak perceptual features (e.g. the random
    # VGG19 of the bundled demo) the YUV colour loss gives the init phase the pixel signal it needs.
    init_color_weight: float = 0.0
    # Content weight of the init phase; None = con_weight, as official. 0 drops the VGG passes from the init step
    # (2.3x cheaper at 64 px, half width), as con_weight = sty_weight = 0 does from the G step: with random VGG19
    # weights (the bundled demo) their gradients are texture noise, not content.
    init_con_weight: float | None = None
    # What the init phase reconstructs: "photo" (official: G(photo) ~ photo) or "paired" (G(photo) ~ that photo's
    # rendering in the style, ROOT/<style>/paired/). Pairs exist only for a style made from photos by a filter, as
    # the demo style is; there the init phase learns the style supervised, and the GAN phase is unchanged.
    init_target: str = "photo"
    # Not in the official code: L1 in RGB against the init target. The colour loss's chroma terms are Huber
    # (0.5 d^2 for small d), so a 0.1 hue error gets a tenth of the gradient a 0.1 brightness error gets; without
    # this term the bundled demo's 900-step init came out sepia. L1 fits hue as fast as brightness.
    init_l1_weight: float = 0.0

    def __post_init__(self):
        from mindspore_impl.models.vgg19 import LOSS_VGGS

        if self.vgg_variant not in LOSS_VGGS:
            raise ValueError(f"vgg_variant must be one of {sorted(LOSS_VGGS)}, got '{self.vgg_variant}'")
        if self.init_target not in INIT_TARGETS:
            raise ValueError(f"init_target must be one of {sorted(INIT_TARGETS)}, got '{self.init_target}'")


@dataclass
class AnimeGANOptim:
    epochs: int = 101  # total, including the init epochs (official: --epoch 101 --init_epoch 10)
    init_epochs: int = 10
    init_lr: float = 2e-4
    g_lr: float = 2e-5
    d_lr: float = 4e-5
    beta1: float = 0.5
    beta2: float = 0.999
    # The last init_decay_epochs init epochs run at a linearly falling lr, down to init_lr / (init_decay_epochs + 1)
    # in the last: junyanz's `linear` rule with n_epochs_decay = init_decay_epochs, as the colorization families'
    # n_epochs_decay means. For an init phase that is the whole training (the paired demo), whose constant lr left
    # the held-out scores swinging by 2-4 dB between snapshots; 0 keeps it constant, as the official schedule does.
    init_decay_epochs: int = 0

    def __post_init__(self):
        if not 0 <= self.init_epochs <= self.epochs:
            raise ValueError(f"need 0 <= init_epochs <= epochs, got {self.init_epochs} and {self.epochs}")
        if not 0 <= self.init_decay_epochs <= self.init_epochs:
            raise ValueError(f"need 0 <= init_decay_epochs <= init_epochs, got {self.init_decay_epochs} and "
                             f"{self.init_epochs}")


@dataclass
class AnimeGANDataConfig:
    root: str = "dataset"
    style: str = "Hayao"
    image_size: int = 256
    sample_count: int = 4  # photos in each sample grid


@FAMILIES.register("animeganv2")
class AnimeGANv2Family(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "loss": AnimeGANLoss, "optim": AnimeGANOptim,
                "data": AnimeGANDataConfig}

    def __init__(self, cfg: dict, ctx):
        import mindspore_impl.models  # noqa: F401
        from datasets.animegan_data import AnimeGANData, DatasetError
        from mindspore_impl.models.vgg19 import load_loss_vgg

        self.loss_cfg = build_dataclass(AnimeGANLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(AnimeGANOptim, section(cfg, "optim"), "optim")
        self.data_cfg = build_dataclass(AnimeGANDataConfig, section(cfg, "data"), "data")
        seed = int(section(cfg, "train").get("seed", 0))
        self.generator = build_network(cfg, "generator")
        self.discriminator = build_network(cfg, "discriminator")
        self.vgg = load_loss_vgg(self.loss_cfg.vgg_variant, self.loss_cfg.vgg_ckpt)
        try:
            self.data = AnimeGANData(self.data_cfg.root, self.data_cfg.style, self.data_cfg.image_size, seed=seed,
                                     shard_id=ctx.rank, num_shards=ctx.world,
                                     report=lambda line: print(f"warning: {line}", file=sys.stderr),
                                     paired=self.loss_cfg.init_target == "paired")
        except DatasetError as e:
            raise ConfigError(f"data: {e}") from None
        self._samples = self.data.sample_photos(self.data_cfg.sample_count)

        self.sn_update = SpectralNormUpdate(self.discriminator)
        o = self.optim_cfg
        g_params = self.generator.trainable_params()
        if o.init_decay_epochs:  # the schedule lives in the optimiser (its own step count): exact on resume
            decay = LinearDecay.junyanz(n_epochs=o.init_epochs - o.init_decay_epochs,
                                        n_epochs_decay=o.init_decay_epochs)
            self.opt_init = adam(g_params, o.init_lr, (o.beta1, o.beta2), decay,
                                 self.data.steps_per_epoch(global_batch(cfg, ctx)))
        else:  # a plain float lr, so the checkpoints of constant-lr runs keep their layout
            self.opt_init = nn.Adam(g_params, learning_rate=o.init_lr, beta1=o.beta1, beta2=o.beta2)
        self.opt_g = nn.Adam(g_params, learning_rate=o.g_lr, beta1=o.beta1, beta2=o.beta2)
        self.opt_d = nn.Adam(self.discriminator.trainable_params(), learning_rate=o.d_lr, beta1=o.beta1,
                             beta2=o.beta2)

    # ---------------------------------------------------------------- protocol
    def networks(self):
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self):
        return {"init": self.opt_init, "G": self.opt_g, "D": self.opt_d}

    def set_train(self, mode: bool = True):
        self.generator.set_train(mode)
        self.discriminator.set_train(mode)
        self.vgg.set_train(False)  # frozen feature extractor

    def phases(self):
        o = self.optim_cfg
        init_method, init_inputs = INIT_TARGETS[self.loss_cfg.init_target]
        return [
            Phase("init", o.init_epochs, [Update("init", getattr(self, init_method), self.opt_init, init_inputs,
                                                 ("content", "color", "l1"))]),
            Phase("gan", o.epochs - o.init_epochs, [
                Update("D", self.d_loss, self.opt_d, ("photo", "anime", "anime_gray", "smooth_gray"),
                       ("real", "fake", "gray", "smooth"), state_update=self.sn_update),
                Update("G", self.g_loss, self.opt_g, ("photo", "anime_gray"),
                       ("adv", "content", "style", "color", "tv"), state_update=self.sn_update),
            ]),
        ]

    def sample_grid(self) -> np.ndarray:
        """Rows of (input | output) for the fixed sample photos."""
        self.generator.set_train(False)
        out = self.generator(ms.Tensor(self._samples)).asnumpy()
        self.generator.set_train(True)
        return image_grid([[to_uint8(p), to_uint8(o)] for p, o in zip(self._samples, out)])

    # ---------------------------------------------------------------- losses (traced by ms.jit)
    def init_loss(self, photo):
        return self._reconstruction_loss(photo, photo)

    def init_paired_loss(self, photo, photo_styled):
        return self._reconstruction_loss(photo, photo_styled)

    def _reconstruction_loss(self, photo, target):
        """Init-phase loss of G(photo) against `target` (the photo itself, officially)."""
        c = self.loss_cfg
        con_weight = c.con_weight if c.init_con_weight is None else c.init_con_weight
        fake = self.generator(photo)
        col = L.color_loss(target, fake)
        l1 = gan.l1_loss(target, fake)
        pixel = c.init_color_weight * col + c.init_l1_weight * l1
        if con_weight == 0:  # a config constant, so the traced graph simply has no VGG in it
            return pixel, ops.stack([ops.zeros_like(col), col, l1])
        con = L.content_loss(self.vgg(target), self.vgg(fake))
        return con_weight * con + pixel, ops.stack([con, col, l1])

    def d_loss(self, photo, anime, anime_gray, smooth_gray):
        c = self.loss_cfg
        fake = ops.stop_gradient(self.generator(photo))
        d = self.discriminator
        real_l, fake_l, gray_l, smooth_l = d(anime), d(fake), d(anime_gray), d(smooth_gray)
        terms = ops.stack([
            gan.lsgan_loss(real_l, 1.0), gan.lsgan_loss(fake_l, 0.0),
            gan.lsgan_loss(gray_l, 0.0), gan.lsgan_loss(smooth_l, 0.0),
        ])
        total = L.animegan_d_loss(real_l, fake_l, gray_l, smooth_l, c.d_real_weight, c.d_fake_weight,
                                  c.d_gray_weight, c.d_smooth_weight)
        return c.d_adv_weight * total, terms

    def g_loss(self, photo, anime_gray):
        c = self.loss_cfg
        fake = self.generator(photo)
        adv = gan.lsgan_g_loss(self.discriminator(fake))
        if c.con_weight == 0 and c.sty_weight == 0:  # config constants: the traced graph has no VGG pass at all
            con = sty = ops.zeros_like(adv)
        else:
            f_fake = self.vgg(fake)
            con = L.content_loss(self.vgg(photo), f_fake)
            sty = L.style_loss(self.vgg(anime_gray), f_fake)
        col = L.color_loss(photo, fake)
        tv = L.tv_loss(fake)
        total = (c.g_adv_weight * adv + c.con_weight * con + c.sty_weight * sty + c.color_weight * col
                 + c.tv_weight * tv)
        return total, ops.stack([adv, con, sty, col, tv])

"""pix2pixHD (NVIDIA `models/pix2pixHD_model.py`, `train.py`) on the shared trainer, for RGB pairs
(`--label_nc 0 --no_instance`): the grey page is the "label", D sees cat(A, image).

Per step, as train.py: one forward pass gives G(A); the G update minimises
    Σ_scales lsgan(D(cat(A, G(A)))_last, 1) + lambda_feat·FM + lambda_feat·VGG
with FM = Σ_i Σ_j (1/num_D)·(4/(n_layers+1))·L1(D_i^j(fake), D_i^j(real)) over all but each scale's last output
(`losses/gan.feature_matching_loss`) and VGG = Σ_k w_k·L1(vgg_k(G(A)), vgg_k(B)), k = relu1_1..relu5_1,
w = (1/32, 1/16, 1/8, 1/4, 1), on the shared VGG19 (`models/vgg19.py`; in this repository only random weights
exist: real ones come from `vgg19_convert.py --from torchvision-pix2pixhd`). Then the D update, on G(A) of the G
update (through a history pool of cat(A, G(A)) when pool_size > 0; pix2pixHD's default is 0):
0.5·(Σ_scales lsgan(real, 1) + Σ_scales lsgan(fake, 0)). Adam 2e-4 (0.5, 0.999), lr constant for niter epochs
after the first, then `lr -= lr0 / niter_decay` per epoch (mindspore_impl/schedules.py).

`niter_fix_global` (LocalEnhancer only): upstream builds optimizer_G for the first niter_fix_global epochs over the
parameters whose names start with `model1` (the local enhancer layers: `model1_1`, `model1_2`) only, so the global
generator (`model`, normally loaded with --load_pretrain) stays fixed while the enhancer learns; after that epoch
`update_fixed_params` makes a new Adam (fresh moments) over every G parameter. Here: phase "local" trains
`enhancers` only with its own Adam, phase "joint" trains all of G with another. (The issue text said the global
generator trains alone first; the reference does the opposite, and this follows the reference.)
"""
from __future__ import annotations

import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Optional

import numpy as np
from mindspore import ops

from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.families.base import NETWORK, ExportNetwork, Family
from mindspore_impl.families.translation import (GAN_MODES, TranslationData, adam, build_data, build_discriminator,
                                                 concat, gan_loss, global_batch, translation_grid)
from mindspore_impl.history_pool import HistoryPool
from mindspore_impl.losses import gan
from mindspore_impl.models.pix2pixhd import LocalEnhancer
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.schedules import LinearDecay
from mindspore_impl.trainer import Phase, Update

VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)  # relu1_1 .. relu5_1 (networks.VGGLoss)


@dataclass
class Pix2PixHDLoss:
    gan_mode: str = "lsgan"  # "vanilla" is --no_lsgan (BCE; on logits here, the same as BCELoss(sigmoid))
    lambda_feat: float = 10.0
    gan_feat_loss: bool = True  # False: --no_ganFeat_loss
    vgg_loss: bool = True  # False: --no_vgg_loss
    vgg_ckpt: str = "weights/vgg19_pix2pixhd.ckpt"
    pool_size: int = 0

    def __post_init__(self):
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}, got '{self.gan_mode}'")
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {self.pool_size}")


@dataclass
class Pix2PixHDOptim:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    niter: int = 100
    niter_decay: int = 100
    niter_fix_global: int = 0
    # a GlobalGenerator checkpoint (a pix2pixhd_global run's generator.ckpt) loaded into the LocalEnhancer's global
    # network before training, its final pad/conv/tanh left out: upstream's --load_pretrain
    pretrained_global: Optional[str] = None

    def __post_init__(self):
        if self.niter < 0 or self.niter_decay < 0 or self.niter + self.niter_decay < 1:
            raise ValueError("need niter >= 0, niter_decay >= 0 and at least one epoch")
        if not 0 <= self.niter_fix_global < self.niter + self.niter_decay:
            raise ValueError(f"niter_fix_global must be in [0, niter + niter_decay), got {self.niter_fix_global}")


@FAMILIES.register("pix2pixhd")
class Pix2PixHDFamily(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "loss": Pix2PixHDLoss, "optim": Pix2PixHDOptim,
                "data": TranslationData}
    exports = {"G": ExportNetwork("generator", task="colorize")}

    def __init__(self, cfg: dict, ctx):
        self.loss_cfg = build_dataclass(Pix2PixHDLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(Pix2PixHDOptim, section(cfg, "optim"), "optim")
        data_cfg = build_dataclass(TranslationData, section(cfg, "data"), "data")
        seed = int(section(cfg, "train").get("seed", 0))
        self.generator = build_network(cfg, "generator")
        spec = self.generator.interface()
        a_channels, b_channels = spec.inputs[0].channels, spec.outputs[0].channels
        self.discriminator = build_discriminator(cfg, a_channels + b_channels)  # sees cat(label, image)
        if self.loss_cfg.gan_feat_loss and not self.discriminator.intermediate_features:
            raise ConfigError("loss.gan_feat_loss needs discriminator.intermediate_features: true")
        o = self.optim_cfg
        if o.niter_fix_global and not isinstance(self.generator, LocalEnhancer):
            raise ConfigError("optim.niter_fix_global fixes the global network of a LocalEnhancer "
                              "(generator.name: pix2pixhd_local)")
        if o.pretrained_global:
            self._load_pretrained_global(o.pretrained_global)
        self.vgg = self._load_vgg() if self.loss_cfg.vgg_loss else None
        self.data = build_data(data_cfg, ctx, seed, a_channels, b_channels, spec.size_multiple, ("paired", "aligned"))
        self._samples = self.data.samples(data_cfg.sample_count)
        self.criterion = gan_loss(self.loss_cfg.gan_mode)
        self.pool = HistoryPool(self.loss_cfg.pool_size, seed=seed)
        steps = self.data.steps_per_epoch(global_batch(cfg, ctx))
        schedule, betas = LinearDecay.pix2pixhd(o.niter, o.niter_decay), (o.beta1, o.beta2)
        self.opt_g = adam(self.generator.trainable_params(), o.lr, betas, schedule, steps,
                          start_step=o.niter_fix_global * steps)
        self.opt_local = (adam(self.generator.enhancers.trainable_params(), o.lr, betas, schedule, steps)
                          if o.niter_fix_global else None)
        self.opt_d = adam(self.discriminator.trainable_params(), o.lr, betas, schedule, steps)

    def _load_pretrained_global(self, path: str) -> None:
        from mindspore_impl.checkpoint_io import CheckpointError, load_exact, read_checkpoint, select_network

        if not isinstance(self.generator, LocalEnhancer):
            raise ConfigError("optim.pretrained_global loads the global network of a LocalEnhancer "
                              "(generator.name: pix2pixhd_local)")
        try:
            params, meta = read_checkpoint(path, with_meta=True)
            _, params = select_network(params, meta, None, ["G"], Path(path).name)
            trunk = {k: v for k, v in params.items() if not k.startswith("tail.")}
            load_exact(self.generator.global_net, trunk, f"optim.pretrained_global {Path(path).name} does not fit "
                                                         f"this LocalEnhancer's global network")
        except CheckpointError as exc:
            raise ConfigError(str(exc)) from None

    def _load_vgg(self):
        from mindspore_impl.models.vgg19 import VGGWeightsError, load_vgg19

        try:
            return load_vgg19(self.loss_cfg.vgg_ckpt, relu5_1=True)
        except VGGWeightsError as exc:
            raise ConfigError(f"loss.vgg_ckpt: {exc}") from None

    def networks(self):
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self):
        opts = {"G": self.opt_g, "D": self.opt_d}
        if self.opt_local is not None:
            opts["G_local"] = self.opt_local
        return opts

    def set_train(self, mode: bool = True):
        self.generator.set_train(mode)
        self.discriminator.set_train(mode)
        if self.vgg is not None:
            self.vgg.set_train(False)

    def phases(self):
        o = self.optim_cfg
        logged = ("gan", "feat", "vgg")
        d_update = Update("D", self.d_loss, self.opt_d, ("A", "B", "fake_AB"), ("real", "fake"),
                          prepare=self._draw_pool)
        phases = []
        if o.niter_fix_global:
            phases.append(Phase("local", o.niter_fix_global, [
                Update("G_local", self.g_loss, self.opt_local, ("A", "B"), logged, outputs=("fake",)), d_update]))
        phases.append(Phase("joint", o.niter + o.niter_decay - o.niter_fix_global, [
            Update("G", self.g_loss, self.opt_g, ("A", "B"), logged, outputs=("fake",)), d_update]))
        return phases

    def _draw_pool(self, values, info):
        # pix2pixHD pools the discriminator's whole input, cat(label, fake): a stored fake keeps its own page
        return {"fake_AB": self.pool.query(np.concatenate([values["A"], values["fake"]], axis=1))}

    def host_state(self):
        return {"pool": self.pool.state()} if self.loss_cfg.pool_size else {}

    def load_host_state(self, state):
        if self.loss_cfg.pool_size:
            self.pool.load_state(state["pool"])
        elif state:
            print(f"warning: ignoring saved host state {sorted(state)} (pool_size is 0)", file=sys.stderr)

    def sample_grid(self):
        return translation_grid(self.generator, *self._samples)

    # ------------------------------------------------------------------ losses (traced by ms.jit)
    def _adversarial(self, outputs, target: float):
        """Σ over scales of the criterion on each scale's last output (networks.GANLoss on a list)."""
        total = 0.0
        for scale in outputs:
            total = total + self.criterion(scale[-1], target)
        return total

    def g_loss(self, a, b):
        c = self.loss_cfg
        fake = self.generator(a)
        pred_fake = self.discriminator(concat(a, fake))
        adv = self._adversarial(pred_fake, 1.0)
        zero = ops.zeros_like(adv)
        feat = vgg = zero
        if c.gan_feat_loss:  # config constants: switched-off terms leave the graph
            pred_real = self.discriminator(concat(a, b))
            feat = gan.feature_matching_loss(pred_fake, pred_real, self.discriminator.n_layers)
        if c.vgg_loss:
            fake_features, real_features = self.vgg(fake), self.vgg(b)
            for w, f, r in zip(VGG_WEIGHTS, fake_features, real_features):
                vgg = vgg + w * gan.l1_loss(f, ops.stop_gradient(r))
        total = adv + c.lambda_feat * feat + c.lambda_feat * vgg
        return total, ops.stack([adv, feat, vgg]), ops.stop_gradient(fake)

    def d_loss(self, a, b, fake_ab):
        real = self._adversarial(self.discriminator(concat(a, b)), 1.0)
        fake = self._adversarial(self.discriminator(fake_ab), 0.0)
        return 0.5 * (real + fake), ops.stack([real, fake])

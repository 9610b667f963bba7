"""ACGAN training family: the Anime-Generation study's hair/eye-conditional face GAN (`old/old_src/train.py`).

Per step, as the study: one D update, then one G update with a fresh latent and fresh tags.
- D = ½(BCE(D(x), 1) + BCE(D(G(z, c)), 0)) + aux_weight · BCE(cls(x), real tags). No classification loss on
  fakes: the study's deliberate change from Odena et al. ("the fake images would confuse the discriminator").
- G = BCE(D(G(z, c)), 1) + g_cls_weight · BCE(cls(G(z, c)), c), with c drawn from the tag priors (the study's
  g_cls_weight is 1).
All BCE on the sigmoid heads' probabilities (torch's BCELoss). z, the fake tags and the real batch are drawn on the
host by the data source (datasets/acgan_tags.ACGANBatches), keyed by the step, so resumes are exact. BatchNorm runs
on batch statistics in training (G and D), so the trainer refuses micro-batches, and under msrun each rank's
BatchNorm sees its own shard: the ranks keep identical trainable weights but their moving statistics differ.

Logged: `D/{adv_real, adv_fake, cls_real}`, `G/{adv, cls_fake}` and `aux/{real_hair, real_eye, fake_hair,
fake_eye}`, the accuracy of D's own classifier head on the real batch and on the fakes against the tags G was
given (the study plotted the classifier loss only).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np
from mindspore import nn, ops

from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.families.base import NETWORK, Family
from mindspore_impl.losses import gan
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.trainer import AfterStep, Phase, Update


@dataclass
class ACGANLoss:
    aux_weight: float = 1.0  # the study's --aux: weight of D's classification loss on real images
    # Not in the study (which weighs G's classification term 1): short runs on small networks need a stronger pull
    # of G toward its tags before the adversarial game has shaped its faces (see configs/acgan/tiny.yaml).
    g_cls_weight: float = 1.0

    def __post_init__(self):
        if not (self.aux_weight >= 0 and self.g_cls_weight >= 0):
            raise ValueError(f"aux_weight and g_cls_weight must be >= 0, got {self.aux_weight}, "
                             f"{self.g_cls_weight}")


@dataclass
class ACGANOptim:
    """The study's train.py defaults: Adam 2e-4, betas (0.5, 0.999), 50,000 iterations (batch: train.batch_size)."""

    iterations: int = 50000
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if not self.lr > 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"need lr > 0 and betas in [0, 1), got lr={self.lr}, betas=({self.beta1}, {self.beta2})")


@dataclass
class ACGANData:
    """The study's layout (`root`: images/, tags.pickle, hair_prob.npy, eye_prob.npy) or a CSV (`csv`)."""

    root: Optional[str] = "data/anime_faces"
    csv: Optional[str] = None  # file,hair,eye; when given, root must be null
    image_size: int = 64
    sample_rows: int = 4  # rows of the training sample grid (each: one latent, every hair colour)

    def __post_init__(self):
        if (self.root is None) == (self.csv is None):
            raise ValueError("set exactly one of root (the study's layout) and csv (file,hair,eye)")
        if self.sample_rows < 1:
            raise ValueError(f"sample_rows must be >= 1, got {self.sample_rows}")


@FAMILIES.register("acgan")
class ACGANFamily(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "loss": ACGANLoss, "optim": ACGANOptim,
                "data": ACGANData}

    def __init__(self, cfg: dict, ctx):
        from datasets.acgan_tags import ACGANBatches, TagError, load_tagged

        self.loss_cfg = build_dataclass(ACGANLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(ACGANOptim, section(cfg, "optim"), "optim")
        self.data_cfg = build_dataclass(ACGANData, section(cfg, "data"), "data")
        self.generator = build_network(cfg, "generator")
        self.discriminator = build_network(cfg, "discriminator")
        size = self.data_cfg.image_size
        for name, net in (("generator", self.generator), ("discriminator", self.discriminator)):
            if getattr(net, "image_size", None) != size:
                raise ConfigError(f"{name}.image_size ({getattr(net, 'image_size', None)}) must equal "
                                  f"data.image_size ({size})")
        seed = int(section(cfg, "train").get("seed", 0))
        try:
            data, priors = load_tagged(self.data_cfg.root, self.data_cfg.csv, size,
                                       report=lambda line: print(f"note: {line}", file=sys.stderr))
            self.data = ACGANBatches(data, priors, self.generator.z_dim, self.optim_cfg.iterations, seed=seed,
                                     shard=ctx.rank, shards=ctx.world)
        except TagError as exc:
            raise ConfigError(f"data: {exc}") from None
        o = self.optim_cfg
        self.opt_g = nn.Adam(self.generator.trainable_params(), learning_rate=o.lr, beta1=o.beta1, beta2=o.beta2)
        self.opt_d = nn.Adam(self.discriminator.trainable_params(), learning_rate=o.lr, beta1=o.beta1, beta2=o.beta2)

    # ---------------------------------------------------------------- protocol
    def networks(self):
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def phases(self):
        return [Phase("gan", 1, [
            Update("D", self.d_loss, self.opt_d, ("real", "real_tags", "z_d", "fake_tags_d"),
                   ("adv_real", "adv_fake", "cls_real"), outputs=("real_cls",)),
            Update("G", self.g_loss, self.opt_g, ("z_g", "fake_tags_g"), ("adv", "cls_fake"),
                   outputs=("fake_cls",)),
        ], after_step=[AfterStep("aux", self.aux_accuracy)])]

    def sample_grid(self) -> np.ndarray:
        """`change_hair` rows (as runtime/sample.py --mode change_hair draws them from the export): each row one
        latent (seeds 0, 1, ...) and eye colour, every hair colour across."""
        from mindspore_impl.generate import sample_plan
        from runtime.sampler import default_sigma, grid_plan, make_grid

        spec = self.generator.interface()
        plan = grid_plan("change_hair", spec, seed=0, n=self.data_cfg.sample_rows,
                         sigma=default_sigma(spec.metadata))
        self.generator.set_train(False)
        images = sample_plan(self.generator, spec, plan)
        self.generator.set_train(True)
        return make_grid(images, plan.rows, plan.cols, plan.row_labels, plan.col_labels)

    @staticmethod
    def aux_accuracy(info, values) -> dict:
        """Hair and eye accuracy of D's classifier head (argmax within each group) on the real batch and on G's
        fakes (against the tags G was asked for)."""
        from datasets.acgan_tags import HAIR

        out = {}
        for kind, probs, tags in (("real", values["real_cls"], values["real_tags"]),
                                  ("fake", values["fake_cls"], values["fake_tags_g"])):
            for group, cols in (("hair", slice(0, len(HAIR))), ("eye", slice(len(HAIR), None))):
                out[f"{kind}_{group}"] = float(np.mean(probs[:, cols].argmax(1) == tags[:, cols].argmax(1)))
        return out

    # ---------------------------------------------------------------- losses (traced by ms.jit)
    def d_loss(self, real, real_tags, z_d, fake_tags_d):
        fake = ops.stop_gradient(self.generator(z_d, fake_tags_d))
        real_score, real_cls = self.discriminator(real)
        fake_score, _ = self.discriminator(fake)
        adv_real = gan.bce_probs_loss(real_score, 1.0)
        adv_fake = gan.bce_probs_loss(fake_score, 0.0)
        cls_real = gan.bce_probs_loss(real_cls, real_tags)
        total = 0.5 * (adv_real + adv_fake) + self.loss_cfg.aux_weight * cls_real
        return total, ops.stack([adv_real, adv_fake, cls_real]), real_cls

    def g_loss(self, z_g, fake_tags_g):
        fake = self.generator(z_g, fake_tags_g)
        score, fake_cls = self.discriminator(fake)
        adv = gan.bce_probs_loss(score, 1.0)
        cls_fake = gan.bce_probs_loss(fake_cls, fake_tags_g)
        return adv + self.loss_cfg.g_cls_weight * cls_fake, ops.stack([adv, cls_fake]), fake_cls

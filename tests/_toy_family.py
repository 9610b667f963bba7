"""A toy GAN family that exercises every part of the trainer protocol the coming families need.

G (conv, dropout, tanh) maps `real` images to fakes; D is a small PatchGAN, optionally with BatchNorm. Per step:
- update G (LSGAN) returns its fakes as the value `fake`;
- update D draws `pool_fake` from a history pool fed with those fakes (`prepare`);
- update R, every `optim.reg_every` steps, penalises D(real)² with stylegan2-ada's lazy scaling, sharing D's
  optimiser;
- after the step, an EMA copies G into G_ema, and a hook logs the pool's fill.
Host state: the pool (images and its NumPy generator). Exports: G_ema (default) and G.
"""
from __future__ import annotations

from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mindspore_impl import layers
from mindspore_impl.config import build_dataclass, section
from mindspore_impl.ema import EMA
from mindspore_impl.families.base import NETWORK, ExportNetwork, Family, image_grid, to_uint8
from mindspore_impl.history_pool import HistoryPool
from mindspore_impl.registry import FAMILIES, MODELS
from mindspore_impl.trainer import AfterStep, Phase, Update, lazy_regularization
from runtime.interface import image_to_image


class ToyGenerator(nn.Cell):
    size_multiple = 1

    def __init__(self, channels: int = 3, width: int = 4, dropout: float = 0.3):
        super().__init__()
        self.channels = channels
        self.body = nn.SequentialCell([
            layers.ConvNormAct(channels, width, 3, padding=1, pad="reflect", norm="none", act="lrelu",
                               init="normal002"),
            layers.Dropout(dropout, salt=1),
            layers.ConvNormAct(width, channels, 3, padding=1, pad="reflect", norm="none", act="tanh", bias=True,
                               init="normal002"),
        ])

    def interface(self):
        return image_to_image("stylize", self.channels, self.channels)

    def construct(self, x):
        return self.body(x)


class ToyDiscriminator(nn.Cell):
    def __init__(self, channels: int = 3, width: int = 4, batch_norm: bool = False):
        super().__init__()
        self.body = nn.SequentialCell([
            layers.ConvNormAct(channels, width, 3, stride=2, padding=1, pad="zero",
                               norm="batch" if batch_norm else "none", act="lrelu", init="normal002"),
            layers.ConvNormAct(width, 1, 3, padding=1, pad="zero", norm="none", act="none", bias=True,
                               init="normal002"),
        ])

    def construct(self, x):
        return self.body(x)


if "toy_pool_g" not in MODELS:  # the module may be imported under two names by pytest and helpers
    MODELS.register("toy_pool_g")(ToyGenerator)
    MODELS.register("toy_pool_d")(ToyDiscriminator)


@dataclass
class ToyOptim:
    epochs: int = 4
    lr: float = 1e-3
    betas: tuple = (0.5, 0.99)
    reg_every: int = 2


@dataclass
class ToyLoss:
    pool_size: int = 3
    reg_weight: float = 0.5
    ema_kimg: float = 0.004
    ema_rampup: float | None = 0.5


@dataclass
class ToyData:
    count: int = 8
    size: int = 8
    channels: int = 3


class ToyImages:
    """`count` random images; batches are a pure function of (seed, epoch, step, shard), like the real data."""

    def __init__(self, cfg: ToyData, seed: int, shard: int = 0, shards: int = 1):
        self.images = np.random.default_rng(1234).uniform(-1, 1, (cfg.count, cfg.channels, cfg.size, cfg.size))
        self.images = self.images.astype(np.float32)
        self.seed, self.shard, self.shards = seed, shard, shards

    def steps_per_epoch(self, global_batch: int) -> int:
        return len(self.images) // global_batch

    def batch(self, epoch: int, step: int, batch_size: int) -> dict:
        g = batch_size * self.shards
        perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
        return {"real": self.images[perm[step * g:(step + 1) * g][self.shard::self.shards]]}


class ToyPoolFamily(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "optim": ToyOptim, "loss": ToyLoss, "data": ToyData}
    exports = {"G_ema": ExportNetwork("generator"), "G": ExportNetwork("generator")}

    def __init__(self, cfg: dict, ctx):
        from mindspore_impl.registry import build_network

        self.optim = build_dataclass(ToyOptim, section(cfg, "optim"), "optim")
        self.loss_cfg = build_dataclass(ToyLoss, section(cfg, "loss"), "loss")
        data_cfg = build_dataclass(ToyData, section(cfg, "data"), "data")
        seed = int(section(cfg, "train").get("seed", 0))
        self.generator = build_network(cfg, "generator")
        self.generator_ema = build_network(cfg, "generator")
        self.discriminator = build_network(cfg, "discriminator")
        self.data = ToyImages(data_cfg, seed, ctx.rank, ctx.world)
        self.pool = HistoryPool(self.loss_cfg.pool_size, seed=seed)
        self.ema = EMA(self.generator, self.generator_ema, self.loss_cfg.ema_kimg, self.loss_cfg.ema_rampup)
        o = self.optim
        self.opt_g = nn.Adam(self.generator.trainable_params(), learning_rate=o.lr, beta1=o.betas[0],
                             beta2=o.betas[1])
        lr, (b1, b2) = lazy_regularization(o.lr, o.betas, o.reg_every)
        self.opt_d = nn.Adam(self.discriminator.trainable_params(), learning_rate=lr, beta1=b1, beta2=b2)

    def networks(self):
        return {"G": self.generator, "D": self.discriminator, "G_ema": self.generator_ema}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def set_train(self, mode: bool = True):
        self.generator.set_train(mode)
        self.discriminator.set_train(mode)
        self.generator_ema.set_train(False)

    def phases(self):
        return [Phase("gan", self.optim.epochs, [
            Update("G", self.g_loss, self.opt_g, ("real",), ("adv",), outputs=("fake",)),
            Update("D", self.d_loss, self.opt_d, ("real", "pool_fake"), ("real", "fake"), prepare=self.draw_pool),
            Update("R", self.r_loss, self.opt_d, ("real",), ("penalty",), every=self.optim.reg_every),
        ], after_step=[AfterStep("ema", self.ema), AfterStep("pool", self.pool_fill)])]

    def draw_pool(self, values, info):
        return {"pool_fake": self.pool.query(values["fake"])}

    def pool_fill(self, info, values):
        return {"size": len(self.pool.images)}

    def host_state(self):
        return {"pool": self.pool.state()}

    def load_host_state(self, state):
        self.pool.load_state(state["pool"])

    def sample_grid(self):
        x = self.data.images[:2]
        out = self.generator_ema(ms.Tensor(x)).asnumpy()
        return image_grid([[to_uint8(a), to_uint8(b)] for a, b in zip(x, out)])

    # losses (traced by ms.jit)
    def g_loss(self, real):
        fake = self.generator(real)
        adv = ops.mean(ops.square(self.discriminator(fake) - 1.0))
        return adv, ops.stack([adv]), fake

    def d_loss(self, real, pool_fake):
        r = ops.mean(ops.square(self.discriminator(real) - 1.0))
        f = ops.mean(ops.square(self.discriminator(pool_fake)))
        return 0.5 * (r + f), ops.stack([r, f])

    def r_loss(self, real):
        # stylegan2-ada multiplies a lazy regulariser by its interval (the phase's `gain`)
        penalty = ops.mean(ops.square(self.discriminator(real)))
        return penalty * (self.loss_cfg.reg_weight * self.optim.reg_every), ops.stack([penalty])


if "toy_pool" not in FAMILIES:
    FAMILIES.register("toy_pool")(ToyPoolFamily)


def toy_config(run_dir, **sections) -> dict:
    cfg = {"family": "toy_pool",
           "generator": {"name": "toy_pool_g", "channels": 3, "width": 4, "dropout": 0.3},
           "discriminator": {"name": "toy_pool_d", "width": 4},
           "optim": {"epochs": 4}, "loss": {}, "data": {"count": 8, "size": 8},
           "train": {"run_dir": str(run_dir), "batch_size": 2, "log_every": 1, "sample_every": 1000,
                     "ckpt_every": 3, "keep_checkpoints": 20}}
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return cfg

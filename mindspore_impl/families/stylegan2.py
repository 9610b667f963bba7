"""StyleGAN2-ADA training family on the shared trainer (NVlabs `training/training_loop.py` + `training/loss.py`).

Per step (0-based index k), as NVlabs' phases Gmain, Greg, Dmain, Dreg:
- **Gmain**: G maps z (style mixing: a second z's w from a random cutoff layer on, with probability 0.9), D judges
  its augmented images; non-saturating logistic loss.
- **Greg** (k % pl_every == 0): path-length regularisation on half the batch; loss × pl_every.
- **Dmain**: logistic loss on augmented fakes (G frozen) and augmented reals.
- **Dreg** (k % r1_every == 0): R1 on augmented reals, γ/2 · Σ(∂D/∂x)²; loss × r1_every.
G and D each have one Adam shared by their main and regularisation updates, with lr · c and β^c for
c = every / (every + 1) (`trainer.lazy_regularization`), as NVlabs' lazy regularisation. After the updates: the
mapping's `w_avg` follows the batch means of w (β 0.995, in NVlabs' order Gmain, Greg, Dmain), the path-length
running mean is stored, ADA's p is adjusted every `ada_interval` steps from the signs of D's real logits, and
G_ema follows G (half-life `ema_kimg`, ramp-up `ema_rampup`; buffers copied).

Randomness (z, the mixing cutoffs and second z, every layer's noise map, the path-length noise, generated labels
and the augmentation parameters) is drawn on the host with NumPy from [train.seed, step, update], for the global
batch, of which each data-parallel rank takes its rows; resumed runs therefore replay it exactly. The host state
(p, its sign statistics, the path-length mean) is saved beside every checkpoint.

Optimiser fidelity: the optimisers are `optim.TorchAdam`, torch's Adam step (MindSpore's nn.Adam refuses
NVlabs' beta1 = 0 and places eps TF-style). Like nn.Adam it steps every parameter it holds on every update, where
torch's Adam skips parameters whose `.grad` is None. In NVlabs' phases no parameter is left with None: the
regularisation losses add `gen_img[:, 0, 0, 0] * 0` and `real_logits * 0`, so parameters outside the penalty's
graph (the toRGB biases in Greg, the epilogue biases in Dreg) get zero gradients and torch's Adam decays their
moments too, as here (tests/test_stylegan2_train.py checks both sides). With pl_weight 0 or r1_gamma 0 NVlabs'
regularisation phase leaves every gradient None (torch skips the whole step) and this family runs no such update;
the lr / β scaling stays, as in NVlabs. NVlabs also replaces NaN/inf gradients by 0/±1e5 before each step; the
shared trainer stops on a non-finite loss instead.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Optional

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mindspore_impl import augment as A
from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.ema import EMA
from mindspore_impl.families.base import NETWORK, ExportNetwork, Family, image_grid, to_uint8
from mindspore_impl.losses import gan
from mindspore_impl.losses import stylegan2 as L
from mindspore_impl.optim import TorchAdam
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.trainer import AfterStep, Phase, Update, lazy_regularization

# Stream ids mixed into the per-step seeds, one per consumer of randomness.
_GMAIN, _GREG, _DMAIN, _DREG, _SAMPLES, _FID = range(6)


@dataclass
class StyleGAN2Loss:
    """NVlabs `StyleGAN2Loss` and the training-loop settings of the regularisers, EMA and ADA."""

    r1_gamma: float = 10.0
    r1_every: int = 16  # NVlabs D_reg_interval
    pl_weight: float = 2.0
    pl_every: int = 4  # NVlabs G_reg_interval
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: Optional[float] = None
    augment: str = "bgc"  # NVlabs --augpipe, or "none" (--aug=noaug)
    augment_p: float = 0.0  # p at the start (NVlabs --p with --aug=fixed)
    ada_target: Optional[float] = 0.6  # None: p stays augment_p (--aug=fixed)
    ada_interval: int = 4
    ada_kimg: float = 500.0

    def __post_init__(self):
        for name in ("r1_every", "pl_every"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2 (lazy regularisation, as NVlabs' defaults 16 and 4; the "
                                 f"non-lazy 'both' phases are not implemented), got {getattr(self, name)}")
        if self.pl_batch_shrink < 1:
            raise ValueError(f"pl_batch_shrink must be >= 1, got {self.pl_batch_shrink}")
        if not 0 <= self.style_mixing_prob <= 1:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {self.style_mixing_prob}")
        if self.r1_gamma < 0 or self.pl_weight < 0:
            raise ValueError("r1_gamma and pl_weight must be >= 0")
        if self.augment != "none":
            try:
                A.AugmentSpec.pipeline(self.augment)
            except A.AugmentError as exc:
                raise ValueError(f"augment: {exc}") from None
        if self.augment_p < 0:
            raise ValueError(f"augment_p must be >= 0, got {self.augment_p}")


@dataclass
class StyleGAN2Optim:
    total_kimg: float = 25000.0  # training length in thousands of real images (NVlabs --kimg)
    lr: float = 0.0025  # G and D (NVlabs G_opt_kwargs.lr = D_opt_kwargs.lr)
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8

    def __post_init__(self):
        if not self.total_kimg > 0 or not self.lr > 0:
            raise ValueError("total_kimg and lr must be > 0")
        self.betas = tuple(float(b) for b in self.betas)  # YAML gives a list
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two values in [0, 1), got {self.betas}")


@dataclass
class StyleGAN2Data:
    source: str = "data/stylegan.zip"  # folder, zip, or manGANime export folder
    resolution: int = 256
    channels: int = 3
    xflip: bool = False  # NVlabs --mirror
    use_labels: bool = False  # NVlabs --cond (dataset.json labels)
    max_images: Optional[int] = None  # NVlabs --subset
    sample_seeds: int = 16  # the sample grid shows seeds 0..N-1 (NVlabs' z rule)

    def __post_init__(self):
        if self.resolution < 4 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution}")
        if self.sample_seeds < 1:
            raise ValueError(f"sample_seeds must be >= 1, got {self.sample_seeds}")


@dataclass
class StyleGAN2Metrics:
    fid_every_kimg: float = 0.0  # 0: off
    fid_samples: int = 1000
    vgg_ckpt: Optional[str] = None  # the feature network's weights; None: fixed random VGG19 (see fid.py)

    def __post_init__(self):
        if self.fid_every_kimg < 0 or self.fid_samples < 2:
            raise ValueError("fid_every_kimg must be >= 0 and fid_samples >= 2")


@dataclass
class StyleGAN2Init:
    """Transfer learning (NVlabs --resume with a pickle, imported first): checkpoints whose parameters are copied
    into the fresh networks where names and shapes agree (NVlabs `copy_params_and_buffers(require_all=False)`)."""

    G: Optional[str] = None
    D: Optional[str] = None
    G_ema: Optional[str] = None


class StyleGAN2Family(Family):
    sections = {"generator": NETWORK, "discriminator": NETWORK, "loss": StyleGAN2Loss, "optim": StyleGAN2Optim,
                "data": StyleGAN2Data, "metrics": StyleGAN2Metrics, "init": StyleGAN2Init}
    exports = {"G_ema": ExportNetwork("generator"), "G": ExportNetwork("generator")}

    def __init__(self, cfg: dict, ctx):
        from datasets.stylegan_data import StyleGANDataError, StyleGANImages
        from runtime.sampler import latents

        self.loss_cfg = build_dataclass(StyleGAN2Loss, section(cfg, "loss"), "loss")
        self.optim = build_dataclass(StyleGAN2Optim, section(cfg, "optim"), "optim")
        self.data_cfg = build_dataclass(StyleGAN2Data, section(cfg, "data"), "data")
        self.metrics_cfg = build_dataclass(StyleGAN2Metrics, section(cfg, "metrics"), "metrics")
        init = build_dataclass(StyleGAN2Init, section(cfg, "init"), "init")
        train = section(cfg, "train")
        self.seed = int(train.get("seed", 0))
        self.batch = int(train.get("batch_size", 4))
        if (self.loss_cfg.r1_gamma > 0 or self.loss_cfg.pl_weight > 0) and train.get("jit", True) is False:
            raise ConfigError("train.jit=false: R1 and path-length regularisation need graph mode (MindSpore 2.8's "
                              "PyNative second-order gradients through ops.tile come out zero, measured); set "
                              "train.jit=true or loss.r1_gamma=0 and loss.pl_weight=0")
        self.rank, self.world = ctx.rank, ctx.world
        self.ctx = ctx
        self.global_batch = self.batch * self.world

        self.generator = build_network(cfg, "generator")
        self.generator_ema = build_network(cfg, "generator")
        self.discriminator = build_network(cfg, "discriminator")
        G, D = self.generator, self.discriminator
        d = self.data_cfg
        try:
            self.data = StyleGANImages(d.source, d.resolution, d.channels, d.xflip, d.use_labels, d.max_images,
                                       seed=self.seed, shard_id=ctx.rank, num_shards=ctx.world)
        except StyleGANDataError as exc:
            raise ConfigError(f"data: {exc}") from None
        self._check_shapes(G, D)
        self.c_dim = G.c_dim
        self.num_ws, self.z_dim = G.num_ws, G.z_dim
        self.noise_size = G.synthesis.noise_size
        self.pl_batch = max(self.batch // self.loss_cfg.pl_batch_shrink, 1)

        lc = self.loss_cfg
        self.augment_spec = None if lc.augment == "none" else A.AugmentSpec.pipeline(lc.augment)
        self.augment = None
        if self.augment_spec is not None:
            self.augment = A.AugmentPipe(self.augment_spec, d.channels, d.resolution, d.resolution)
        self.ada = A.AdaptiveP(lc.augment_p, lc.ada_target, lc.ada_interval, lc.ada_kimg)
        self.pl_mean = 0.0

        o = self.optim
        lr_g, betas_g = lazy_regularization(o.lr, o.betas, lc.pl_every)
        lr_d, betas_d = lazy_regularization(o.lr, o.betas, lc.r1_every)
        self.opt_g = TorchAdam(G.trainable_params(), lr_g, betas_g[0], betas_g[1], o.eps)
        self.opt_d = TorchAdam(D.trainable_params(), lr_d, betas_d[0], betas_d[1], o.eps)

        _copy_all(G, self.generator_ema)  # NVlabs: G_ema = copy.deepcopy(G)
        for name, path in (("G", init.G), ("D", init.D), ("G_ema", init.G_ema)):
            if path:
                self._init_from(name, path)
        self.ema = EMA(G, self.generator_ema, lc.ema_kimg, lc.ema_rampup)
        # The inner gradients of the regularisers, made once: MindSpore's graph parser caches grad wrappers by
        # object, and a wrapper made inside a loss (freed after compiling) can leave its id to a later update's
        # wrapper, which then compiled the wrong loss (seen: Dmain compiled as g_pl_loss).
        self._pl_dot_grad = ms.grad(self._pl_dot, grad_position=0)
        self._d_sum_grad = ms.value_and_grad(self._d_sum, grad_position=0, has_aux=True)
        self.sample_z = latents(self.z_dim, range(d.sample_seeds))
        self.fid = None
        if self.metrics_cfg.fid_every_kimg > 0:
            from mindspore_impl.fid import FIDMetric

            self.fid = FIDMetric(self._real_images, self.metrics_cfg.fid_samples, self.metrics_cfg.vgg_ckpt)

    # ---------------------------------------------------------------- setup helpers
    def _check_shapes(self, G, D) -> None:
        d = self.data_cfg
        for name, net in (("generator", G), ("discriminator", D)):
            if net.img_resolution != d.resolution or net.img_channels != d.channels:
                raise ConfigError(f"{name}: img_resolution {net.img_resolution} / img_channels {net.img_channels} "
                                  f"differ from data.resolution {d.resolution} / data.channels {d.channels}")
            if net.c_dim != self.data.c_dim:
                raise ConfigError(f"{name}.c_dim is {net.c_dim} but the data has {self.data.c_dim} classes "
                                  f"(data.use_labels={d.use_labels})")
        if G.z_dim < 1:
            raise ConfigError("generator.z_dim must be >= 1")
        group = D.b4.mbstd.group_size if D.b4.mbstd is not None else None
        if group is not None and self.batch % min(group, self.batch):
            raise ConfigError(f"train.batch_size {self.batch} must be a multiple of discriminator.mbstd_group_size "
                              f"{group} (NVlabs' minibatch-stddev groups split the batch)")

    def _init_from(self, name: str, path: str) -> None:
        from mindspore_impl.checkpoint_io import CheckpointError, params_under, read_checkpoint

        net = self.networks()[name]
        try:
            params = read_checkpoint(path)
        except CheckpointError as exc:
            raise ConfigError(f"init.{name}: {exc}") from None
        if any("/" in k for k in params):
            params = params_under(params, name)
        copied, skipped = 0, []
        for key, p in net.parameters_and_names():
            value = params.get(key)
            if value is not None and tuple(value.shape) == tuple(p.shape):
                p.set_data(ms.Tensor(value.asnumpy()))  # before any graph is compiled
                copied += 1
            else:
                skipped.append(key)
        if not copied:
            raise ConfigError(f"init.{name}: {path} shares no parameter (name and shape) with this network")
        if self.ctx.is_main:
            note = f"; kept fresh: {', '.join(skipped[:4])}{' ...' if len(skipped) > 4 else ''}" if skipped else ""
            print(f"init {name} from {path}: {copied} of {copied + len(skipped)} tensors{note}", file=sys.stderr)

    # ---------------------------------------------------------------- protocol
    def networks(self):
        return {"G": self.generator, "D": self.discriminator, "G_ema": self.generator_ema}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def set_train(self, mode: bool = True):
        self.generator.set_train(mode)
        self.discriminator.set_train(mode)
        self.generator_ema.set_train(False)

    def epochs(self) -> int:
        steps = self.data.steps_per_epoch(self.global_batch)
        return max(1, math.ceil(self.optim.total_kimg * 1000 / (steps * self.global_batch)))

    def phases(self):
        lc = self.loss_cfg
        updates = [Update("Gmain", self.g_main_loss, self.opt_g, _names("gmain", G_INPUTS + AUG_INPUTS),
                          ("loss", "fake_score"), outputs=("w_Gmain",), prepare=self.prepare_gmain)]
        if lc.pl_weight > 0:
            updates.append(Update("Greg", self.g_pl_loss, self.opt_g, _names("greg", G_INPUTS + PL_INPUTS),
                                  ("penalty", "pl_mean"), every=lc.pl_every, outputs=("w_Greg", "pl_mean_new"),
                                  prepare=self.prepare_greg))
        updates.append(Update("Dmain", self.d_main_loss, self.opt_d,
                              ("real", "real_c") + _names("dmain", G_INPUTS + AUG_INPUTS)
                              + _names("dreal", AUG_INPUTS), ("fake", "real"), outputs=("w_Dmain", "signs_Dmain"),
                              prepare=self.prepare_dmain))
        if lc.r1_gamma > 0:
            updates.append(Update("Dreg", self.d_r1_loss, self.opt_d, ("real", "real_c") + _names("dr1", AUG_INPUTS),
                                  ("penalty", "real_score"), every=lc.r1_every, outputs=("signs_Dreg",),
                                  prepare=self.prepare_dreg))
        hooks = [AfterStep("stats", self.after_step), AfterStep("ema", self.ema)]
        if self.fid is not None:
            every = max(1, round(self.metrics_cfg.fid_every_kimg * 1000 / self.global_batch))
            hooks.append(AfterStep("fid", self.fid_hook, every=every))
        return [Phase("gan", self.epochs(), updates, hooks)]

    def host_state(self):
        return {"ada": self.ada.state(), "pl_mean": self.pl_mean}

    def load_host_state(self, state):
        if set(state) != {"ada", "pl_mean"}:
            raise ValueError(f"not a StyleGAN2 host state: {sorted(state)}")
        self.ada.load_state(state["ada"])
        self.pl_mean = float(state["pl_mean"])

    # ---------------------------------------------------------------- host-side randomness
    def _rng(self, info, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, info.global_step, stream])

    def _rows(self, arr: np.ndarray) -> np.ndarray:
        """This rank's rows of an array drawn for the global batch."""
        return np.ascontiguousarray(arr[self.rank::self.world])

    def _latents(self, rng, per_rank: int, prefix: str) -> dict:
        n = per_rank * self.world
        z = rng.standard_normal((n, self.z_dim)).astype(np.float32)
        z2 = rng.standard_normal((n, self.z_dim)).astype(np.float32)
        # NVlabs: cutoff ~ U{1, ..., num_ws - 1}; with probability 1 - style_mixing_prob no mixing (cutoff num_ws)
        cutoff = int(rng.integers(1, self.num_ws)) if self.num_ws > 1 else 1
        if not rng.random() < self.loss_cfg.style_mixing_prob:
            cutoff = self.num_ws
        mix = (np.arange(self.num_ws) < cutoff).astype(np.float32)
        noise = rng.standard_normal((n, max(self.noise_size, 1))).astype(np.float32)
        gen_c = self.data.random_labels(rng, n)
        return {f"{prefix}_z": self._rows(z), f"{prefix}_z2": self._rows(z2), f"{prefix}_mix": mix,
                f"{prefix}_noise": self._rows(noise), f"{prefix}_c": self._rows(gen_c)}

    def _augment_inputs(self, rng, per_rank: int, prefix: str) -> dict:
        """The augmentation of one D call on a batch of per_rank images (NVlabs' margin is per device batch)."""
        dummy = np.zeros(1, np.float32)
        out = {f"{prefix}_geom": dummy, f"{prefix}_masks": dummy, f"{prefix}_color": dummy}
        if self.augment_spec is None:
            return out
        d = self.data_cfg
        g_inv, c_mat = A.draw_matrices(self.augment_spec, rng, per_rank * self.world, self.ada.p, d.resolution,
                                       d.resolution, d.channels)
        if g_inv is not None:
            geom, masks, _ = A.geometry_inputs(self._rows(g_inv), d.resolution, d.resolution)
            out[f"{prefix}_geom"], out[f"{prefix}_masks"] = geom, masks
        if c_mat is not None:
            out[f"{prefix}_color"] = A.color_inputs(self._rows(c_mat), d.channels)
        return out

    def prepare_gmain(self, values, info):
        rng = self._rng(info, _GMAIN)
        return {**self._latents(rng, self.batch, "gmain"), **self._augment_inputs(rng, self.batch, "gmain")}

    def prepare_greg(self, values, info):
        rng = self._rng(info, _GREG)
        drawn = self._latents(rng, self.pl_batch, "greg")
        r = self.data_cfg.resolution
        pl_noise = rng.standard_normal((self.pl_batch * self.world, self.data_cfg.channels, r, r))
        drawn["greg_pl_noise"] = self._rows((pl_noise * L.pl_noise_scale(r, r)).astype(np.float32))
        drawn["greg_pl_mean"] = np.array([self.pl_mean], np.float32)
        return drawn

    def prepare_dmain(self, values, info):
        rng = self._rng(info, _DMAIN)
        return {**self._latents(rng, self.batch, "dmain"), **self._augment_inputs(rng, self.batch, "dmain"),
                **self._augment_inputs(rng, self.batch, "dreal")}

    def prepare_dreg(self, values, info):
        return self._augment_inputs(self._rng(info, _DREG), self.batch, "dr1")

    # ---------------------------------------------------------------- losses (traced by ms.jit)
    def _c(self, c):
        return c if self.c_dim > 0 else None

    def _mapped(self, z, z2, mix, c):
        """(ws with style mixing [N, num_ws, w_dim], the untruncated w of z [N, w_dim])."""
        mapping = self.generator.mapping
        w = mapping.mapped(z, self._c(c))
        ws = mapping.repeat(w)
        if self.loss_cfg.style_mixing_prob > 0:
            m = mix.reshape((1, -1, 1))
            ws = ws * m + mapping(z2, self._c(c)) * (1.0 - m)
        return ws, w

    def _run_d(self, img, c, geom, masks, color):
        if self.augment is not None:
            img = self.augment(img, geom, masks, color)
        return self.discriminator(img, self._c(c))

    def g_main_loss(self, z, z2, mix, noise, c, geom, masks, color):
        ws, w = self._mapped(z, z2, mix, c)
        logits = self._run_d(self.generator.synthesis(ws, noise), c, geom, masks, color)
        loss = gan.logistic_g_loss(logits)
        return loss, ops.stack([loss, logits.mean()]), w

    def _pl_dot(self, ws, noise, pl_noise):
        return (self.generator.synthesis(ws, noise) * pl_noise).sum()

    def g_pl_loss(self, z, z2, mix, noise, c, pl_noise, pl_mean):
        lc = self.loss_cfg
        ws, w = self._mapped(z, z2, mix, c)
        lengths = L.path_lengths(self._pl_dot_grad(ws, noise, pl_noise))
        mean = L.path_length_mean(pl_mean.reshape(()), lengths, lc.pl_decay)
        penalty = L.path_length_penalty(lengths, mean)
        loss = penalty.mean() * (lc.pl_weight * lc.pl_every)
        return loss, ops.stack([penalty.mean(), mean]), w, ops.stop_gradient(mean).reshape((1,))

    def d_main_loss(self, real, real_c, z, z2, mix, noise, c, f_geom, f_masks, f_color, r_geom, r_masks, r_color):
        ws, w = self._mapped(z, z2, mix, c)
        fake = ops.stop_gradient(self.generator.synthesis(ws, noise))
        fake_logits = self._run_d(fake, c, f_geom, f_masks, f_color)
        real_logits = self._run_d(real, real_c, r_geom, r_masks, r_color)
        loss_fake, loss_real = gan.softplus(fake_logits).mean(), gan.softplus(-real_logits).mean()
        return loss_fake + loss_real, ops.stack([loss_fake, loss_real]), w, ops.sign(real_logits)

    def _d_sum(self, real, real_c, geom, masks, color):
        logits = self._run_d(real, real_c, geom, masks, color)
        return logits.sum(), logits

    def d_r1_loss(self, real, real_c, geom, masks, color):
        lc = self.loss_cfg
        (_, logits), grads = self._d_sum_grad(real, real_c, geom, masks, color)
        penalty = L.r1_penalty(grads)
        loss = penalty.mean() * (lc.r1_gamma / 2 * lc.r1_every)
        return loss, ops.stack([penalty.mean(), logits.mean()]), ops.sign(logits)

    # ---------------------------------------------------------------- after the updates
    def after_step(self, info, values):
        mapping = self.generator.mapping
        if mapping.w_avg_beta is not None:
            beta = np.float32(mapping.w_avg_beta)
            w_avg = mapping.w_avg.asnumpy().astype(np.float32)
            for key in ("w_Gmain", "w_Greg", "w_Dmain"):  # NVlabs' phase order
                if key in values:
                    mean = values[key].mean(axis=0, dtype=np.float32)
                    w_avg = mean + beta * (w_avg - mean)  # torch: mean.lerp(w_avg, beta)
            ops.assign(mapping.w_avg, ms.Tensor(w_avg))
        if "pl_mean_new" in values:
            self.pl_mean = float(values["pl_mean_new"][0])
        logs = {"pl_mean": self.pl_mean}
        if self.augment is not None:
            for key in ("signs_Dmain", "signs_Dreg"):
                if key in values:
                    self.ada.observe(values[key])
            self.ada.step(info.global_step, info.global_batch, self._reduce if self.world > 1 else None)
            logs["ada_p"] = self.ada.p
        return logs

    def _reduce(self, total: float, count: int):
        summed = ops.AllReduce()(ms.Tensor(np.array([total, count], np.float32))).asnumpy()
        return float(summed[0]), int(round(float(summed[1])))

    # ---------------------------------------------------------------- samples and metrics
    def _generate_ema(self, z: np.ndarray, c: Optional[np.ndarray], noise: Optional[np.ndarray] = None):
        G = self.generator_ema
        ws = G.mapping(ms.Tensor(z), None if c is None else ms.Tensor(c))
        return G.synthesis(ws, None if noise is None else ms.Tensor(noise)).asnumpy()

    def _class_rows(self, n: int) -> Optional[np.ndarray]:
        return np.eye(self.c_dim, dtype=np.float32)[np.arange(n) % self.c_dim] if self.c_dim else None

    def sample_grid(self) -> np.ndarray:
        """G_ema on the fixed seeds 0..N-1 (NVlabs' z rule), constant noise, no truncation; row-major."""
        images = np.concatenate([self._generate_ema(self.sample_z[i:i + 16], None if self.c_dim == 0 else
                                                    self._class_rows(len(self.sample_z))[i:i + 16])
                                 for i in range(0, len(self.sample_z), 16)])
        cols = int(math.ceil(math.sqrt(len(images))))
        tiles = [to_uint8(img) for img in images]
        return image_grid([tiles[i:i + cols] for i in range(0, len(tiles), cols)])

    def _real_images(self, n: int) -> np.ndarray:
        n = min(n, len(self.data))
        return np.concatenate([self.data.images(range(i, min(i + 32, n))) for i in range(0, n, 32)])

    def fid_hook(self, info, values):
        rng = np.random.default_rng([self.seed, _FID])  # the same latents at every evaluation

        def generate(n):
            out = []
            for i in range(0, n, 32):
                m = min(32, n - i)
                z = rng.standard_normal((m, self.z_dim)).astype(np.float32)
                noise = rng.standard_normal((m, max(self.noise_size, 1))).astype(np.float32)
                c = self.data.random_labels(rng, m) if self.c_dim else None
                out.append(self._generate_ema(z, c, noise))  # NVlabs' metrics use random noise
            return np.concatenate(out)

        return {self.fid.features.name: self.fid(generate)}


G_INPUTS = ("z", "z2", "mix", "noise", "c")
AUG_INPUTS = ("geom", "masks", "color")
PL_INPUTS = ("pl_noise", "pl_mean")


def _names(prefix: str, names) -> tuple:
    return tuple(f"{prefix}_{n}" for n in names)


def _copy_all(source: nn.Cell, target: nn.Cell) -> None:
    """Every parameter and buffer of source into target (same architecture), before any graph is compiled."""
    targets = dict(target.parameters_and_names())
    for name, p in source.parameters_and_names():
        targets[name].set_data(ms.Tensor(p.asnumpy()))


FAMILIES.register("stylegan2")(StyleGAN2Family)

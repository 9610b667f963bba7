"""Latent projection of images and video frames into a StyleGAN2 generator's W space (NVlabs stylegan2-ada-pytorch
`projector.py`, in MindSpore), and the W-space interpolation between two projections.

`Projector(G, vgg, settings).project(target, w_init, noise_init, steps, rng)` optimises one w (shared by every
layer, NVlabs' W rather than W+) and every synthesis layer's noise map so that G.synthesis(w, noise) matches the
target:
- start: w at `w_avg`, the mean of the mapped w of `w_avg_samples` latents z (NVlabs: 10,000 from RandomState(123),
  computed here from the network, not its running `w_avg` buffer), and `w_std` = √(Σ‖w − w_avg‖² / N); the noise
  maps start as unit Gaussian noise. A warm start (the next video frame) passes the previous frame's w and noise.
- step t of T: lr = lr₀ · ramp, with ramp = (½ − ½ cos(π · min(1, (1 − t/T)/rampdown))) · min(1, (t/T)/rampup);
  w is jittered by Gaussian noise of std w_std · noise_factor · max(0, 1 − (t/T)/noise_ramp)²;
  loss = perceptual distance + pixel_weight · pixel MSE + noise_reg_weight · noise regulariser
  (`losses/projection.py`); one Adam step (β 0.9, 0.999, eps 1e-8, torch's formula, on the host) on w and the
  noise; then every noise map is renormalised to zero mean and unit variance.
- the result is the last step's w (NVlabs returns it too) with the final noise, and its image.

Randomness (initial noise, w jitter) comes from the NumPy generator the caller passes, so a video resumed at
frame k draws what the uninterrupted run drew. The loss and its gradient run as one compiled graph; Adam runs in
NumPy on the host (w and noise are host arrays: nothing of the network changes, its parameters are never written).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Optional

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mindspore_impl.losses.projection import PerceptualDistance, noise_regularization, pixel_mse
from runtime.errors import UserError

W_STATS_SEED = 123  # NVlabs: np.random.RandomState(123).randn(w_avg_samples, z_dim)

# Compiled projection graphs stay referenced for the life of the process: MindSpore caches compiled graphs by the
# id of the wrapped object, and a freed wrapper's id handed to a later one (a second projection in one process,
# as in the tests) could make it run the earlier graph, with the earlier network.
_KEEP_ALIVE: list = []


class ProjectionError(UserError):
    """Projection cannot run as asked (wrong network, settings out of range); the message says why."""


@dataclass(frozen=True)
class ProjectionSettings:
    """NVlabs projector's arguments (same defaults) plus the pixel term and the warm-start step count."""

    steps: int = 1000                 # num_steps (the first frame, or a cold start)
    warm_steps: Optional[int] = None  # steps for frames warm-started from the previous one (None: `steps`)
    w_avg_samples: int = 10000
    lr: float = 0.1                   # initial_learning_rate
    lr_rampdown: float = 0.25         # lr_rampdown_length
    lr_rampup: float = 0.05           # lr_rampup_length
    noise_factor: float = 0.05        # initial_noise_factor (w jitter, × w_std)
    noise_ramp: float = 0.75          # noise_ramp_length
    noise_reg_weight: float = 1e5     # regularize_noise_weight
    pixel_weight: float = 1.0         # not in NVlabs: weight of the pixel MSE (images in [-1, 1])
    seed: int = 303                   # NVlabs' --seed default

    def __post_init__(self):
        checks = [("steps", self.steps >= 1), ("warm_steps", self.warm_steps is None or self.warm_steps >= 1),
                  ("w_avg_samples", self.w_avg_samples >= 2), ("lr", self.lr > 0),
                  ("lr_rampdown", 0 < self.lr_rampdown <= 1), ("lr_rampup", 0 < self.lr_rampup <= 1),
                  ("noise_factor", self.noise_factor >= 0), ("noise_ramp", 0 < self.noise_ramp <= 1),
                  ("noise_reg_weight", self.noise_reg_weight >= 0), ("pixel_weight", self.pixel_weight >= 0)]
        for name, ok in checks:
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise ProjectionError(f"projection setting {name}={value} is out of range")

    def steps_for(self, warm: bool) -> int:
        return self.warm_steps if (warm and self.warm_steps is not None) else self.steps

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def schedule(step: int, steps: int, s: ProjectionSettings) -> tuple[float, float]:
    """(learning rate, w-jitter factor × w_std) at 0-based `step` of `steps`: NVlabs' ramps."""
    t = step / steps
    jitter = s.noise_factor * max(0.0, 1.0 - t / s.noise_ramp) ** 2
    ramp = min(1.0, (1.0 - t) / s.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / s.lr_rampup)
    return s.lr * ramp, jitter


class HostAdam:
    """torch.optim.Adam's step (no weight decay, no amsgrad) on NumPy arrays, the lr given per step."""

    def __init__(self, shapes, betas=(0.9, 0.999), eps: float = 1e-8):
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = [np.zeros(s, np.float32) for s in shapes]
        self.v = [np.zeros(s, np.float32) for s in shapes]
        self.t = 0

    def step(self, params, grads, lr: float) -> None:
        """Update `params` (float32 arrays) in place."""
        self.t += 1
        bc1, bc2 = 1.0 - self.b1 ** self.t, 1.0 - self.b2 ** self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            denom = np.sqrt(v) / math.sqrt(bc2) + self.eps
            p -= (lr / bc1) * m / denom


def check_generator(G) -> None:
    """A StyleGAN2 generator without labels (NVlabs' projector passes c=None), else ProjectionError."""
    from mindspore_impl.models.stylegan2 import Generator

    if not isinstance(G, Generator):
        raise ProjectionError(f"projection needs a StyleGAN2 generator, not a {type(G).__name__}")
    if G.c_dim > 0:
        raise ProjectionError("projection of a conditional generator (c_dim > 0) is not supported (NVlabs' "
                              "projector maps c=None too)")


def w_stats(G, samples: int, batch: int = 1000) -> tuple[np.ndarray, float]:
    """(w_avg [w_dim], w_std): the mean of the mapped w of `samples` latents RandomState(123).randn(samples, z_dim)
    and the root mean squared distance to it, as NVlabs' projector computes them."""
    z = np.random.RandomState(W_STATS_SEED).randn(samples, G.z_dim)
    ws = [G.mapping.mapped(ms.Tensor(z[i:i + batch].astype(np.float32))).asnumpy() for i in range(0, samples, batch)]
    w = np.concatenate(ws).astype(np.float32)
    w_avg = w.mean(axis=0)
    return w_avg, float(np.sqrt(np.square(w - w_avg).sum() / samples))


def to_image_tensor(uint8_hwc: np.ndarray) -> ms.Tensor:
    """[R, R, 3] uint8 → [1, 3, R, R] float32 in [-1, 1]."""
    x = uint8_hwc.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
    return ms.Tensor(np.ascontiguousarray(x))


def to_uint8(image_nchw: np.ndarray) -> np.ndarray:
    """[1, 3, R, R] in [-1, 1] → [R, R, 3] uint8 (NVlabs: (x + 1) · 127.5, clamped, truncated)."""
    return np.clip((image_nchw[0].transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).astype(np.uint8)


class ProjectionLoss(nn.Cell):
    """`construct(w, w_jitter, noise, target_image, *target_features)` → (loss, distance, pixel MSE, noise penalty)
    for one [1, w_dim] w and the packed [1, noise_size] noise (`SynthesisNetwork.noise_layout`)."""

    def __init__(self, synthesis: nn.Cell, distance: PerceptualDistance, pixel_weight: float, noise_weight: float):
        super().__init__()
        self.synthesis, self.distance = synthesis, distance
        self.num_ws = synthesis.num_ws
        self.layout = tuple(synthesis.noise_layout)
        self.pixel_weight, self.noise_weight = float(pixel_weight), float(noise_weight)

    def render(self, w, noise):
        ws = ops.broadcast_to(w.reshape((1, 1, -1)), (1, self.num_ws, w.shape[-1]))
        return self.synthesis(ws, noise)

    def construct(self, w, w_jitter, noise, target_image, *target_features):
        image = self.render(w + w_jitter, noise)
        dist = self.distance(image, *target_features).sum()
        pixel = pixel_mse(image, target_image)
        maps = [noise[:, a:a + r * r].reshape((1, 1, r, r)) for a, r in self.layout]
        reg = noise_regularization(maps) if maps else dist * 0.0
        loss = dist + pixel * self.pixel_weight + reg * self.noise_weight
        return loss, dist, pixel, reg


@dataclass
class Projection:
    """One projected target: w [w_dim], noise [noise_size], image [R, R, 3] uint8 and the final loss terms."""

    w: np.ndarray
    noise: np.ndarray
    image: np.ndarray
    dist: float
    pixel: float
    reg: float


class Projector:
    """Projects [R, R, 3] uint8 targets into G's W space (see the module docstring). G in eval mode, frozen."""

    def __init__(self, G, vgg: nn.Cell, settings: ProjectionSettings):
        check_generator(G)
        G.set_train(False)
        for p in G.get_parameters():
            p.requires_grad = False
        self.G, self.settings = G, settings
        self.resolution = G.img_resolution
        self.w_dim = G.w_dim
        synthesis = G.synthesis
        self.layout = list(synthesis.noise_layout) if synthesis.use_noise else []
        self.noise_size = synthesis.noise_size if synthesis.use_noise else 0
        distance = PerceptualDistance(vgg)
        self.loss = ProjectionLoss(synthesis, distance, settings.pixel_weight, settings.noise_reg_weight)
        loss = self.loss
        self._step = ms.jit(ms.value_and_grad(loss, grad_position=(0, 2), has_aux=True))

        def render(w, noise):
            return loss.render(w, noise)

        def features(image):
            return distance.features(image)

        self._render, self._features = ms.jit(render), ms.jit(features)
        _KEEP_ALIVE.append((loss, self._step, self._render, self._features))
        self.w_avg, self.w_std = w_stats(G, settings.w_avg_samples)

    def initial_noise(self, rng: np.random.Generator) -> np.ndarray:
        """Unit Gaussian noise for every layer (NVlabs: buf[:] = torch.randn_like(buf)), packed."""
        return rng.standard_normal(self.noise_size).astype(np.float32)

    def normalize_noise(self, noise: np.ndarray) -> None:
        """In place, per layer map: zero mean, unit mean square (NVlabs, after every step)."""
        for a, r in self.layout:
            m = noise[a:a + r * r]
            m -= m.mean()
            m *= 1.0 / math.sqrt(float(np.square(m).mean()))

    def render(self, w: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """[R, R, 3] uint8 image of w [w_dim] with the packed noise."""
        out = self._render(ms.Tensor(w.reshape(1, -1).astype(np.float32)),
                           ms.Tensor(noise.reshape(1, -1).astype(np.float32)))
        return to_uint8(out.asnumpy())

    def project(self, target: np.ndarray, rng: np.random.Generator, w_init: np.ndarray | None = None,
                noise_init: np.ndarray | None = None, steps: int | None = None, progress=None) -> Projection:
        """Optimise w and noise for `target` [R, R, 3] uint8. w_init/noise_init: a warm start (default w_avg and
        fresh unit noise from `rng`); steps default `settings.steps`; `progress(step, loss)` after each step."""
        s = self.settings
        if target.shape != (self.resolution, self.resolution, 3):
            raise ProjectionError(f"target is {target.shape}, the generator makes {self.resolution}² RGB images")
        steps = s.steps if steps is None else int(steps)
        w = (self.w_avg if w_init is None else w_init).astype(np.float32).copy()
        noise = self.initial_noise(rng) if noise_init is None else noise_init.astype(np.float32).copy()
        target_image = to_image_tensor(target)
        target_features = tuple(self._features(target_image))
        adam = HostAdam([w.shape, noise.shape])
        terms = (float("nan"),) * 3
        for step in range(steps):
            lr, jitter = schedule(step, steps, s)
            w_jitter = (rng.standard_normal(self.w_dim) * (self.w_std * jitter)).astype(np.float32)
            (loss, dist, pixel, reg), (g_w, g_noise) = self._step(
                ms.Tensor(w[None]), ms.Tensor(w_jitter[None]), ms.Tensor(noise[None]), target_image,
                *target_features)
            loss_value = float(loss.asnumpy())
            if not math.isfinite(loss_value):
                raise ProjectionError(f"the projection loss became {loss_value} at step {step} (lower --lr?)")
            terms = (float(dist.asnumpy()), float(pixel.asnumpy()), float(reg.asnumpy()))
            adam.step([w, noise], [g_w.asnumpy()[0], g_noise.asnumpy()[0]], lr)
            self.normalize_noise(noise)
            if progress is not None:
                progress(step, loss_value)
        return Projection(w, noise, self.render(w, noise), *terms)


def lerp_latents(w_a: np.ndarray, w_b: np.ndarray, noise_a: np.ndarray, noise_b: np.ndarray, count: int,
                 layout) -> tuple[np.ndarray, np.ndarray]:
    """`count` ≥ 2 evenly spaced points from a to b (both included): w linearly interpolated in W, and each noise
    map interpolated linearly, then renormalised to zero mean and unit variance (a plain blend of two independent
    unit maps has variance below 1 in between, which would dim the noise mid-way). → (w [count, w_dim],
    noise [count, noise_size])."""
    if count < 2:
        raise ProjectionError(f"an interpolation needs at least 2 frames, got {count}")
    t = np.linspace(0.0, 1.0, count, dtype=np.float64)[:, None]
    w = ((1 - t) * w_a[None] + t * w_b[None]).astype(np.float32)
    noise = ((1 - t) * noise_a[None] + t * noise_b[None]).astype(np.float32)
    for a, r in layout:
        m = noise[:, a:a + r * r]
        m -= m.mean(axis=1, keepdims=True)
        m /= np.sqrt(np.square(m).mean(axis=1, keepdims=True))
    return w, noise


def load_projection_vgg(ckpt: str | None = None) -> nn.Cell:
    """The frozen VGG19 (with its taps) of the perceptual distance: `ckpt` (a converted real one, see
    mindspore_impl/vgg19_convert.py), or else fixed random He-initialised weights (seed 0, as the FID metric)."""
    from mindspore_impl.models import vgg19

    if ckpt:
        return vgg19.load_vgg19(ckpt, with_taps=True)
    net = vgg19.freeze(vgg19.VGG19Features(with_taps=True))
    params = vgg19.random_vgg19_params(seed=0)
    for name, p in net.parameters_and_names():
        p.set_data(ms.Tensor(params[name]))  # before any graph using it is compiled
    return net

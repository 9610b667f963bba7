"""Gradient ascent on a StyleGAN2 discriminator's "real" score (the manGANime study's `backprop.py`).

Image space (the study): x starts as uniform noise in [-1, 1] (one [1, 3, R, R] image); each step minimises
softplus(−D(x)) = −log σ(D(x)) by one Adam step on the pixels (torch's defaults: β 0.9, 0.999, eps 1e-8; lr 1e-3 as
the study). The pixels are not clamped (the study did not clamp them either); snapshots are clamped to [-1, 1] to
be shown. What it finds is an adversarial example: D's probability climbs towards 1 while the picture stays noise
(the study: p 0.04 → 0.96 in 1,000 steps at 256²).

W space (the variant that stays on the image manifold): the same objective on x = G.synthesis(w) (constant noise),
optimising one w shared by every layer, started at the mapped w of RandomState(seed).randn(1, z_dim). Every
iterate is a picture G can make, so the climb is towards what D scores as real among G's images.

Randomness comes from NumPy (the starting noise: default_rng(seed).uniform), so runs repeat exactly. The loss and
its gradient run as one compiled graph; Adam runs on the host (the networks' parameters are never written).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mindspore_impl.projection import _KEEP_ALIVE, HostAdam, check_generator, to_uint8
from runtime.errors import UserError

SPACES = ("image", "w")
DEFAULT_LR = {"image": 1e-3, "w": 1e-2}  # image: the study's; w: w moves in units of ~w_std, not of a pixel


class AscentError(UserError):
    """Discriminator ascent cannot run as asked (wrong network, settings out of range)."""


@dataclass(frozen=True)
class AscentSettings:
    space: str = "image"
    steps: int = 1000
    lr: float = 1e-3
    every: int = 100   # log and snapshot every this many steps (the study: --frequency 100)
    seed: int = 0

    def __post_init__(self):
        if self.space not in SPACES:
            raise AscentError(f"ascent space {self.space!r}: choose from {', '.join(SPACES)}")
        if self.steps < 1 or self.every < 1:
            raise AscentError(f"--steps {self.steps} and --every {self.every} must be >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise AscentError(f"--lr {self.lr} must be a positive number")


@dataclass
class Snapshot:
    step: int            # updates done (0: the start)
    p: float             # σ(D(x)) of this image
    p_window: float      # mean σ(D(x)) over the steps since the last snapshot (the study's printed number)
    loss: float          # softplus(−D(x)) of this image
    image: np.ndarray    # [R, R, 3] uint8


@dataclass
class AscentResult:
    settings: AscentSettings
    snapshots: list = field(default_factory=list)

    @property
    def first_p(self) -> float:
        return self.snapshots[0].p

    @property
    def last_p(self) -> float:
        return self.snapshots[-1].p


def check_discriminator(D) -> None:
    from mindspore_impl.models.stylegan2 import Discriminator

    if not isinstance(D, Discriminator):
        raise AscentError(f"ascent needs a StyleGAN2 discriminator, not a {type(D).__name__}")
    if D.c_dim > 0:
        raise AscentError("ascent on a conditional discriminator (c_dim > 0) is not supported")


class _RealLoss(nn.Cell):
    """x (an image, or a [1, w_dim] w rendered by the synthesis network) → (softplus(−D), D logit)."""

    def __init__(self, D: nn.Cell, synthesis: nn.Cell | None):
        super().__init__()
        self.D, self.synthesis = D, synthesis
        self.num_ws = synthesis.num_ws if synthesis is not None else 0

    def image(self, x):
        if self.synthesis is None:
            return x
        return self.synthesis(ops.broadcast_to(x.reshape((1, 1, -1)), (1, self.num_ws, x.shape[-1])))

    def construct(self, x):
        logit = self.D(self.image(x)).reshape(())
        return ops.softplus(-logit), logit


def _frozen(net: nn.Cell) -> nn.Cell:
    net.set_train(False)
    for p in net.get_parameters():
        p.requires_grad = False
    return net


class DiscriminatorAscent:
    """`run(settings, progress)`: see the module docstring. G (a StyleGAN2 generator of D's resolution) is needed
    for the W space only."""

    def __init__(self, D: nn.Cell, G: nn.Cell | None = None):
        check_discriminator(D)
        self.D = _frozen(D)
        self.G = None
        if G is not None:
            check_generator(G)
            if G.img_resolution != D.img_resolution or G.img_channels != D.img_channels:
                raise AscentError(f"the generator makes {G.img_resolution}² images with {G.img_channels} channels, "
                                  f"the discriminator reads {D.img_resolution}² with {D.img_channels}")
            self.G = _frozen(G)
        self._losses = {}

    def _compiled(self, space: str):
        if space not in self._losses:
            if space == "w" and self.G is None:
                raise AscentError("ascent in W space needs the generator (--generator G.ckpt)")
            loss = _RealLoss(self.D, self.G.synthesis if space == "w" else None)

            def image(x):
                return loss.image(x)

            compiled = (ms.jit(ms.value_and_grad(loss, grad_position=0, has_aux=True)), ms.jit(image))
            _KEEP_ALIVE.append((loss, *compiled))
            self._losses[space] = compiled
        return self._losses[space]

    def start(self, settings: AscentSettings) -> np.ndarray:
        """The starting point: uniform noise in [-1, 1] (image), or the mapped w of seed's z (W space)."""
        if settings.space == "image":
            r, c = self.D.img_resolution, self.D.img_channels
            return np.random.default_rng(settings.seed).uniform(-1.0, 1.0, (1, c, r, r)).astype(np.float32)
        z = np.random.RandomState(settings.seed).randn(1, self.G.z_dim).astype(np.float32)
        return self.G.mapping.mapped(ms.Tensor(z)).asnumpy().astype(np.float32)

    def run(self, settings: AscentSettings, progress=None) -> AscentResult:
        grad_fn, image_fn = self._compiled(settings.space)
        x = self.start(settings)
        adam = HostAdam([x.shape])
        result = AscentResult(settings)

        def snapshot(step: int, p_window: float, loss: float, logit: float) -> None:
            img = image_fn(ms.Tensor(x)).asnumpy()
            result.snapshots.append(Snapshot(step, _sigmoid(logit), p_window, loss, to_uint8(np.clip(img, -1, 1))))

        window = []
        for step in range(settings.steps + 1):
            (loss, logit), grad = grad_fn(ms.Tensor(x))
            loss_value, logit_value = float(loss.asnumpy()), float(logit.asnumpy())
            if not math.isfinite(loss_value):
                raise AscentError(f"the ascent loss became {loss_value} at step {step} (lower --lr?)")
            if step % settings.every == 0 or step == settings.steps:
                p_window = float(np.mean(window)) if window else _sigmoid(logit_value)
                snapshot(step, p_window, loss_value, logit_value)
                window = []
            if step == settings.steps:
                break
            window.append(_sigmoid(logit_value))
            adam.step([x], [grad.asnumpy()], settings.lr)
            if progress is not None:
                progress(step, _sigmoid(logit_value))
        return result


def _sigmoid(v: float) -> float:
    return float(1.0 / (1.0 + math.exp(-v))) if v >= 0 else float(math.exp(v) / (1.0 + math.exp(v)))

"""StyleGAN2's regularisers (NVlabs `training/loss.py`, `StyleGAN2Loss`); the adversarial terms are the
non-saturating logistic losses of `losses/gan.py` (`logistic_g_loss`, `logistic_d_loss`).

- R1 (Mescheder et al. 2018), on real images: `r1_penalty(∂ Σ D(x) / ∂x) = Σ_CHW (∂D/∂x)²` per sample; the
  loss is `mean(penalty) · γ/2`, times the lazy interval (NVlabs' phase `gain`).
- Path length (Karras et al. 2020): for pl_noise ~ N(0, 1) / √(H·W),
  `lengths = √(mean_layers Σ_w (∂ Σ (G(ws)·pl_noise) / ∂ws)²)` per sample; the running mean
  `pl_mean ← pl_mean + decay · (mean(lengths) − pl_mean)` is taken *before* the penalty and stays in its graph,
  as NVlabs computes it (`pl_mean = self.pl_mean.lerp(pl_lengths.mean(), pl_decay)`, not detached), and
  `penalty = (lengths − pl_mean)²`; the loss is `mean(penalty) · pl_weight`, times the lazy interval.

Gradients of these are second-order: the callers take the inner gradient with `ms.grad` inside the jit-compiled
update (MindSpore 2.8's PyNative mode returns zero second-order gradients through some ops, e.g. `ops.tile`).
"""
from __future__ import annotations

import math

from mindspore import ops


def r1_penalty(real_grads):
    """Σ over (C, H, W) of the squared gradient of Σ D(real) w.r.t. the real images: [N]."""
    return ops.square(real_grads).sum(axis=(1, 2, 3))


def path_lengths(ws_grads):
    """√(mean over layers of Σ over w_dim of the squared gradient) for ws gradients [N, num_ws, w_dim]: [N]."""
    return ops.sqrt(ops.square(ws_grads).sum(axis=2).mean(axis=1))


def path_length_mean(pl_mean, lengths, decay: float):
    """The updated running mean `lerp(pl_mean, mean(lengths), decay)` (differentiable in lengths)."""
    return pl_mean + decay * (lengths.mean() - pl_mean)


def path_length_penalty(lengths, pl_mean):
    """(lengths − pl_mean)²: [N]."""
    return ops.square(lengths - pl_mean)


def pl_noise_scale(height: int, width: int) -> float:
    """pl_noise = randn(image shape) · this, so Σ (image · pl_noise) has unit variance per unit image change."""
    return 1.0 / math.sqrt(height * width)

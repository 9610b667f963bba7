"""Generic GAN losses, as MindSpore ops on discriminator outputs of any shape.

Each adversarial loss comes as a D/G pair written in the junyanz pix2pix/CycleGAN style (`GANLoss(mode)` applied
to D's output with target "real" or "fake"), plus the per-target term it is built from. Notation: `real` = D(x)
on data, `fake` = D(G(z)) on generated samples, `mean` = the mean over every element (batch and spatial
positions, as PatchGAN outputs are), `softplus(x) = log(1 + e^x)`, `sigmoid(x) = 1 / (1 + e^-x)`.

All functions are graph-mode safe: tensor ops only, no NumPy and no branching on tensor values, so they can be
called inside `ms.jit` train steps. Softplus is written as `max(x, 0) + log1p(e^-|x|)`, exact and finite for
logits of any size (the textbook log(1 + e^x) overflows to inf for x above ~88 in float32).
"""
from __future__ import annotations

from typing import Sequence

from mindspore import ops

# Probabilities are clamped to [eps, 1 - eps] before the log, so a saturated sigmoid (p = 0 or 1) gives a finite
# loss and gradient. 1e-7 is about the smallest eps with 1 - eps < 1 in float32 (spacing below 1 is 6e-8); with
# less, 1 - eps rounds to 1 and log(1 - p) is -inf again. A saturated term then costs -log(1e-7) = 16.1.
BCE_EPS = 1e-7


def softplus(x):
    """log(1 + e^x), overflow-free: max(x, 0) + log1p(e^-|x|)."""
    return ops.relu(x) + ops.log1p(ops.exp(-ops.abs(x)))


def l1_loss(a, b):
    """Mean absolute error: mean(|a - b|)."""
    return ops.mean(ops.abs(a - b))


def mse_loss(a, b):
    """Mean squared error: mean((a - b)^2)."""
    return ops.mean(ops.square(a - b))


# --- LSGAN (Mao et al. 2017) ----------------------------------------------------------------------------------

def lsgan_loss(pred, target: float):
    """LSGAN term for one target value: mean((pred - target)^2) (junyanz GANLoss('lsgan'): MSE to 1 or 0)."""
    return ops.mean(ops.square(pred - target))


def lsgan_d_loss(real, fake, scale: float = 1.0):
    """LSGAN discriminator loss: scale * (mean((real - 1)^2) + mean(fake^2)).

    junyanz pix2pix/CycleGAN halve it (`loss_D = (loss_D_real + loss_D_fake) * 0.5`): pass scale=0.5.
    """
    return scale * (lsgan_loss(real, 1.0) + lsgan_loss(fake, 0.0))


def lsgan_g_loss(fake):
    """LSGAN generator loss: mean((fake - 1)^2)."""
    return lsgan_loss(fake, 1.0)


# --- vanilla GAN: binary cross-entropy (Goodfellow et al. 2014, non-saturating G) -----------------------------

def bce_logits_loss(logits, target: float):
    """BCE of sigmoid(logits) against `target` in [0, 1]: mean(softplus(logits) - target * logits)
    (= mean(-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x))), as torch's BCEWithLogitsLoss, overflow-free)."""
    return ops.mean(softplus(logits) - target * logits)


def vanilla_d_loss(real_logits, fake_logits, scale: float = 1.0):
    """Vanilla discriminator loss on logits: scale * (BCE(real, 1) + BCE(fake, 0))
    = scale * (mean(softplus(-real)) + mean(softplus(fake))). junyanz GANLoss('vanilla') with scale=0.5."""
    return scale * (bce_logits_loss(real_logits, 1.0) + bce_logits_loss(fake_logits, 0.0))


def vanilla_g_loss(fake_logits):
    """Vanilla (non-saturating) generator loss on logits: BCE(fake, 1) = mean(softplus(-fake))."""
    return bce_logits_loss(fake_logits, 1.0)


def bce_probs_loss(probs, target: float, eps: float = BCE_EPS):
    """BCE of probabilities (a sigmoid head's output) against `target`:
    mean(-t log(p) - (1 - t) log(1 - p)) with p clamped to [eps, 1 - eps], so p = 0 or 1 gives a finite loss
    and gradient. Prefer `bce_logits_loss` where the logits are available: it is exact without clamping."""
    p = ops.clamp(probs, eps, 1.0 - eps)
    return ops.mean(-target * ops.log(p) - (1.0 - target) * ops.log(1.0 - p))


def vanilla_probs_d_loss(real_probs, fake_probs, scale: float = 1.0, eps: float = BCE_EPS):
    """Vanilla discriminator loss on probabilities: scale * (mean(-log(real)) + mean(-log(1 - fake))), clamped."""
    return scale * (bce_probs_loss(real_probs, 1.0, eps) + bce_probs_loss(fake_probs, 0.0, eps))


def vanilla_probs_g_loss(fake_probs, eps: float = BCE_EPS):
    """Vanilla (non-saturating) generator loss on probabilities: mean(-log(fake)), clamped."""
    return bce_probs_loss(fake_probs, 1.0, eps)


# --- hinge (Lim & Ye 2017; SAGAN, BigGAN) ---------------------------------------------------------------------

def hinge_d_loss(real, fake):
    """Hinge discriminator loss: mean(relu(1 - real)) + mean(relu(1 + fake))."""
    return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))


def hinge_g_loss(fake):
    """Hinge generator loss: -mean(fake)."""
    return -ops.mean(fake)


# --- non-saturating logistic (StyleGAN2's `StyleGAN2Loss`) -----------------------------------------------------

def logistic_d_loss(real_logits, fake_logits):
    """StyleGAN2 discriminator loss (R1 penalty not included): mean(softplus(fake)) + mean(softplus(-real)).
    Equal to `vanilla_d_loss` at scale 1; named for code ported from StyleGAN2."""
    return ops.mean(softplus(fake_logits)) + ops.mean(softplus(-real_logits))


def logistic_g_loss(fake_logits):
    """StyleGAN2 generator loss: mean(softplus(-fake)) (equal to `vanilla_g_loss`)."""
    return ops.mean(softplus(-fake_logits))


# --- pix2pixHD feature matching -------------------------------------------------------------------------------

def feature_matching_loss(fake_outputs: Sequence[Sequence], real_outputs: Sequence[Sequence], n_layers: int):
    """pix2pixHD's discriminator feature-matching loss (Wang et al. 2018, `pix2pixHD_model.py`):

        sum_i sum_j (1 / num_D) * (4 / (n_layers + 1)) * L1(fake_ij, stop_gradient(real_ij))

    `fake_outputs[i]` / `real_outputs[i]`: the intermediate outputs of discriminator i (of `num_D` =
    len(fake_outputs) multi-scale discriminators), its final prediction last; j runs over all but that last one.
    `n_layers` is the discriminators' n_layers_D. The real features are constants (no gradient reaches D or the
    data through this loss). pix2pixHD multiplies the result by lambda_feat (10); that weight is the caller's.
    """
    num_d = len(fake_outputs)
    if num_d == 0 or num_d != len(real_outputs):
        raise ValueError(f"feature matching needs outputs of the same discriminators, got {num_d} fake and "
                         f"{len(real_outputs)} real")
    weight = (1.0 / num_d) * (4.0 / (n_layers + 1))
    total = 0.0
    for fake_feats, real_feats in zip(fake_outputs, real_outputs):
        for fake_j, real_j in zip(fake_feats[:-1], real_feats[:-1]):
            total = total + weight * l1_loss(fake_j, ops.stop_gradient(real_j))
    return total

"""AnimeGANv2-specific losses (official `tools/ops.py` / `AnimeGANv2.py`), as MindSpore ops on NCHW tensors: the
four-term discriminator loss, YUV colour, Huber, Gram/style, content and total variation. The generic adversarial
losses (LSGAN, BCE, hinge, ...) and L1 live in `losses/gan.py`.

All functions are graph-mode safe: tensor ops only, shapes read from static `.shape`, no Python branching on
tensor values and no NumPy, so they can be called inside `ms.jit` train steps. Every reduction is a mean, as in
the official TensorFlow code (the public MindSpore port's `SmoothL1Loss()` defaults to reduction='none').
"""
from __future__ import annotations

import mindspore as ms
from mindspore import ops

from mindspore_impl.losses.gan import l1_loss, lsgan_loss

# tf.image.rgb_to_yuv's kernel (tensorflow/python/ops/image_ops_impl.py, `_rgb_to_yuv_kernel`), rows = R, G, B
# inputs, columns = Y, U, V outputs.
RGB_TO_YUV_KERNEL = (
    (0.299, -0.14714119, 0.61497538),
    (0.587, -0.28886916, -0.51496512),
    (0.114, 0.43601035, -0.10001026),
)
HUBER_DELTA = 1.0


def animegan_d_loss(real, fake, gray, smooth, w_real, w_fake, w_gray, w_smooth):
    """AnimeGANv2's discriminator loss: four LSGAN terms, weighted and summed,

        w_real mean((real - 1)^2) + w_fake mean(fake^2) + w_gray mean(gray^2) + w_smooth mean(smooth^2)

    real: D(anime) -> 1; fake: D(G(photo)) -> 0; gray: D(grey anime) -> 0; smooth: D(grey edge-smoothed anime) -> 0.
    (The generator's adversarial term is plain LSGAN: `losses.gan.lsgan_g_loss`.)
    """
    return (w_real * lsgan_loss(real, 1.0) + w_fake * lsgan_loss(fake, 0.0)
            + w_gray * lsgan_loss(gray, 0.0) + w_smooth * lsgan_loss(smooth, 0.0))


def huber_loss(a, b, delta: float = HUBER_DELTA):
    """Mean Huber loss as tf.losses.huber_loss: 0.5 d^2 for |d| <= delta, else delta (|d| - 0.5 delta)."""
    err = ops.abs(a - b)
    quad = ops.minimum(err, delta)  # written branch-free: the quadratic part is capped at delta
    return ops.mean(0.5 * ops.square(quad) + delta * (err - quad))


def content_loss(feat_a, feat_b):
    """Content loss: L1 mean between two VGG feature maps (conv4_4, pre-ReLU)."""
    return l1_loss(feat_a, feat_b)


def gram(x):
    """Per-sample Gram matrix of NCHW features: (B, C, C) = F F^T / (H W C) with F the (B, C, H W) reshape."""
    b, c, h, w = x.shape
    feats = ops.reshape(x, (b, c, h * w))
    return ops.BatchMatMul(transpose_b=True)(feats, feats) / float(h * w * c)


def style_loss(feat_style, feat_fake):
    """Style loss: L1 mean between the Gram matrices of two feature maps (per sample)."""
    return l1_loss(gram(feat_style), gram(feat_fake))


def rgb_to_yuv(x):
    """tf.image.rgb_to_yuv of (x + 1) / 2 for NCHW RGB x in [-1, 1]; returns NCHW with Y, U, V channels."""
    kernel = ms.Tensor(RGB_TO_YUV_KERNEL, x.dtype)  # (3 in, 3 out)
    rgb = (x + 1.0) * 0.5
    r, g, bl = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return ops.concat([r * kernel[0, i] + g * kernel[1, i] + bl * kernel[2, i] for i in range(3)], axis=1)


def color_loss(photo, fake):
    """Colour loss in YUV: L1 on Y + Huber on U + Huber on V (delta 1, means)."""
    a, b = rgb_to_yuv(photo), rgb_to_yuv(fake)
    return (l1_loss(a[:, 0:1], b[:, 0:1]) + huber_loss(a[:, 1:2], b[:, 1:2])
            + huber_loss(a[:, 2:3], b[:, 2:3]))


def tv_loss(x):
    """Total variation, official form l2_loss(dh)/size(dh) + l2_loss(dw)/size(dw) = 0.5 mean(dh^2) + 0.5 mean(dw^2)."""
    dh = x[:, :, :-1, :] - x[:, :, 1:, :]
    dw = x[:, :, :, :-1] - x[:, :, :, 1:]
    return 0.5 * ops.mean(ops.square(dh)) + 0.5 * ops.mean(ops.square(dw))

"""The MindSpore AnimeGANv2 port, written down independently of our network: its parameter names and shapes, random
weights saved as its files are (both namings), and a NumPy formulation of its generator and of its VGG19-BN.

Everything here follows the port's source (`src/models/{generator,conv2d_block,inverted_residual_block,upsample,
instance_norm_2d}.py`, `src/losses/vgg19.py`) and MindSpore's documented pad_mode='same' and ResizeBilinear
semantics; nothing is imported from mindspore_impl, so a shared misunderstanding cannot hide in both sides.
"""
from __future__ import annotations

import math

import numpy as np

TRAINING_PREFIX = "train_one_step_cell_d.network.generator."
STATS = ("gamma", "beta", "moving_mean", "moving_variance")


def port_sequence(c: int = 32) -> list[tuple]:
    """The port's `Generator(channels=c).generator` cells in order: (kind, in, out, kernel, stride)."""
    return [("block", 3, c, 7, 1), ("block", c, 2 * c, 3, 2), ("block", 2 * c, 4 * c, 3, 2),
            ("block", 4 * c, 4 * c, 3, 1), ("block", 4 * c, 4 * c, 3, 1),
            ("irb", 4 * c, 8 * c), ("irb", 8 * c, 8 * c), ("irb", 8 * c, 8 * c), ("irb", 8 * c, 8 * c),
            ("block", 8 * c, 4 * c, 3, 1), ("up", 4 * c, 4 * c), ("block", 4 * c, 4 * c, 3, 1),
            ("up", 4 * c, 2 * c), ("block", 2 * c, 2 * c, 3, 1), ("block", 2 * c, c, 7, 1),
            ("conv", c, 3), ("tanh",)]


def port_shapes(c: int = 32) -> dict[str, tuple]:
    """Bare parameter names (`generator.<i>....`) and shapes of the port's generator."""
    shapes: dict[str, tuple] = {}

    def norm(prefix, ch):
        for stat in STATS:
            shapes[f"{prefix}.{stat}"] = (ch,)

    for i, layer in enumerate(port_sequence(c)):
        p = f"generator.{i}"
        kind = layer[0]
        if kind == "block":
            _, cin, cout, k, _ = layer
            shapes[f"{p}.conv.weight"] = (cout, cin, k, k)
            norm(f"{p}.ins_norm", cout)
        elif kind == "irb":
            _, cin, cout = layer
            mid = 2 * cin
            shapes[f"{p}.conv_block.conv.weight"] = (mid, cin, 1, 1)
            norm(f"{p}.conv_block.ins_norm", mid)
            shapes[f"{p}.depthwise_conv.weight"] = (mid, 1, 3, 3)
            shapes[f"{p}.conv.weight"] = (cout, mid, 1, 1)
            norm(f"{p}.ins_norm1", mid)
            norm(f"{p}.ins_norm2", cout)
        elif kind == "up":
            _, cin, cout = layer
            shapes[f"{p}.conv.weight"] = (cout, cin, 3, 3)
        elif kind == "conv":
            _, cin, cout = layer
            shapes[f"{p}.weight"] = (cout, cin, 1, 1)
    return shapes


def random_port_weights(c: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights in the port's bare names: He-scaled convs, gamma/beta away from 1/0 (so their use is
    tested), and moving statistics far from 0/1 (the port stores but never uses them)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in port_shapes(c).items():
        if name.endswith("weight"):
            fan_in = math.prod(shape[1:])
            value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif name.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("beta"):
            value = rng.normal(0.0, 0.3, shape)
        else:  # moving statistics
            value = rng.uniform(3.0, 5.0, shape)
        out[name] = value.astype(np.float32)
    return out


def save_port_checkpoint(weights: dict[str, np.ndarray], path, training_wrapper: bool) -> None:
    """Write `weights` as the port's files are written: `mindspore.save_checkpoint` of its parameters under their
    names; the names carry the training wrapper's prefix when `training_wrapper` (its train.py's netG files)."""
    import mindspore as ms

    prefix = TRAINING_PREFIX if training_wrapper else ""
    ms.save_checkpoint([{"name": prefix + k, "data": ms.Tensor(v)} for k, v in weights.items()], str(path))


# ------------------------------------------------------------------------------------------------ NumPy maths

def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """MindSpore pad_mode='same': ceil(n/s) outputs, total padding max((out-1)s + k - n, 0), the odd one after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv_same(x: np.ndarray, w: np.ndarray, stride: int = 1, groups: int = 1) -> np.ndarray:
    """NCHW conv, OIHW weights, no bias, zero 'same' padding."""
    k = w.shape[2]
    (t, b), (l, r) = same_pads(x.shape[2], k, stride), same_pads(x.shape[3], k, stride)
    return conv_valid(np.pad(x, ((0, 0), (0, 0), (t, b), (l, r))), w, stride, groups)


def conv_valid(xp: np.ndarray, w: np.ndarray, stride: int = 1, groups: int = 1) -> np.ndarray:
    """NCHW conv without padding, OIHW weights, no bias."""
    n = xp.shape[0]
    cout, cin_g, k, _ = w.shape
    oh, ow = (xp.shape[2] - k) // stride + 1, (xp.shape[3] - k) // stride + 1
    out = np.zeros((n, cout, oh, ow))
    per_group = cout // groups
    for g in range(groups):
        xs = xp[:, g * cin_g:(g + 1) * cin_g]
        ws = w[g * per_group:(g + 1) * per_group]
        for i in range(k):
            for j in range(k):
                patch = xs[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
                out[:, g * per_group:(g + 1) * per_group] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    return out


def instance_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)


def lrelu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.2 * x)


def resize_bilinear_tf1(x: np.ndarray, scale: int = 2, half_pixel: bool = False) -> np.ndarray:
    """TF1 `resize_bilinear(align_corners=False, half_pixel_centers=False)`: source = dest · in/out (asymmetric),
    the upper neighbour clamped at the last row/column. `half_pixel` gives the other convention (PyTorch's
    align_corners=False), for tests that must tell the two apart."""
    n, c, h, w = x.shape
    oh, ow = h * scale, w * scale

    def axis(size, out):
        src = np.arange(out) * (size / out)
        if half_pixel:
            src = np.clip((np.arange(out) + 0.5) * (size / out) - 0.5, 0, None)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        return lo, hi, src - lo

    y0, y1, fy = axis(h, oh)
    x0, x1, fx = axis(w, ow)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def port_generator_numpy(x: np.ndarray, weights: dict[str, np.ndarray], c: int, resize=resize_bilinear_tf1,
                         stride2_pads=None) -> np.ndarray:
    """The port's Generator on NCHW x (float64 maths), its 4·ceil(H/4) × 4·ceil(W/4) output cropped to H × W.

    `resize` and `stride2_pads` (a fixed (before, after) for the stride-2 convs instead of 'same') give the
    variants a test uses to show that its inputs tell those details apart."""
    wt = {k: v.astype(np.float64) for k, v in weights.items()}
    h = x.astype(np.float64)

    def block(h, p, stride):
        if stride == 2 and stride2_pads is not None:
            before, after = stride2_pads
            h = np.pad(h, ((0, 0), (0, 0), (before, after), (before, after)))
            y = conv_valid(h, wt[f"{p}.conv.weight"], stride)
        else:
            y = conv_same(h, wt[f"{p}.conv.weight"], stride)
        return lrelu(instance_norm(y, wt[f"{p}.ins_norm.gamma"], wt[f"{p}.ins_norm.beta"]))

    for i, layer in enumerate(port_sequence(c)):
        p = f"generator.{i}"
        kind = layer[0]
        if kind == "block":
            h = block(h, p, layer[4])
        elif kind == "irb":
            y = block(h, f"{p}.conv_block", 1)
            dw = wt[f"{p}.depthwise_conv.weight"]
            y = conv_same(y, dw, 1, groups=dw.shape[0])
            y = lrelu(instance_norm(y, wt[f"{p}.ins_norm1.gamma"], wt[f"{p}.ins_norm1.beta"]))
            y = conv_same(y, wt[f"{p}.conv.weight"])
            y = instance_norm(y, wt[f"{p}.ins_norm2.gamma"], wt[f"{p}.ins_norm2.beta"])
            h = y + h if layer[1] == layer[2] else y
        elif kind == "up":
            h = conv_same(resize(h), wt[f"{p}.conv.weight"])
        elif kind == "conv":
            h = conv_same(h, wt[f"{p}.weight"])
        else:
            h = np.tanh(h)
    return h[:, :, :x.shape[2], :x.shape[3]]


# ------------------------------------------------------------------------------------------------ its VGG19-BN

VGG_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512)


FULL_VGG19_BN = VGG_CONFIG + ("M", 512, 512, 512, 512, "M")


def vgg_conv_indices(config) -> list[tuple[int, int, int]]:
    """(SequentialCell index, in, out) of each conv of the port's `_make_layer(config, batch_norm=True)`: conv, BN,
    then a ReLU unless the conv is the config's last entry; 'M' is one max-pool."""
    found, i, cin = [], 0, 3
    for n, v in enumerate(config):
        if v == "M":
            i += 1
            continue
        found.append((i, cin, v))
        i += 2 if n == len(config) - 1 else 3
        cin = v
    return found


def port_vgg_weights(seed: int = 0, full_vgg19_bn: bool = True) -> dict[str, np.ndarray]:
    """Random `vgg.ckpt`-style weights (`layers.<i>.weight`, BN `layers.<i+1>.*`); with `full_vgg19_bn`, a whole
    VGG19-BN's layers (conv5 included) and a classifier entry, which the port's truncated network ignores."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, cin, cout in vgg_conv_indices(FULL_VGG19_BN if full_vgg19_bn else VGG_CONFIG):
        out[f"layers.{i}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (9 * cin))
                                     ).astype(np.float32)
        out[f"layers.{i + 1}.gamma"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        out[f"layers.{i + 1}.beta"] = rng.normal(0, 0.2, cout).astype(np.float32)
        out[f"layers.{i + 1}.moving_mean"] = rng.normal(0, 0.5, cout).astype(np.float32)
        out[f"layers.{i + 1}.moving_variance"] = rng.uniform(0.5, 2.0, cout).astype(np.float32)
    if full_vgg19_bn:
        out["classifier.0.weight"] = rng.standard_normal((16, 8)).astype(np.float32)
        out["classifier.0.bias"] = rng.standard_normal(16).astype(np.float32)
    return out


def port_vgg_numpy(x: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """The port's truncated VGG19-BN in eval mode (moving statistics, eps 1e-5) on raw [-1, 1] RGB: conv4_4+BN."""
    h, i = x.astype(np.float64), 0
    for n, v in enumerate(VGG_CONFIG):
        if v == "M":
            b, c, hh, ww = h.shape
            h = h[:, :, :hh // 2 * 2, :ww // 2 * 2].reshape(b, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
            i += 1
            continue
        h = conv_same(h, weights[f"layers.{i}.weight"].astype(np.float64))
        bn = {s: weights[f"layers.{i + 1}.{s}"].astype(np.float64) for s in STATS}
        h = (h - bn["moving_mean"].reshape(1, -1, 1, 1)) / np.sqrt(bn["moving_variance"].reshape(1, -1, 1, 1) + 1e-5)
        h = h * bn["gamma"].reshape(1, -1, 1, 1) + bn["beta"].reshape(1, -1, 1, 1)
        last = n == len(VGG_CONFIG) - 1
        if not last:
            h = np.maximum(h, 0)
        i += 2 if last else 3
    return h

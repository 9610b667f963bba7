"""The layer vocabulary shared by every generator and discriminator.

Every block here is written so that (a) it runs in MindSpore graph and PyNative mode, and (b) `export/` can emit it
as ONNX: each leaf Cell type below has exactly one ONNX converter there, and composite Cells (ConvNormAct,
InvertedResidual, ...) are traced through their own `construct`. Keep Python shape arithmetic inside the leaves
(Upsample, Pad2d) so composite `construct`s stay traceable.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import mindspore as ms
from mindspore import nn, ops, Parameter, Tensor
from mindspore.common import dtype as mstype
from mindspore.common.initializer import initializer, HeNormal, Normal, Zero, One


# ----------------------------------------------------------------------------------------------------------------
# Padding

PAD_MODES = ("reflect", "zero", "replicate")


class Pad2d(nn.Cell):
    """Spatial padding `(left, right, top, bottom)` in reflect / zero / replicate mode.

    A separate Cell (not the conv's own padding) because TF's stride-2 "SAME" convs pad bottom/right only, and
    because MindSpore's exporter cannot emit MirrorPad: ours emits ONNX `Pad(mode=...)`.
    """

    def __init__(self, padding: Sequence[int], mode: str = "reflect"):
        super().__init__()
        if mode not in PAD_MODES:
            raise ValueError(f"unknown pad mode '{mode}'; choose from {list(PAD_MODES)}")
        self.padding = tuple(int(p) for p in padding)
        self.mode = mode
        left, right, top, bottom = self.padding
        # Zero padding uses the Pad primitive: on MindSpore 2.8.0, the gradient of `ops.pad(mode="constant")`
        # inside an ms.jit graph comes out wrong from the second call on (tests/test_layers.py guards this).
        self._zero_pad = ops.Pad(((0, 0), (0, 0), (top, bottom), (left, right))) if mode == "zero" else None

    def construct(self, x):
        if self._zero_pad is not None:
            return self._zero_pad(x)
        return ops.pad(x, self.padding, mode=self.mode)


def same_padding(kernel: int, stride: int):
    """TF 'SAME' padding for inputs divisible by the stride: the odd pixel goes bottom/right.

    k=3,s=2 → (0, 1) as the official AnimeGANv2 `Conv2D` pads; k=7,s=1 → (3, 3).
    """
    total = max(kernel - stride, 0)
    before = total // 2
    return before, total - before


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero padding of one axis of `size` pixels under MindSpore's / TF's pad_mode 'same'.

    The output has ceil(size / stride) pixels; the total padding is max((out - 1)·stride + kernel - size, 0),
    of which the odd pixel goes after (bottom/right). For stride 1 that is (kernel - 1) whatever the size; for
    stride 2 and kernel 3 it is (0, 1) on even sizes but (1, 1) on odd ones.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SamePad2d(nn.Cell):
    """Zero padding that reproduces a conv's pad_mode='same' exactly, at any input size (odd ones included).

    Why a Cell of its own: for stride > 1 the padding depends on the input size (see `same_pads`), which a fixed
    Pad2d cannot express; the MindSpore AnimeGANv2 port's stride-2 convs pad (1, 1) on odd sizes and (0, 1) on
    even ones. The padding is computed from the (static) input shape here and from the runtime shape in ONNX, so
    one exported graph serves every size. For stride 1 the padding is fixed: `same_zero_pad` builds a Pad2d then.
    """

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        if kernel < 1 or stride < 1:
            raise ValueError(f"SamePad2d needs kernel >= 1 and stride >= 1, got kernel={kernel}, stride={stride}")
        self.kernel, self.stride = int(kernel), int(stride)

    def construct(self, x):
        top, bottom = same_pads(x.shape[2], self.kernel, self.stride)
        left, right = same_pads(x.shape[3], self.kernel, self.stride)
        # The Pad primitive, created for this shape (graph mode resolves it at compile time): ops.pad's constant
        # mode has a wrong gradient inside ms.jit on MindSpore 2.8.0 (see Pad2d).
        return ops.Pad(((0, 0), (0, 0), (top, bottom), (left, right)))(x)


def same_zero_pad(kernel: int, stride: int) -> nn.Cell | None:
    """The padding Cell of a pad_mode='same' conv: None for 1×1 stride-1 convs, a fixed zero Pad2d for stride 1
    (the padding does not depend on the size), else a SamePad2d."""
    if stride == 1:
        before, after = (kernel - 1) // 2, kernel // 2  # same_pads(size, kernel, 1) for every size
        return Pad2d((before, after, before, after), "zero") if before or after else None
    return SamePad2d(kernel, stride)


# ----------------------------------------------------------------------------------------------------------------
# Normalisation (all written as mean arithmetic: exportable and shape-agnostic)


class LayerNorm2d(nn.Cell):
    """TF `layer_norm(center, scale)` on NCHW: statistics over (C, H, W) per sample, per-channel γ/β.

    Equals PyTorch GroupNorm(1, C) up to eps (TF 1e-12, the PyTorch port 1e-5).
    """

    def __init__(self, channels: int, eps: float = 1e-12):
        super().__init__()
        self.eps = float(eps)
        self.gamma = Parameter(initializer(One(), (channels,), ms.float32), name="gamma")
        self.beta = Parameter(initializer(Zero(), (channels,), ms.float32), name="beta")

    def construct(self, x):
        mean = x.mean(axis=(1, 2, 3), keep_dims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=(1, 2, 3), keep_dims=True)
        y = centered * ops.rsqrt(var + self.eps)
        return y * self.gamma.reshape((1, -1, 1, 1)) + self.beta.reshape((1, -1, 1, 1))


class InstanceNorm2d(nn.Cell):
    """Instance norm (statistics over H, W per sample and channel), optional per-channel affine."""

    def __init__(self, channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.eps = float(eps)
        self.affine = affine
        if affine:
            self.gamma = Parameter(initializer(One(), (channels,), ms.float32), name="gamma")
            self.beta = Parameter(initializer(Zero(), (channels,), ms.float32), name="beta")

    def construct(self, x):
        mean = x.mean(axis=(2, 3), keep_dims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=(2, 3), keep_dims=True)
        y = centered * ops.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.gamma.reshape((1, -1, 1, 1)) + self.beta.reshape((1, -1, 1, 1))
        return y


class BatchNorm2d(nn.BatchNorm2d):
    """MindSpore BatchNorm (γ/β/moving_mean/moving_variance); export folds it into the preceding conv."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.9):
        super().__init__(channels, eps=eps, momentum=momentum)


def sample_mixing_layers(net: nn.Cell) -> list[tuple[str, str]]:
    """(path, class name) of every layer in `net` whose training-mode output for one sample depends on the other
    samples of the batch: BatchNorm using batch statistics, and any Cell declaring `mixes_samples = True`
    (e.g. StyleGAN2's minibatch standard deviation). Micro-batching is inexact for such networks."""
    found = []
    for path, cell in net.cells_and_names():
        batch_norm = isinstance(cell, (nn.BatchNorm1d, nn.BatchNorm2d)) and cell.use_batch_statistics is not False
        if batch_norm or getattr(type(cell), "mixes_samples", False):
            found.append((path or type(net).__name__, type(cell).__name__))
    return found


NORMS = {
    "layer": lambda c, eps: LayerNorm2d(c, eps=eps),
    "instance": lambda c, eps: InstanceNorm2d(c, eps=eps),
    # PyTorch's InstanceNorm2d default (affine=False), as junyanz pix2pix/CycleGAN and pix2pixHD use it
    "instance_noaffine": lambda c, eps: InstanceNorm2d(c, eps=eps, affine=False),
    "batch": lambda c, eps: BatchNorm2d(c, eps=eps),
}


def per_image_batch_norm(net: nn.Cell) -> int:
    """Replace every BatchNorm2d in `net` by an affine InstanceNorm2d with its gamma, beta and eps: BatchNorm in
    training mode on a batch of one image, i.e. each image normalised by its own statistics (junyanz `test.py`
    without `--eval`). The moving statistics are dropped. Returns how many layers were replaced."""
    replaced = 0
    for parent in [net] + [cell for _, cell in net.cells_and_names()]:
        for name, child in list(parent.name_cells().items()):
            if isinstance(child, nn.BatchNorm2d):
                norm = InstanceNorm2d(child.gamma.shape[0], eps=child.eps, affine=True)
                norm.gamma.set_data(child.gamma.data.copy())
                norm.beta.set_data(child.beta.data.copy())
                if isinstance(parent, nn.SequentialCell):
                    parent[int(name)] = norm
                else:
                    setattr(parent, name, norm)
                replaced += 1
    return replaced


# ----------------------------------------------------------------------------------------------------------------
# Activations (leaf Cells with converters). The legacy nn.LeakyReLU builds Maximum(alpha*x, x), which traces fine.


class LeakyReLU(nn.Cell):
    def __init__(self, alpha: float = 0.2):
        super().__init__()
        self.alpha = float(alpha)

    def construct(self, x):
        return ops.maximum(x, x * self.alpha)


class ReLU(nn.Cell):
    def construct(self, x):
        return ops.relu(x)


class Tanh(nn.Cell):
    """tanh to float32 precision: -sign(x)·m/(2+m) with m = expm1(-2|x|), within 1.5e-7 of float64 tanh.

    Why not ops.tanh: MindSpore 2.8.0's CPU float32 tanh is a fast approximation up to 1.0e-4 off for |x| in
    [4, 6] (ops.exp alone is 6e-6 relative off), which is a generator's whole fp32 export tolerance on its own.
    The gradient is given explicitly as 1 - y² because d|x|/dx and sign(x) are 0 at x = 0.
    """

    def construct(self, x):
        m = ops.expm1(-2.0 * ops.abs(x))
        return -ops.sign(x) * m / (2.0 + m)

    def bprop(self, x, out, dout):
        return (dout * (1.0 - out * out),)


class Sigmoid(nn.Cell):
    def construct(self, x):
        return ops.sigmoid(x)


class Clamp(nn.Cell):
    """Elementwise clamp to [low, high] as `torch.clamp`; one bound may be None (that side stays open)."""

    def __init__(self, low: float | None = None, high: float | None = None):
        super().__init__()
        if low is None and high is None:
            raise ValueError("Clamp needs a low or a high bound (or both)")
        if low is not None and high is not None and not low <= high:
            raise ValueError(f"Clamp bounds must satisfy low <= high, got low={low}, high={high}")
        self.low = None if low is None else float(low)
        self.high = None if high is None else float(high)

    def construct(self, x):
        return ops.clamp(x, self.low, self.high)


ACTIVATIONS = {"lrelu": lambda: LeakyReLU(0.2), "relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


# ----------------------------------------------------------------------------------------------------------------
# Convolutions


def _init(name: str, shape, fan_in: int):
    """Weight initialisers by name: 'he' (TF variance_scaling default used by the AnimeGANv2 G), 'normal002'."""
    if name == "he":
        return initializer(HeNormal(mode="fan_in", nonlinearity="relu"), shape, ms.float32)
    if name == "normal002":
        return initializer(Normal(0.02), shape, ms.float32)
    raise ValueError(f"unknown init '{name}'")


class Conv2d(nn.Cell):
    """Unpadded ('valid') 2-D convolution, OIHW weights as PyTorch, optional bias, groups (depthwise)."""

    def __init__(self, in_ch, out_ch, kernel, stride=1, groups=1, bias=False, init="he"):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel, self.stride, self.groups = in_ch, out_ch, kernel, stride, groups
        fan_in = in_ch // groups * kernel * kernel
        self.weight = Parameter(_init(init, (out_ch, in_ch // groups, kernel, kernel), fan_in), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(initializer(Zero(), (out_ch,), ms.float32), name="bias")
        self._conv = ops.Conv2D(out_channel=out_ch, kernel_size=kernel, stride=stride, group=groups, pad_mode="valid")

    def effective_weight(self):
        return self.weight

    def construct(self, x):
        y = self._conv(x, self.effective_weight())
        if self.has_bias:
            y = y + self.bias.reshape((1, -1, 1, 1))
        return y


class SNConv2d(Conv2d):
    """Conv with spectral normalisation as in the official TF `spectral_norm` (one power iteration).

    In TF every `sess.run` that evaluates D computes u_hat from the stored u (all D calls of that run read the same
    old u) and then assigns u ← u_hat. Here `construct` is side-effect free (it normalises with the σ from the stored
    u), and `update_u()` performs the assignment; the trainer calls it once per update step, after the gradients
    and before the optimiser changes the weights. Keeping the assignment out of the differentiated graph is what
    makes graph mode (jit) and PyNative agree and resumes exact.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        u0 = np.random.default_rng(0).standard_normal((1, self.out_ch)).astype(np.float32)
        self.u = Parameter(Tensor(u0), name="u", requires_grad=False)
        self._normalize = ops.L2Normalize(axis=-1, epsilon=1e-12)

    def _power_iteration(self):
        # TF reshapes HWIO to (kh*kw*in, out); in OIHW that is W_mat = weight.reshape(out, -1).T
        w_mat = self.weight.reshape((self.out_ch, -1)).T  # (K, out)
        v = ops.stop_gradient(self._normalize(ops.matmul(self.u, w_mat.T)))  # (1, K)
        u_hat = ops.stop_gradient(self._normalize(ops.matmul(v, w_mat)))  # (1, out)
        sigma = ops.matmul(ops.matmul(v, w_mat), u_hat.T).reshape(())
        return u_hat, sigma

    def effective_weight(self):
        _, sigma = self._power_iteration()
        return self.weight / sigma

    def update_u(self):
        u_hat, _ = self._power_iteration()
        return ops.assign(self.u, u_hat)


class SpectralNormUpdate(nn.Cell):
    """Runs `update_u()` of every SNConv2d inside `net` (one power-iteration step for the whole network)."""

    def __init__(self, net: nn.Cell):
        super().__init__()
        self.layers = nn.CellList([c for _, c in net.cells_and_names() if isinstance(c, SNConv2d)])

    def construct(self):
        done = True
        for layer in self.layers:
            done = ops.depend(done, layer.update_u())
        return done


class ConvTranspose2d(nn.Cell):
    """Transposed convolution with PyTorch semantics (`nn.ConvTranspose2d`), as the pix2pix decoders use it.

    Weight `[in, out/groups, k, k]`; output size `(in - 1) * stride - 2 * padding + kernel + output_padding`.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, groups: int = 1, bias: bool = False, init: str = "normal002"):
        super().__init__()
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"channels ({in_ch}, {out_ch}) must be divisible by groups={groups}")
        if not 0 <= output_padding < max(stride, 1):
            raise ValueError(f"output_padding={output_padding} must be in [0, stride={stride})")
        self.in_ch, self.out_ch, self.kernel, self.stride = in_ch, out_ch, kernel, stride
        self.padding, self.output_padding, self.groups = padding, output_padding, groups
        shape = (in_ch, out_ch // groups, kernel, kernel)
        self.weight = Parameter(_init(init, shape, in_ch // groups * kernel * kernel), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(initializer(Zero(), (out_ch,), ms.float32), name="bias")
        # Conv2DTranspose is the input-gradient of a conv whose weight is ours; its output size is an argument,
        # which is also how output_padding (the extra bottom/right rows) is expressed. Its `out_channel` is that
        # conv's output channels, i.e. our *input* channels (weight dim 0): with out_ch there, forward still works
        # (the output size is explicit) but the gradient's Conv2D is built for the wrong width, so graph-mode
        # gradients fail to compile whenever in != out.
        self._deconv = ops.Conv2DTranspose(out_channel=in_ch, kernel_size=kernel, pad_mode="pad",
                                           pad=(padding,) * 4, stride=stride, group=groups)

    def output_size(self, size: int) -> int:
        return (size - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding

    def construct(self, x):
        n, h, w = x.shape[0], x.shape[2], x.shape[3]
        y = self._deconv(x, self.weight, (n, self.out_ch, self.output_size(h), self.output_size(w)))
        if self.has_bias:
            y = y + self.bias.reshape((1, -1, 1, 1))
        return y


class ConvNormAct(nn.Cell):
    """pad → conv → norm → activation, the unit most GAN generators are made of.

    padding: None → TF 'SAME' for the stride (bottom/right gets the odd pixel), an int → symmetric, or an explicit
    (left, right, top, bottom). Attribute names (pad, conv, norm, act) are the parameter-name prefixes.
    """

    def __init__(self, in_ch, out_ch, kernel=3, stride=1, padding=None, pad="reflect", norm="layer", act="lrelu",
                 bias=False, groups=1, eps=1e-12, sn=False, init="he"):
        super().__init__()
        if padding is None:
            before, after = same_padding(kernel, stride)
            padding = (before, after, before, after)
        elif isinstance(padding, int):
            padding = (padding,) * 4
        self.pad = Pad2d(padding, pad) if any(padding) else None
        conv_cls = SNConv2d if sn else Conv2d
        self.conv = conv_cls(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=bias, init=init)
        if norm not in (None, "none") and norm not in NORMS:
            raise ValueError(f"unknown norm '{norm}'; choose from {sorted(NORMS)} or 'none'")
        if act not in (None, "none") and act not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{act}'; choose from {sorted(ACTIVATIONS)} or 'none'")
        self.norm = NORMS[norm](out_ch, eps) if norm not in (None, "none") else None
        self.act = ACTIVATIONS[act]() if act not in (None, "none") else None

    def construct(self, x):
        if self.pad is not None:
            x = self.pad(x)
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class InvertedResidual(nn.Cell):
    """MobileNetV2 block of AnimeGANv2: 1×1 expand → depthwise 3×3 (with bias) → 1×1 project → norm (+ skip).

    No activation after the projection (linear bottleneck); the skip exists only when in == out channels.
    Sub-layer indices match the PyTorch port's `layers.{0,1,2,3}` so its weights map by a short rename table.
    """

    def __init__(self, in_ch, out_ch, expansion=2, eps=1e-12, pad="reflect"):
        super().__init__()
        hidden = int(round(in_ch * expansion))
        self.use_skip = in_ch == out_ch
        self.layers = nn.SequentialCell([
            ConvNormAct(in_ch, hidden, kernel=1, eps=eps, pad=pad),
            ConvNormAct(hidden, hidden, kernel=3, groups=hidden, bias=True, eps=eps, pad=pad),
            Conv2d(hidden, out_ch, 1),
            LayerNorm2d(out_ch, eps=eps),
        ])

    def construct(self, x):
        y = self.layers(x)
        if self.use_skip:
            y = x + y
        return y


# ----------------------------------------------------------------------------------------------------------------
# Pooling (PyTorch semantics: floor output size, padding at most half the kernel)


def as_pair(value, what: str) -> tuple[int, int]:
    """An int or an (h, w) pair of ints as an (h, w) tuple; anything else is a ValueError naming `what`."""
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{what} must be an int or an (h, w) pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _pool_geometry(kernel, stride, padding):
    """Validated ((kh, kw), (sh, sw), (ph, pw)); stride None means the kernel (PyTorch's default)."""
    kernel = as_pair(kernel, "pool kernel")
    stride = kernel if stride is None else as_pair(stride, "pool stride")
    padding = as_pair(padding, "pool padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"pool kernel {kernel} and stride {stride} must be >= 1, padding {padding} >= 0")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"pool padding {padding} must be at most half the kernel {kernel} (as in PyTorch)")
    return kernel, stride, padding


class AvgPool2d(nn.Cell):
    """Average pooling with PyTorch `nn.AvgPool2d` semantics (ceil_mode False, zero padding).

    kernel, stride (default: the kernel) and padding are ints or (h, w) pairs. count_include_pad=True divides
    every window by kh·kw; False divides each border window by its number of real (unpadded) pixels, as
    pix2pixHD's downsampler `AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)` does.
    """

    def __init__(self, kernel, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.kernel, self.stride, self.padding = _pool_geometry(kernel, stride, padding)
        self.count_include_pad = bool(count_include_pad)
        ph, pw = self.padding
        self._pads = (ph, ph, pw, pw)  # ops.avg_pool2d reads a 4-tuple as (top, bottom, left, right)

    def construct(self, x):
        # ops.avg_pool2d (AvgPool3D underneath) honours count_include_pad on CPU in graph and PyNative mode,
        # gradients included: tests/test_layers_pooling_dropout.py holds it to torch both ways.
        return ops.avg_pool2d(x, self.kernel, self.stride, self._pads, count_include_pad=self.count_include_pad)


class MaxPool2d(nn.Cell):
    """Max pooling with PyTorch `nn.MaxPool2d` semantics: padding never wins a max (it acts as -inf).

    kernel, stride (default: the kernel) and padding are ints or (h, w) pairs. Use this rather than MindSpore's
    `nn.MaxPool2d`, whose "same" mode pads TF-style and whose "pad" mode is a 3-D primitive.
    """

    def __init__(self, kernel, stride=None, padding=0):
        super().__init__()
        self.kernel, self.stride, self.padding = _pool_geometry(kernel, stride, padding)
        # Unpadded pools use the primitive of nn.MaxPool2d(pad_mode="valid"), so the VGG encoder computes exactly
        # what it computed before it switched to this Cell; padded ones go through MaxPoolWithArgmaxV2.
        self._valid_pool = (ops.MaxPool(kernel_size=self.kernel, strides=self.stride, pad_mode="valid")
                            if self.padding == (0, 0) else None)

    def construct(self, x):
        if self._valid_pool is not None:
            return self._valid_pool(x)
        return ops.max_pool2d(x, self.kernel, self.stride, self.padding)


# ----------------------------------------------------------------------------------------------------------------
# Dropout with a replayable mask

_U32 = 1 << 32
# The step seed every training-mode Dropout hashes with. A module-level Parameter, not a Cell attribute: it is in
# no checkpoint and no importer's name table, and graphs read its current value (see set_dropout_seed).
_DROPOUT_SEED = Parameter(Tensor(0, mstype.int64), name="layers.dropout_seed", requires_grad=False)


def set_dropout_seed(value: int) -> None:
    """Set the seed of every training-mode `Dropout` (the trainer calls this once per step, before the step).

    Eager `ops.assign` updates the parameter in place, so graphs compiled earlier see the new value; set_data would
    swap the storage under them and they would keep the old seed.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < _U32:
        raise ValueError(f"dropout seed must be an integer in [0, 2**32), got {value!r}")
    ops.assign(_DROPOUT_SEED, Tensor(int(value), mstype.int64))


def dropout_seed() -> int:
    """The seed `set_dropout_seed` last set (0 before any call)."""
    return int(_DROPOUT_SEED.asnumpy())


def _hash32(x):
    """A multiply-xorshift hash of int64 values in [0, 2**32), result in [0, 2**32).

    32-bit arithmetic emulated in int64 without overflow: operands stay below 2**32 and the odd multipliers below
    2**31, so every product is below 2**63 and `remainder` brings it back; `floor_divide` by 2**k is the right
    shift MindSpore lacks. Each multiplier mixes bits upwards, each xorshift brings the high bits back down.
    """
    x = ops.bitwise_xor(x, ops.floor_divide(x, 1 << 16))
    x = ops.remainder(x * 0x21F0AAAD, _U32)
    x = ops.bitwise_xor(x, ops.floor_divide(x, 1 << 15))
    x = ops.remainder(x * 0x735A2D97, _U32)
    return ops.bitwise_xor(x, ops.floor_divide(x, 1 << 16))


_SALT_OFFSET, _SECOND_ROUND = 0x68E31DA4, 0x1B56C4E9  # arbitrary: keep salt 0 and key 0 off the hash's fixed point 0


class Dropout(nn.Cell):
    """Inverted dropout (as torch: kept values scaled by 1/(1 - p)) whose mask is a pure function of
    (the step seed, this layer's `salt`, each element's flat position in the tensor).

    Why: MindSpore's own dropout draws from an RNG state that cannot be saved and restored (CPU random ops ignore
    `ms.set_rng_state`), so a resumed run would draw other masks; with a hashed mask, a run resumed at step t
    with the seed of step t is bit-exact. The trainer sets the seed per step with `set_dropout_seed`.

    Give distinct dropout layers of one network distinct salts: layers with the same salt and seed drop the same
    positions. For the same reason a layer called twice with the same shape and seed (micro-batches, data-parallel
    ranks fed the same seed) repeats its mask; fold the micro-batch index or rank into the seed where that matters.
    Inference (`training` False) and p = 0 are the exact identity. Positions are int64 element indices of the
    call's static shape, so tensors must have fewer than 2**32 elements.

    mask[i] = hash32(hash32(i ^ k1) ^ k2) >= round(p·2**32), with k1 = hash32(seed ^ hash32(salt ^ c1)) and
    k2 = hash32(k1 ^ c2); the second keyed round keeps masks of different keys from being XOR-permutations of one
    another.
    """

    def __init__(self, p: float = 0.5, salt: int = 0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
        if isinstance(salt, bool) or not isinstance(salt, (int, np.integer)) or not 0 <= salt < _U32:
            raise ValueError(f"dropout salt must be an integer in [0, 2**32), got {salt!r}")
        self.p, self.salt = float(p), int(salt)
        self.scale = 1.0 / (1.0 - self.p)
        self.threshold = int(round(self.p * _U32))  # drop where the hash is below it: P(drop) = p to 2**-32
        self._salt_key = _hash32(Tensor(self.salt ^ _SALT_OFFSET, mstype.int64))
        self._second_round = Tensor(_SECOND_ROUND, mstype.int64)

    def keep_mask(self, x):
        """1 where an element of a tensor shaped like `x` is kept, 0 where dropped (x's dtype)."""
        key = _hash32(ops.bitwise_xor(_DROPOUT_SEED, self._salt_key))
        second = _hash32(ops.bitwise_xor(key, self._second_round))
        positions = ops.arange(0, x.size, dtype=mstype.int64).reshape(x.shape)
        h = _hash32(ops.bitwise_xor(_hash32(ops.bitwise_xor(positions, key)), second))
        return ops.stop_gradient(ops.cast(h >= self.threshold, x.dtype))

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        return x * (self.keep_mask(x) * self.scale)


# ----------------------------------------------------------------------------------------------------------------
# Resampling and plumbing

UPSAMPLE_MODES = ("asymmetric", "align_corners", "half_pixel", "nearest")


class Upsample(nn.Cell):
    """×scale resize. Modes: 'asymmetric' (TF1 `resize_images` default, = ResizeBilinearV2 defaults),
    'align_corners' (the PyTorch AnimeGANv2 port), 'half_pixel' (PyTorch align_corners=False), 'nearest'.
    """

    def __init__(self, scale: int = 2, mode: str = "asymmetric"):
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsample mode '{mode}'; choose from {list(UPSAMPLE_MODES)}")
        self.scale = int(scale)
        self.mode = mode
        if mode == "nearest":
            self._resize = ops.ResizeNearestNeighborV2(align_corners=False, half_pixel_centers=False)
        else:
            self._resize = ops.ResizeBilinearV2(align_corners=mode == "align_corners",
                                                half_pixel_centers=mode == "half_pixel")

    def construct(self, x):
        h, w = x.shape[2], x.shape[3]
        return self._resize(x, (h * self.scale, w * self.scale))


class CropLike(nn.Cell):
    """`x[:, :, :H, :W]` with H, W the spatial size of a second tensor: crops a network's output back to its
    input's size (the MindSpore AnimeGANv2 port returns 4·ceil(H/4) × 4·ceil(W/4)). Exports as a Slice whose ends
    are read from the reference's runtime shape, so the graph keeps dynamic sides."""

    def construct(self, x, like):
        return x[:, :, :like.shape[2], :like.shape[3]]


class Identity(nn.Cell):
    """Passes its input through (a placeholder where a block is configured away)."""

    def construct(self, x):
        return x


class StopGradient(nn.Cell):
    """The identity in the forward pass, no gradient backwards (PyTorch's `x.detach()` inside a forward, as the
    BerserkMangaColoring CycleGenerator's long skip); exports as the identity."""

    def construct(self, x):
        return ops.stop_gradient(x)


class Flatten(nn.Cell):
    """[N, ...] → [N, prod(...)], keeping the batch axis (PyTorch `nn.Flatten()`'s default)."""

    def construct(self, x):
        return x.reshape((x.shape[0], -1))


class Concat(nn.Cell):
    def __init__(self, axis: int = 1):
        super().__init__()
        self.axis = axis

    def construct(self, *xs):
        return ops.concat(xs, self.axis)


# ----------------------------------------------------------------------------------------------------------------
# Dense, label embedding and reshape (ACGAN / StyleGAN-style heads)

class Dense(nn.Cell):
    """Fully connected layer `y = x W^T + b` on the last axis; weight `[out, in]` as PyTorch `nn.Linear`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "normal002"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_init(init, (out_features, in_features), in_features), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(initializer(Zero(), (out_features,), ms.float32), name="bias")

    def construct(self, x):
        y = ops.matmul(x, self.weight.T)
        if self.has_bias:
            y = y + self.bias
        return y


class Embedding(nn.Cell):
    """Lookup table for integer labels (ACGAN's class embedding); the parameter is named like MindSpore's own
    `nn.Embedding` (`embedding_table`) so the PyTorch rename table is the usual `weight → embedding_table`."""

    def __init__(self, num_embeddings: int, dim: int, sigma: float = 1.0):
        super().__init__()
        self.num_embeddings, self.dim = num_embeddings, dim
        self.embedding_table = Parameter(initializer(Normal(sigma), (num_embeddings, dim), ms.float32),
                                         name="embedding_table")

    def construct(self, ids):
        return ops.gather(self.embedding_table, ids, 0)


class Reshape(nn.Cell):
    """Reshape to a fixed target such as `(-1, C, 4, 4)` (a latent vector to a feature map); one -1 allowed.

    Zero sizes are refused: ONNX Reshape reads 0 as "copy this axis", MindSpore does not.
    """

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if any(s == 0 or s < -1 for s in self.shape) or self.shape.count(-1) > 1:
            raise ValueError(f"reshape target {self.shape} must have positive sizes and at most one -1")

    def construct(self, x):
        return x.reshape(self.shape)


def count_params(net: nn.Cell, trainable_only: bool = True) -> int:
    params = net.trainable_params() if trainable_only else net.get_parameters()
    return int(sum(math.prod(p.shape) for p in params))

"""StyleGAN2-ADA networks (NVlabs stylegan2-ada-pytorch `training/networks.py`) in MindSpore.

- **Mapping:** z → 2nd-moment normalisation (→ concat with the embedded, normalised label c) → `num_layers`
  equalised-lr fully connected layers (lr multiplier 0.01, leaky ReLU with gain √2) → w, broadcast to the
  `num_ws` layer inputs; `w_avg` (a buffer) is the running mean of w used by truncation, `w_avg + psi (w - w_avg)`.
- **Synthesis:** a learned constant 4×4 input, then per resolution a block of modulated/demodulated 3×3 convs
  (the first one upsampling ×2 by a transposed conv and the [1,3,3,1] FIR filter), each with per-pixel noise
  (`noise_strength` × a random map in training, × the stored `noise_const` buffer in inference), bias, leaky ReLU
  and the `conv_clamp`, and a toRGB layer whose output is added to the FIR-upsampled image of the block before
  (the "skip" architecture).
- **Discriminator:** the "resnet" (or "orig") architecture: fromRGB at the top resolution, per block two 3×3
  convs, the second downsampling by the FIR filter and a stride-2 conv, plus a 1×1 downsampling skip scaled by
  √0.5; the epilogue appends the minibatch standard deviation, then a conv, two fully connected layers and, with
  labels, the projection onto the mapped label.

Parameter names are NVlabs' state-dict names (`mapping.fc0.weight`, `synthesis.b8.conv0.affine.bias`,
`b64.skip.weight`, ...): the layers below keep their parameters themselves and pass them to parameter-free
leaves, so `weights/stylegan2_pkl.py` maps a pickle by an identity table that only drops the FIR-filter buffers.

Modulation is NVlabs' non-fused path (activations scaled by the styles around one shared-weight conv, then by the
demodulation coefficients), so the exported batch stays dynamic; the demodulation coefficients are computed as
`rsqrt(styles² @ Σ_k weight² + 1e-8)`, the same sum as NVlabs' `(w·s)².sum()` without building per-sample
weights. Everything runs in float32 (NVlabs runs its top 4 resolutions in float16 on GPUs; see docs).

Every parameter-free leaf (`Normalize2ndMoment`, `FullyConnected`, `BiasAct`, `Upfirdn2d`, `EqualizedConv2d`,
`ModulatedConv2d`, `NoiseInjection`, `ConstInput`, `RepeatW`, `SelectW`, `MinibatchStd`, `LabelProjection`)
has an ONNX converter in export/converters.py and a parity test in tests/test_stylegan2_layers.py.
"""
from __future__ import annotations

import math
from typing import Sequence

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Normal, initializer

from mindspore_impl import layers
from mindspore_impl.registry import MODELS
from runtime.interface import Interface, Port

# ------------------------------------------------------------------------------------------------ constants

SQRT2 = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)
LRELU_ALPHA = 0.2
# bias_act's activations: name → default gain (NVlabs `activation_funcs[...].def_gain`).
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": SQRT2}
DEFAULT_FILTER = (1, 3, 3, 1)
G_ARCHITECTURES = ("skip",)
D_ARCHITECTURES = ("resnet", "orig")


def setup_filter(taps: Sequence[float] = DEFAULT_FILTER, separable: bool | None = None) -> np.ndarray:
    """NVlabs `upfirdn2d.setup_filter`: normalised to unit DC gain; 1-D taps become their outer product unless
    separable (default: separable from 8 taps on, as NVlabs chooses)."""
    f = np.asarray(taps, np.float64)
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.size >= 8
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    return (f / f.sum()).astype(np.float32)


def num_ws_for(resolution: int) -> int:
    """Per-layer w inputs of a skip synthesis network: one per conv plus the last toRGB (14 at 256²)."""
    return 2 * int(math.log2(resolution)) - 2


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


def _randn(*shape, std: float = 1.0):
    """torch.randn(shape) * std, from MindSpore's seeded initializer (runs with one train.seed start alike)."""
    return initializer(Normal(sigma=std), shape, ms.float32)


# ------------------------------------------------------------------------------------------------ leaves

class Normalize2ndMoment(nn.Cell):
    """x · rsqrt(mean(x², axis 1) + eps): z (and the embedded label) get unit second moment per sample."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = float(eps)

    def construct(self, x):
        return x * ops.rsqrt(ops.square(x).mean(axis=1, keep_dims=True) + self.eps)


def bias_act(x, bias, activation: str, gain: float, clamp: float | None):
    """NVlabs `bias_act` (reference path): + bias on axis 1, activation, × gain, clamp to ±clamp."""
    if bias is not None:
        x = x + (bias.reshape((1, -1, 1, 1)) if x.ndim == 4 else bias.reshape((1, -1)))
    if activation == "lrelu":
        x = ops.maximum(x, x * LRELU_ALPHA)
    if gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = ops.clamp(x, -clamp, clamp)
    return x


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATION_GAINS:
        raise ValueError(f"unknown activation '{activation}'; choose from {sorted(ACTIVATION_GAINS)}")


class BiasAct(nn.Cell):
    """`construct(x, bias=None)`: bias on axis 1, then `activation` ('linear' or 'lrelu' with slope 0.2), × gain
    (None: the activation's default, √2 for lrelu), then clamp to ±clamp (None: no clamp). The bias is the owning
    layer's parameter, so its name stays NVlabs'."""

    def __init__(self, activation: str = "linear", gain: float | None = None, clamp: float | None = None):
        super().__init__()
        _check_activation(activation)
        self.activation = activation
        self.gain = float(ACTIVATION_GAINS[activation] if gain is None else gain)
        self.clamp = None if clamp is None else float(clamp)

    def construct(self, x, bias=None):
        return bias_act(x, bias, self.activation, self.gain, self.clamp)


class FullyConnected(nn.Cell):
    """NVlabs `FullyConnectedLayer`: equalised learning rate, `x @ (weight · lr_mul/√in)ᵀ + bias · lr_mul`, then
    the activation with its default gain. `weight` is stored as randn / lr_multiplier, `bias` as `bias_init`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        _check_activation(activation)
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight_gain = float(lr_multiplier / np.sqrt(in_features))
        self.bias_gain = float(lr_multiplier)
        self.weight = Parameter(_randn(out_features, in_features, std=1.0 / lr_multiplier), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(Tensor(np.full((out_features,), bias_init, np.float32)), name="bias")

    def construct(self, x):
        y = ops.matmul(x, (self.weight * self.weight_gain).T)
        b = self.bias * self.bias_gain if self.has_bias else None
        return bias_act(y, b, self.activation, ACTIVATION_GAINS[self.activation], None)


class Upfirdn2d(nn.Cell):
    """NVlabs `upfirdn2d` on NCHW: upsample by inserting `up - 1` zeros after each pixel, pad by `padding`
    = (x0, x1, y0, y1) (negative values crop), convolve every channel with the FIR filter (× gain^(ndim/2),
    flipped unless flip_filter: NVlabs convolves), keep every `down`-th pixel.

    The channels are folded into the batch ([N·C, 1, H, W]) so one single-channel convolution filters them all;
    its second-order gradients (R1 through the augmentation) are plain convolution gradients.
    """

    def __init__(self, taps: Sequence[float] = DEFAULT_FILTER, up: int = 1, down: int = 1,
                 padding: Sequence[int] = (0, 0, 0, 0), gain: float = 1.0, flip_filter: bool = False,
                 separable: bool | None = None):
        super().__init__()
        if up < 1 or down < 1:
            raise ValueError(f"up and down must be >= 1, got {up}, {down}")
        f = setup_filter(taps, separable)
        kernel = f * np.float32(gain ** (f.ndim / 2))
        if not flip_filter:
            kernel = kernel[::-1, ::-1] if kernel.ndim == 2 else kernel[::-1]
        self.kernel = np.ascontiguousarray(kernel, np.float32)  # what is convolved (correlation), for converters
        self.up, self.down = int(up), int(down)
        self.padding = tuple(int(p) for p in padding)
        if len(self.padding) != 4:
            raise ValueError(f"padding must be (x0, x1, y0, y1), got {padding}")
        x0, x1, y0, y1 = self.padding
        self._zero_insert = (ops.Pad(((0, 0), (0, 0), (0, 0), (0, self.up - 1), (0, 0), (0, self.up - 1)))
                             if self.up > 1 else None)
        self._pad = (ops.Pad(((0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
                     if max(x0, x1, y0, y1) > 0 else None)
        self._crop = (max(-y0, 0), max(-y1, 0), max(-x0, 0), max(-x1, 0))
        if kernel.ndim == 2:
            fh, fw = kernel.shape
            self._kernels = (Tensor(self.kernel.reshape(1, 1, fh, fw)),)
            self._convs = (ops.Conv2D(1, (fh, fw), stride=self.down),)
        else:
            taps_ = kernel.size
            self._kernels = (Tensor(self.kernel.reshape(1, 1, 1, taps_)), Tensor(self.kernel.reshape(1, 1, taps_, 1)))
            self._convs = (ops.Conv2D(1, (1, taps_), stride=(1, self.down)),
                           ops.Conv2D(1, (taps_, 1), stride=(self.down, 1)))

    def output_size(self, size: int, axis: int) -> int:
        """Output height (axis 0) or width (axis 1) for an input side `size`."""
        before, after = (self.padding[2], self.padding[3]) if axis == 0 else (self.padding[0], self.padding[1])
        taps = self.kernel.shape[0] if (self.kernel.ndim == 1 or axis == 0) else self.kernel.shape[1]
        return (size * self.up + before + after - taps) // self.down + 1

    def construct(self, x):
        n, c, h, w = x.shape
        y = x.reshape((n * c, 1, h, w))
        if self._zero_insert is not None:
            y = self._zero_insert(y.reshape((n * c, 1, h, 1, w, 1))).reshape((n * c, 1, h * self.up, w * self.up))
        if self._pad is not None:
            y = self._pad(y)
        top, bottom, left, right = self._crop
        if top or bottom or left or right:
            y = y[:, :, top:y.shape[2] - bottom, left:y.shape[3] - right]
        for conv, kernel in zip(self._convs, self._kernels):
            y = conv(y, kernel)
        return y.reshape((n, c, y.shape[2], y.shape[3]))


def upsample2d(taps=DEFAULT_FILTER, up: int = 2, separable: bool | None = None) -> Upfirdn2d:
    """NVlabs `upfirdn2d.upsample2d`: ×up with the output a multiple of the input (gain up²)."""
    f = setup_filter(taps, separable)
    fw = f.shape[-1]
    p = ((fw + up - 1) // 2, (fw - up) // 2)
    return Upfirdn2d(taps, up=up, padding=(p[0], p[1], p[0], p[1]), gain=up * up, separable=separable)


class EqualizedConv2d(nn.Cell):
    """`construct(x, weight)`: conv2d with `weight · weight_gain` (equalised lr: 1/√(in·k²)), symmetric zero
    padding and stride, cross-correlation as torch. The weight is the owning layer's parameter."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel = in_channels, out_channels, kernel
        self.stride, self.padding = int(stride), int(padding)
        self.weight_gain = float(1.0 / np.sqrt(in_channels * kernel * kernel))
        self._conv = ops.Conv2D(out_channels, kernel, stride=self.stride, pad_mode="pad", pad=self.padding)

    def construct(self, x, weight):
        return self._conv(x, weight * self.weight_gain)


class ModulatedConv2d(nn.Cell):
    """NVlabs `modulated_conv2d` with fused_modconv=False: `construct(x, weight, styles)`.

    x · styles (per sample and input channel) → conv with the shared `weight` [O, I, k, k] (up=2: transposed
    conv with stride 2, then the FIR filter with padding 1 and gain 4, as `conv2d_resample`) → · dcoefs, where
    dcoefs[n, o] = rsqrt(Σ_i styles[n, i]² Σ_k weight[o, i, k]² + 1e-8) when `demodulate`. The batch size is
    never baked into the graph (no grouped conv with one group per sample).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, up: int = 1, demodulate: bool = True,
                 resample_filter: Sequence[float] = DEFAULT_FILTER):
        super().__init__()
        if up not in (1, 2):
            raise ValueError(f"ModulatedConv2d supports up=1 or 2, got {up}")
        self.in_channels, self.out_channels, self.kernel = in_channels, out_channels, kernel
        self.up, self.demodulate = up, bool(demodulate)
        self.padding = kernel // 2
        if up == 1:
            self._conv = ops.Conv2D(out_channels, kernel, pad_mode="pad", pad=self.padding)
            self.fir = None
        else:
            # conv2d_resample(up=2, padding=k//2): the transposed conv pads nothing; the FIR pads what is left.
            fw = setup_filter(resample_filter).shape[-1]
            p0 = self.padding + (fw + up - 1) // 2 - (kernel - 1)
            p1 = self.padding + (fw - up) // 2 - (kernel - up)
            # MindSpore's Conv2DTranspose is the input gradient of a conv: its out_channel must be that conv's
            # output channels (our in_channels), or its own gradient (a Conv2D) fails when in != out.
            self._conv = ops.Conv2DTranspose(out_channel=in_channels, kernel_size=kernel, pad_mode="valid",
                                             stride=up)
            self.fir = Upfirdn2d(resample_filter, padding=(p0, p1, p0, p1), gain=up * up)

    def construct(self, x, weight, styles):
        n = x.shape[0]
        x = x * styles.reshape((n, -1, 1, 1))
        if self.fir is None:
            x = self._conv(x, weight)
        else:
            h, w = x.shape[2], x.shape[3]
            size = ((h - 1) * self.up + self.kernel, (w - 1) * self.up + self.kernel)
            # Conv2DTranspose takes the forward conv's [in, out] layout: NVlabs' weight.transpose(0, 1).
            x = self._conv(x, weight.transpose(1, 0, 2, 3), (n, self.out_channels) + size)
            x = self.fir(x)
        if self.demodulate:
            x = x * demodulation(weight, styles).reshape((n, -1, 1, 1))
        return x


def demodulation(weight, styles):
    """rsqrt(styles² @ (Σ_k weight²)ᵀ + 1e-8): [N, O] coefficients that give each output unit variance."""
    w2 = ops.square(weight).sum(axis=(2, 3))  # [O, I]
    return ops.rsqrt(ops.matmul(ops.square(styles), w2.T) + 1e-8)


class NoiseInjection(nn.Cell):
    """`construct(x, noise, strength)`: x + noise · strength, noise a random [N, 1, H, W] map (training) or the
    layer's stored [H, W] `noise_const` buffer (inference, NVlabs noise_mode='const')."""

    def construct(self, x, noise, strength):
        return x + noise * strength


class ConstInput(nn.Cell):
    """`construct(const, like)`: the learned [C, H, W] constant broadcast to the batch of `like`."""

    def construct(self, const, like):
        c, h, w = const.shape
        return ops.broadcast_to(const.reshape((1, c, h, w)), (like.shape[0], c, h, w))


class RepeatW(nn.Cell):
    """w [N, w_dim] → ws [N, num_ws, w_dim], the same w for every layer."""

    def __init__(self, num_ws: int):
        super().__init__()
        self.num_ws = int(num_ws)

    def construct(self, w):
        n, d = w.shape
        return ops.broadcast_to(w.reshape((n, 1, d)), (n, self.num_ws, d))


class SelectW(nn.Cell):
    """ws [N, num_ws, w_dim] → the layer's w [N, w_dim] (ws[:, index])."""

    def __init__(self, index: int):
        super().__init__()
        self.index = int(index)

    def construct(self, ws):
        return ws[:, self.index]


class MinibatchStd(nn.Cell):
    """NVlabs `MinibatchStdLayer`: per group of `group_size` samples (all of them if the batch is smaller),
    the standard deviation over the group averaged over channels and pixels, per `num_channels` channel groups,
    appended as extra channels. Sample i is grouped with the samples i ± k·(N / G)."""

    mixes_samples = True

    def __init__(self, group_size: int | None = 4, num_channels: int = 1):
        super().__init__()
        self.group_size = None if group_size is None else int(group_size)
        self.num_channels = int(num_channels)

    def construct(self, x):
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        f = self.num_channels
        y = x.reshape((g, -1, f, c // f, h, w))
        y = y - y.mean(axis=0)
        y = ops.square(y).mean(axis=0)
        y = ops.sqrt(y + 1e-8)
        y = y.mean(axis=(2, 3, 4))
        y = y.reshape((-1, f, 1, 1))
        y = ops.tile(y, (g, 1, h, w))
        return ops.concat((x, y), axis=1)


class LabelProjection(nn.Cell):
    """The conditional discriminator's output: (x · cmap).sum(1, keepdim) / √cmap_dim."""

    def __init__(self, cmap_dim: int):
        super().__init__()
        self.scale = float(1.0 / np.sqrt(cmap_dim))

    def construct(self, x, cmap):
        return (x * cmap).sum(axis=1, keepdims=True) * self.scale


# ------------------------------------------------------------------------------------------------ mapping

class MappingNetwork(nn.Cell):
    """z (and c) → ws [N, num_ws, w_dim] (or w [N, w_dim] when num_ws is None), NVlabs `MappingNetwork`.

    `construct(z, c=None, truncation_psi=None)`: psi None skips truncation (training); otherwise every layer's w
    becomes w_avg + psi (w − w_avg) (truncation_cutoff None). The running mean `w_avg` is a buffer
    (requires_grad False) that the family updates after each step from the w its losses return.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = w_dim if embed_features is None else embed_features
        embed_features = 0 if c_dim == 0 else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        self.normalize = Normalize2ndMoment()
        if c_dim > 0:
            self.embed = FullyConnected(c_dim, embed_features)
            self.concat = layers.Concat(axis=1)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnected(features[idx], features[idx + 1], activation=activation,
                                                     lr_multiplier=lr_multiplier))
        self.fcs = tuple(getattr(self, f"fc{idx}") for idx in range(num_layers))
        if num_ws is not None and w_avg_beta is not None:
            self.w_avg = Parameter(Tensor(np.zeros(w_dim, np.float32)), name="w_avg", requires_grad=False)
            self.repeat = RepeatW(num_ws)

    def embed_inputs(self, z, c=None):
        x = None
        if self.z_dim > 0:
            x = self.normalize(z)
        if self.c_dim > 0:
            y = self.normalize(self.embed(c))
            x = self.concat(x, y) if x is not None else y
        return x

    def mapped(self, z, c=None):
        """The untruncated w [N, w_dim] (what w_avg tracks)."""
        x = self.embed_inputs(z, c)
        for fc in self.fcs:
            x = fc(x)
        return x

    def construct(self, z, c=None, truncation_psi=None):
        x = self.mapped(z, c)
        if truncation_psi is not None:
            x = self.w_avg + truncation_psi * (x - self.w_avg)
        if self.num_ws is None:
            return x
        return self.repeat(x)


# ------------------------------------------------------------------------------------------------ synthesis

class SynthesisLayer(nn.Cell):
    """Modulated 3×3 conv (+ ×2 upsampling), noise, bias, lrelu √2, conv_clamp: NVlabs `SynthesisLayer`."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, conv_clamp: float | None = None,
                 resample_filter: Sequence[float] = DEFAULT_FILTER):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = Parameter(_randn(out_channels, in_channels, kernel_size, kernel_size), name="weight")
        self.modconv = ModulatedConv2d(in_channels, out_channels, kernel_size, up=up, demodulate=True,
                                       resample_filter=resample_filter)
        if use_noise:
            self.noise_const = Parameter(_randn(resolution, resolution), name="noise_const", requires_grad=False)
            self.noise_strength = Parameter(Tensor(np.zeros((), np.float32)), name="noise_strength")
            self.add_noise = NoiseInjection()
        self.bias = Parameter(Tensor(np.zeros(out_channels, np.float32)), name="bias")
        self.act = BiasAct("lrelu", clamp=conv_clamp)

    def construct(self, x, w, noise=None):
        x = self.modconv(x, self.weight, self.affine(w))
        if self.use_noise:
            x = self.add_noise(x, self.noise_const if noise is None else noise, self.noise_strength)
        return self.act(x, self.bias)


class ToRGBLayer(nn.Cell):
    """Modulated 1×1 conv without demodulation (styles × 1/√in), bias, clamp: NVlabs `ToRGBLayer`."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = Parameter(_randn(out_channels, in_channels, kernel_size, kernel_size), name="weight")
        self.bias = Parameter(Tensor(np.zeros(out_channels, np.float32)), name="bias")
        self.weight_gain = float(1.0 / np.sqrt(in_channels * kernel_size * kernel_size))
        self.modconv = ModulatedConv2d(in_channels, out_channels, kernel_size, demodulate=False)
        self.act = BiasAct("linear", clamp=conv_clamp)

    def construct(self, x, w):
        return self.act(self.modconv(x, self.weight, self.affine(w) * self.weight_gain), self.bias)


class SynthesisBlock(nn.Cell):
    """One resolution of the skip synthesis network: (const | conv0 ↑2), conv1, toRGB added to the upsampled
    image. `construct(x, img, ws, noises)`: ws [N, num_ws, w_dim] of the whole network, noises a tuple of this
    block's noise maps or None (const noise)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, w_index: int, architecture: str = "skip",
                 resample_filter: Sequence[float] = DEFAULT_FILTER, conv_clamp: float | None = None,
                 use_noise: bool = True):
        super().__init__()
        if architecture not in G_ARCHITECTURES:
            raise ValueError(f"synthesis architecture '{architecture}' is not supported (only {G_ARCHITECTURES})")
        self.in_channels, self.resolution = in_channels, resolution
        self.num_conv, self.num_torgb = 0, 0
        selects = []
        if in_channels == 0:
            self.const = Parameter(_randn(out_channels, resolution, resolution), name="const")
            self.const_input = ConstInput()
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp,
                                        resample_filter=resample_filter, use_noise=use_noise)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    use_noise=use_noise)
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_torgb += 1
        # NVlabs: block_ws = ws[w_index : w_index + num_conv + num_torgb]; toRGB shares its w with the next conv0.
        self.w_conv0 = SelectW(w_index) if in_channels else None
        self.w_conv1 = SelectW(w_index + self.num_conv - 1)
        self.w_torgb = SelectW(w_index + self.num_conv)
        self.upsample_img = upsample2d(resample_filter) if in_channels else None

    def construct(self, x, img, ws, noises=None):
        if self.in_channels == 0:
            x = self.const_input(self.const, ws)
            x = self.conv1(x, self.w_conv1(ws), None if noises is None else noises[0])
        else:
            x = self.conv0(x, self.w_conv0(ws), None if noises is None else noises[0])
            x = self.conv1(x, self.w_conv1(ws), None if noises is None else noises[1])
        y = self.torgb(x, self.w_torgb(ws))
        img = y if img is None else self.upsample_img(img) + y
        return x, img


class SynthesisNetwork(nn.Cell):
    """ws [N, num_ws, w_dim] (+ optional packed training noise) → image [N, img_channels, R, R].

    `construct(ws, noise=None)`: noise None uses every layer's stored `noise_const` (NVlabs noise_mode='const',
    what is exported); in training `noise` is [N, Σ res²]: every layer's random map, flattened and concatenated
    in layer order (`noise_layout`), drawn on the host so a resumed run replays it.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, architecture: str = "skip", conv_clamp: float | None = None,
                 resample_filter: Sequence[float] = DEFAULT_FILTER, use_noise: bool = True):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
        self.num_ws = 0
        blocks = []
        self.noise_layout: list[tuple[int, int]] = []  # (offset, resolution) of each layer's noise, layer order
        offset = 0
        for res in self.block_resolutions:
            in_channels = channels_for(res // 2, channel_base, channel_max) if res > 4 else 0
            out_channels = channels_for(res, channel_base, channel_max)
            block = SynthesisBlock(in_channels, out_channels, w_dim, res, img_channels,
                                   is_last=res == img_resolution, w_index=self.num_ws, architecture=architecture,
                                   resample_filter=resample_filter, conv_clamp=conv_clamp, use_noise=use_noise)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
            blocks.append(block)
            for _ in range(block.num_conv if use_noise else 0):
                self.noise_layout.append((offset, res))
                offset += res * res
        self.blocks = tuple(blocks)
        self.num_ws += 1  # the last toRGB
        self.noise_size = offset
        self.use_noise = use_noise

    def split_noise(self, noise):
        """[N, noise_size] → per block, a tuple of [N, 1, res, res] maps (training only)."""
        maps = [noise[:, a:a + r * r].reshape((-1, 1, r, r)) for a, r in self.noise_layout]
        out, k = [], 0
        for block in self.blocks:
            out.append(tuple(maps[k:k + block.num_conv]))
            k += block.num_conv
        return out

    def construct(self, ws, noise=None):
        per_block = self.split_noise(noise) if (noise is not None and self.use_noise) else [None] * len(self.blocks)
        x = img = None
        for block, noises in zip(self.blocks, per_block):
            x, img = block(x, img, ws, noises)
        return img


# ------------------------------------------------------------------------------------------------ generator

class Generator(nn.Cell):
    """NVlabs `Generator`: mapping + synthesis. `construct(z, [c,] truncation_psi)` (c only when c_dim > 0) is the
    exported sampling path (constant noise); training calls `mapping` and `synthesis` directly."""

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 256,
                 img_channels: int = 3, mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))

    def interface(self) -> Interface:
        inputs = [Port("z", "noise", ("batch", self.z_dim))]
        if self.c_dim > 0:
            inputs.append(Port("c", "onehot", ("batch", self.c_dim),
                               groups=(("class", tuple(str(i) for i in range(self.c_dim))),)))
        inputs.append(Port("truncation_psi", "scalar", (), default=1.0))
        out = Port("image", "image", ("batch", self.img_channels, self.img_resolution, self.img_resolution),
                   range=(-1, 1))
        return Interface("sample", tuple(inputs), (out,),
                         metadata={"latent_rule": "np.random.RandomState(seed).randn(1, z_dim)",
                                   "noise_mode": "const"})

    def construct(self, z, *inputs):
        c, psi = (inputs[0], inputs[1]) if self.c_dim > 0 else (None, inputs[0])
        return self.synthesis(self.mapping(z, c, psi))


# ------------------------------------------------------------------------------------------------ discriminator

class Conv2dLayer(nn.Cell):
    """NVlabs `Conv2dLayer` (as its discriminator uses it): optional FIR ↓2, equalised conv, bias, activation
    (× gain, clamp × gain). `gain` is the resnet branches' √0.5, fixed per layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", down: int = 1, resample_filter: Sequence[float] = DEFAULT_FILTER,
                 conv_clamp: float | None = None, gain: float = 1.0):
        super().__init__()
        if down not in (1, 2):
            raise ValueError(f"Conv2dLayer supports down=1 or 2, got {down}")
        padding = kernel_size // 2
        self.weight = Parameter(_randn(out_channels, in_channels, kernel_size, kernel_size), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(Tensor(np.zeros(out_channels, np.float32)), name="bias")
        stride = 1
        self.fir = None
        if down > 1:
            fw = setup_filter(resample_filter).shape[-1]
            p0, p1 = padding + (fw - down + 1) // 2, padding + (fw - down) // 2
            if kernel_size == 1:  # conv2d_resample: 1×1 → downsample first (FIR ↓2), then convolve
                self.fir = Upfirdn2d(resample_filter, down=down, padding=(p0, p1, p0, p1))
            else:  # FIR (no ↓) then a strided conv
                self.fir = Upfirdn2d(resample_filter, padding=(p0, p1, p0, p1))
                stride = down
            padding = 0
        self.conv = EqualizedConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        act_gain = ACTIVATION_GAINS[activation] * gain
        self.act = BiasAct(activation, gain=act_gain, clamp=None if conv_clamp is None else conv_clamp * gain)

    def construct(self, x):
        if self.fir is not None:
            x = self.fir(x)
        x = self.conv(x, self.weight)
        return self.act(x, self.bias if self.has_bias else None)


class DiscriminatorBlock(nn.Cell):
    """NVlabs `DiscriminatorBlock` (resnet or orig): fromRGB at the first block, conv0, conv1 ↓2, skip ↓2."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", resample_filter: Sequence[float] = DEFAULT_FILTER,
                 conv_clamp: float | None = None):
        super().__init__()
        if architecture not in D_ARCHITECTURES:
            raise ValueError(f"discriminator architecture '{architecture}' is not supported ({D_ARCHITECTURES})")
        self.in_channels, self.architecture = in_channels, architecture
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        resnet = architecture == "resnet"
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp,
                                 gain=SQRT_HALF if resnet else 1.0)
        if resnet:
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2,
                                    resample_filter=resample_filter, gain=SQRT_HALF)

    def construct(self, x, img):
        if self.in_channels == 0:
            x = self.fromrgb(img)
        if self.architecture == "resnet":
            y = self.skip(x)
            return y + self.conv1(self.conv0(x))
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Cell):
    """NVlabs `DiscriminatorEpilogue`: minibatch stddev, conv, fc, out (and the label projection)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, mbstd_group_size: int | None = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.flatten = layers.Flatten()
        self.fc = FullyConnected(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnected(in_channels, 1 if cmap_dim == 0 else cmap_dim)
        if cmap_dim > 0:
            self.project = LabelProjection(cmap_dim)

    def construct(self, x, cmap=None):
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.flatten(self.conv(x))))
        if self.cmap_dim > 0:
            x = self.project(x, cmap)
        return x


class Discriminator(nn.Cell):
    """NVlabs `Discriminator`: `construct(img, c=None)` → logits [N, 1]."""

    def __init__(self, c_dim: int = 0, img_resolution: int = 256, img_channels: int = 3,
                 architecture: str = "resnet", channel_base: int = 32768, channel_max: int = 512,
                 conv_clamp: float | None = None, cmap_dim: int | None = None,
                 mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1, mapping_kwargs: dict | None = None,
                 resample_filter: Sequence[float] = DEFAULT_FILTER):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(int(math.log2(img_resolution)), 2, -1)]
        ch = {res: channels_for(res, channel_base, channel_max) for res in self.block_resolutions + [4]}
        cmap_dim = ch[4] if cmap_dim is None else cmap_dim
        cmap_dim = 0 if c_dim == 0 else cmap_dim
        blocks = []
        for res in self.block_resolutions:
            block = DiscriminatorBlock(ch[res] if res < img_resolution else 0, ch[res], ch[res // 2], res,
                                       img_channels, architecture=architecture, resample_filter=resample_filter,
                                       conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
            blocks.append(block)
        self.blocks = tuple(blocks)
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, None, w_avg_beta=None, **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(ch[4], cmap_dim, 4, mbstd_group_size, mbstd_num_channels, conv_clamp)

    def construct(self, img, c=None):
        x = None
        for block in self.blocks:
            x = block(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)


# ------------------------------------------------------------------------------------------------ factories

@MODELS.register()
def stylegan2_generator(z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 256,
                        img_channels: int = 3, mapping_layers: int = 8, mapping_lr_multiplier: float = 0.01,
                        w_avg_beta: float = 0.995, channel_base: int = 32768, channel_max: int = 512,
                        conv_clamp: float | None = None, architecture: str = "skip") -> Generator:
    """The YAML `generator:` section. Keys follow NVlabs' G_kwargs (mapping_kwargs.num_layers = mapping_layers)."""
    return Generator(z_dim, c_dim, w_dim, img_resolution, img_channels,
                     mapping_kwargs=dict(num_layers=mapping_layers, lr_multiplier=mapping_lr_multiplier,
                                         w_avg_beta=w_avg_beta),
                     synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max,
                                           conv_clamp=conv_clamp, architecture=architecture))


@MODELS.register()
def stylegan2_discriminator(c_dim: int = 0, img_resolution: int = 256, img_channels: int = 3,
                            architecture: str = "resnet", channel_base: int = 32768, channel_max: int = 512,
                            conv_clamp: float | None = None, mbstd_group_size: int | None = 4,
                            mbstd_num_channels: int = 1, cmap_dim: int | None = None,
                            mapping_layers: int = 8) -> Discriminator:
    """The YAML `discriminator:` section (NVlabs D_kwargs; epilogue_kwargs.mbstd_group_size = mbstd_group_size)."""
    return Discriminator(c_dim, img_resolution, img_channels, architecture, channel_base, channel_max,
                         conv_clamp, cmap_dim, mbstd_group_size, mbstd_num_channels,
                         mapping_kwargs=dict(num_layers=mapping_layers))

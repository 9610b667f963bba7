"""Building blocks shared by the image-translation networks (pix2pix, CycleGAN, pix2pixHD, the BerserkMangaColoring
CycleGAN): the norm names of the reference code, their weight initialisations, the ResNet block, the transposed
conv unit, and the one PatchGAN discriminator (`NLayerDiscriminator`) that all of them use.

Norms (`norm` arguments): "batch" = PyTorch BatchNorm2d (affine, eps 1e-5, running statistics with momentum 0.1,
i.e. MindSpore momentum 0.9), "instance" = PyTorch InstanceNorm2d's default (affine=False, no running statistics,
eps 1e-5), as junyanz `get_norm_layer` and pix2pixHD build them; "none" = no norm. Conv biases follow the
reference's rule (`bias` arguments): "norm" = only where the norm is instance norm (junyanz: BatchNorm's shift makes
the bias redundant), "always" (pix2pixHD), "never" (the BerserkMangaColoring notebook's `conv`/`deconv` helpers).
"""
from __future__ import annotations

import math

import numpy as np
import mindspore as ms
from mindspore import nn, ops
from mindspore.common.initializer import Normal, One, Uniform, Zero, initializer

from mindspore_impl import layers

NORMS = {"batch": "batch", "instance": "instance_noaffine", "none": "none"}  # our name → layers.NORMS key
BIAS_RULES = ("norm", "always", "never")
PAD_TYPES = {"reflect": "reflect", "replicate": "replicate", "zero": "zero"}
NORM_EPS = 1e-5  # PyTorch's BatchNorm2d / InstanceNorm2d default


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"unknown norm '{norm}'; choose from {', '.join(NORMS)}")
    return NORMS[norm]


def conv_bias(rule: str, norm: str) -> bool:
    """Whether a normalised conv has a bias under `rule` (see the module docstring)."""
    if rule not in BIAS_RULES:
        raise ValueError(f"unknown bias rule '{rule}'; choose from {', '.join(BIAS_RULES)}")
    return rule == "always" or (rule == "norm" and norm == "instance")


def conv_unit(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, pad: str = "zero",
              norm: str = "none", act: str = "none", bias: bool = False) -> layers.ConvNormAct:
    """pad → conv → norm → activation with the reference numerics (eps 1e-5, N(0, 0.02) initial weights)."""
    if pad not in PAD_TYPES:
        raise ValueError(f"unknown padding type '{pad}'; choose from {', '.join(PAD_TYPES)}")
    return layers.ConvNormAct(in_ch, out_ch, kernel, stride=stride, padding=padding, pad=PAD_TYPES[pad],
                              norm=check_norm(norm), act=act, bias=bias, eps=NORM_EPS, init="normal002")


class ConvTNormAct(nn.Cell):
    """Transposed conv (PyTorch semantics) → norm → activation: the decoders' upsampling unit."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 2, padding: int = 1,
                 output_padding: int = 1, norm: str = "instance", act: str = "relu", bias: bool = False):
        super().__init__()
        self.conv = layers.ConvTranspose2d(in_ch, out_ch, kernel, stride=stride, padding=padding,
                                           output_padding=output_padding, bias=bias)
        key = check_norm(norm)
        self.norm = layers.NORMS[key](out_ch, NORM_EPS) if key != "none" else None
        self.act = layers.ACTIVATIONS[act]() if act != "none" else None

    def construct(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class ResnetBlock(nn.Cell):
    """junyanz / pix2pixHD `ResnetBlock`: x + [pad, conv3, norm, ReLU, (Dropout 0.5), pad, conv3, norm](x)."""

    def __init__(self, dim: int, padding_type: str = "reflect", norm: str = "instance", bias: bool = True,
                 dropout: bool = False, salt: int = 0):
        super().__init__()
        self.conv1 = conv_unit(dim, dim, 3, padding=1, pad=padding_type, norm=norm, act="relu", bias=bias)
        self.dropout = layers.Dropout(0.5, salt=salt) if dropout else None
        self.conv2 = conv_unit(dim, dim, 3, padding=1, pad=padding_type, norm=norm, act="none", bias=bias)

    def construct(self, x):
        y = self.conv1(x)
        if self.dropout is not None:
            y = self.dropout(y)
        return x + self.conv2(y)


class NLayerDiscriminator(nn.Cell):
    """The PatchGAN discriminator (junyanz `NLayerDiscriminator`, pix2pixHD's per-scale discriminator).

    Stages, all 4×4 convs: [conv s2, LeakyReLU 0.2], (n_layers - 1) × [conv s2, norm, LeakyReLU], [conv s1, norm,
    LeakyReLU], [conv s1 → 1 channel] (logits). Widths ndf·2^n capped at `max_channels` (junyanz: 8·ndf, the
    default; pix2pixHD: 512). `padding`: 1 (junyanz) or 2 (pix2pixHD's ceil((4-1)/2)). The first and last convs
    always have a bias; the normalised ones follow `bias` (see the module docstring). With
    `intermediate_features`, construct returns every stage's output (the logits last), as pix2pixHD's
    `getIntermFeat` does for feature matching; otherwise the logits.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 padding: int = 1, bias: str = "norm", max_channels: int | None = None,
                 intermediate_features: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        cap = 8 * ndf if max_channels is None else max_channels
        normed_bias = conv_bias(bias, norm)
        widths = [min(ndf * 2 ** n, cap) for n in range(n_layers + 1)]
        stages = [conv_unit(in_channels, ndf, 4, 2, padding, norm="none", act="lrelu", bias=True)]
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            stages.append(conv_unit(widths[n - 1], widths[n], 4, stride, padding, norm=norm, act="lrelu",
                                    bias=normed_bias))
        stages.append(conv_unit(widths[n_layers], 1, 4, 1, padding, norm="none", act="none", bias=True))
        self.stages = nn.CellList(stages)
        self.intermediate_features = intermediate_features

    def construct(self, x):
        outputs = ()
        for stage in self.stages:
            x = stage(x)
            outputs = outputs + (x,)
        if self.intermediate_features:
            return outputs
        return x


# ---------------------------------------------------------------------------------------------------- initialisation

def _fan_in(cell) -> int:
    """PyTorch's fan-in of a conv weight: size(1) · k · k (for a transposed conv, size(1) is out/groups)."""
    shape = tuple(cell.weight.shape)
    return int(shape[1] * math.prod(shape[2:]))


def init_weights(net: nn.Cell, weight_std: float | None = 0.02, bias: str = "zero",
                 bn_gamma_std: float | None = 0.02) -> nn.Cell:
    """Initialise `net` as the reference code does (call before the first training step compiles a graph).

    weight_std: conv and transposed-conv weights ~ N(0, std) (junyanz/pix2pixHD 0.02, the BerserkMangaColoring
        generator 0.2); None keeps PyTorch's default U(±1/sqrt(fan_in)) (kaiming_uniform with a = √5).
    bias: "zero" (junyanz `init_weights`) or "torch" (PyTorch's default U(±1/sqrt(fan_in)), which pix2pixHD's
        `weights_init` leaves in place).
    bn_gamma_std: BatchNorm gamma ~ N(1, std), beta 0 (junyanz, pix2pixHD); None: gamma 1 (PyTorch's default).
    Draws come from MindSpore's initialisers, seeded by `ms.set_seed` (the trainer seeds every rank alike).
    """
    if bias not in ("zero", "torch"):
        raise ValueError(f"unknown bias init '{bias}'; choose zero or torch")
    for _, cell in net.cells_and_names():
        if isinstance(cell, (layers.Conv2d, layers.ConvTranspose2d)):
            bound = 1.0 / math.sqrt(_fan_in(cell))
            dist = Normal(weight_std) if weight_std is not None else Uniform(bound)
            cell.weight.set_data(initializer(dist, cell.weight.shape, ms.float32))
            if cell.has_bias:
                dist = Zero() if bias == "zero" else Uniform(bound)
                cell.bias.set_data(initializer(dist, cell.bias.shape, ms.float32))
        elif isinstance(cell, nn.BatchNorm2d):
            gamma = One() if bn_gamma_std is None else Normal(bn_gamma_std, 1.0)
            cell.gamma.set_data(initializer(gamma, cell.gamma.shape, ms.float32))
            cell.beta.set_data(initializer(Zero(), cell.beta.shape, ms.float32))
    return net


def batch_norm_cells(net: nn.Cell) -> list:
    return [cell for _, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]


class BatchNormStats:
    """Copies of a network's BatchNorm moving statistics, to put back after a forward pass that must not count.

    pix2pix computes G(A) once per step and uses it for both the D and the G update; the shared trainer's updates
    each run their own forward pass, so G's BatchNorm would move its running statistics twice per step. The G
    update's `prepare` takes them after the D update (`take`), an after-step hook restores them (`restore`,
    in-place `ops.assign`, which compiled graphs see): one update per step, as in the reference.
    """

    def __init__(self, net: nn.Cell):
        self.cells = batch_norm_cells(net)
        self.saved: list[tuple[np.ndarray, np.ndarray]] | None = None

    def take(self) -> None:
        self.saved = [(c.moving_mean.asnumpy().copy(), c.moving_variance.asnumpy().copy()) for c in self.cells]

    def restore(self) -> None:
        if self.saved is None:
            return
        for cell, (mean, var) in zip(self.cells, self.saved):
            ops.assign(cell.moving_mean, ms.Tensor(mean))
            ops.assign(cell.moving_variance, ms.Tensor(var))
        self.saved = None

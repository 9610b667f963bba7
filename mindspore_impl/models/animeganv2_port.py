"""The generator of the public MindSpore AnimeGANv2 port (mindspore-courses/applications `animeganv2/`), exactly.

Not the official topology (that is `animeganv2.py`): one `SequentialCell` named `generator` of
- ConvBlock 3→c (7×7), c→2c (stride 2), 2c→4c (stride 2), 4c, 4c;
- InvertedResBlock 4c→8c, then three 8c→8c with a skip;
- ConvBlock 8c→4c; UpSample 4c→4c; ConvBlock 4c; UpSample 4c→2c; ConvBlock 2c; ConvBlock 2c→c (7×7);
- a 1×1 conv to 3 channels, tanh (c = `channels`, 32 in every released checkpoint).
Its numerics, reproduced leaf by leaf from our layer vocabulary:
- bias-free convs with pad_mode='same' zero padding: `layers.same_zero_pad`, which is size-dependent for the
  stride-2 convs ((1, 1) on odd sizes, (0, 1) on even ones);
- its InstanceNorm2d: per-sample, per-channel statistics, `(x - mean) / sqrt(var + 1e-5) * gamma + beta`, gamma
  and beta applied (and stored, with unused moving statistics) although they are built with affine=False, which
  only makes them non-trainable;
- UpSample = the removed `nn.ResizeBilinear()(x, scale_factor=2)`, i.e. TF1 asymmetric coordinates
  (`layers.Upsample(2, "asymmetric")`), then a bare 3×3 conv (no norm, no activation);
- LeakyReLU 0.2.
Parameter names equal the port's (`generator.<i>.conv.weight`, `generator.<i>.ins_norm.moving_mean`, ...), so the
port's bare `save_checkpoint(Generator())` files load as they are, and `adapt_checkpoint` reads the files its
`train.py` writes through its training wrapper (`train_one_step_cell_d.network.generator.generator.<i>...`).

Its output is 4·ceil(H/4) × 4·ceil(W/4); `construct` crops it to the input's H × W (the port resized it back), so
the network, and the ONNX graph exported from it, returns the input's size at any size, odd ones included.
"""
from __future__ import annotations

import mindspore as ms
from mindspore import nn, Parameter
from mindspore.common.initializer import initializer, One, Zero

from mindspore_impl.layers import Conv2d, CropLike, InstanceNorm2d, LeakyReLU, Tanh, Upsample, same_zero_pad
from mindspore_impl.registry import MODELS
from runtime.interface import image_to_image

PORT_NORM_EPS = 1e-5  # the port's InstanceNorm2d default, inside the square root
PORT_INIT = "normal002"  # the port initialises its convs with Normal(0, 0.02)


class PortInstanceNorm2d(InstanceNorm2d):
    """The port's `InstanceNorm2d(num_features, affine=False)`: gamma/beta always applied, trainable only with
    `affine`; `moving_mean`/`moving_variance` are stored (the port's checkpoints carry them) and never used.

    `construct` is InstanceNorm2d's affine one, unchanged, so the export converter is the same as well.
    """

    def __init__(self, channels: int, eps: float = PORT_NORM_EPS, affine: bool = False):
        super().__init__(channels, eps=eps, affine=True)
        self.trainable_affine = bool(affine)
        self.gamma.requires_grad = self.trainable_affine
        self.beta.requires_grad = self.trainable_affine
        self.moving_mean = Parameter(initializer(Zero(), (channels,), ms.float32), name="moving_mean",
                                     requires_grad=False)
        self.moving_variance = Parameter(initializer(One(), (channels,), ms.float32), name="moving_variance",
                                         requires_grad=False)


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> Conv2d:
    return Conv2d(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=False, init=PORT_INIT)


class PortConvBlock(nn.Cell):
    """ConvBlock: 'same'-padded conv (no bias) → PortInstanceNorm2d → LeakyReLU(0.2)."""

    def __init__(self, channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.pad = same_zero_pad(kernel_size, stride)
        self.conv = _conv(channels, out_channels, kernel_size, stride)
        self.ins_norm = PortInstanceNorm2d(out_channels)
        self.activation = LeakyReLU(0.2)

    def construct(self, x):
        if self.pad is not None:
            x = self.pad(x)
        return self.activation(self.ins_norm(self.conv(x)))


class PortInvertedResBlock(nn.Cell):
    """InvertedResBlock: 1×1 ConvBlock → depthwise 3×3 (no bias) → norm → LeakyReLU → 1×1 conv → norm (+ x when
    the channel counts are equal)."""

    def __init__(self, channels: int, out_channels: int, expand_ratio: int = 2):
        super().__init__()
        bottleneck = round(expand_ratio * channels)
        self.use_skip = channels == out_channels
        self.conv_block = PortConvBlock(channels, bottleneck, kernel_size=1)
        self.depthwise_pad = same_zero_pad(3, 1)
        self.depthwise_conv = _conv(bottleneck, bottleneck, 3, groups=bottleneck)
        self.ins_norm1 = PortInstanceNorm2d(bottleneck)
        self.activation = LeakyReLU(0.2)
        self.conv = _conv(bottleneck, out_channels, 1)
        self.ins_norm2 = PortInstanceNorm2d(out_channels)

    def construct(self, x):
        out = self.conv_block(x)
        out = self.activation(self.ins_norm1(self.depthwise_conv(self.depthwise_pad(out))))
        out = self.ins_norm2(self.conv(out))
        if self.use_skip:
            out = out + x
        return out


class PortUpSample(nn.Cell):
    """UpSample: bilinear ×2 in TF1 asymmetric coordinates (the removed `nn.ResizeBilinear`), then a 'same' 3×3
    conv without bias, norm or activation."""

    def __init__(self, channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.resize = Upsample(2, "asymmetric")
        self.pad = same_zero_pad(kernel_size, 1)
        self.conv = _conv(channels, out_channels, kernel_size)

    def construct(self, x):
        return self.conv(self.pad(self.resize(x)))


class AnimeGANv2PortGenerator(nn.Cell):
    """Photo → anime generator of the MindSpore port. NCHW RGB in [-1, 1] → the same, at the input's size.

    Args:
        channels: base width (the port's `Generator(channels=32)`; 2,115,264 values in 108 tensors at 32).
    """

    size_multiple = 1  # any size: the stride-2 'same' padding and the final crop follow the input

    def interface(self):
        """RGB in [-1, 1] → RGB, same size, any size (odd sizes included): the graph crops its own output."""
        return image_to_image("stylize", size_multiple=self.size_multiple)

    def adapt_checkpoint(self, params: dict, origin: str) -> dict:
        """The port's files, in either naming, as this network's parameters (through the checked rename table
        of `mindspore_impl/weights/animeganv2_mindspore_port.py`); `checkpoint_io.load_exact` calls this."""
        from mindspore_impl.weights.animeganv2_mindspore_port import to_network_names

        return to_network_names(params, self, origin)

    def __init__(self, channels: int = 32):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        c = int(channels)
        self.generator = nn.SequentialCell([
            PortConvBlock(3, c, kernel_size=7),
            PortConvBlock(c, 2 * c, stride=2),
            PortConvBlock(2 * c, 4 * c, stride=2),
            PortConvBlock(4 * c, 4 * c),
            PortConvBlock(4 * c, 4 * c),
            PortInvertedResBlock(4 * c, 8 * c),
            PortInvertedResBlock(8 * c, 8 * c),
            PortInvertedResBlock(8 * c, 8 * c),
            PortInvertedResBlock(8 * c, 8 * c),
            PortConvBlock(8 * c, 4 * c),
            PortUpSample(4 * c, 4 * c),
            PortConvBlock(4 * c, 4 * c),
            PortUpSample(4 * c, 2 * c),
            PortConvBlock(2 * c, 2 * c),
            PortConvBlock(2 * c, c, kernel_size=7),
            _conv(c, 3, 1),
            Tanh(),
        ])
        self.crop = CropLike()

    def construct(self, x):
        return self.crop(self.generator(x), x)


@MODELS.register()
def animeganv2_port_generator(channels: int = 32):
    return AnimeGANv2PortGenerator(channels=channels)

"""NVIDIA pix2pixHD networks (`models/networks.py`): GlobalGenerator, LocalEnhancer, MultiscaleDiscriminator.

- GlobalGenerator (G1) = the ResNet generator with `n_downsample_global` stride-2 stages (options default 4), its
  ResnetBlocks at ngf·2^n channels, and a bias on every conv (`ResnetGenerator(bias="always")`); instance norm is
  affine-free. `--netG global --ngf 64`: 182,443,267 parameters for RGB→RGB; sides: multiples of 2^n.
- LocalEnhancer (G2, `--netG local --ngf 32`): a global network of width ngf·2^n_local_enhancers without its final
  pad/conv/tanh runs on the input downsampled by `AvgPool2d(3, 2, 1, count_include_pad=False)` once per enhancer;
  each enhancer n adds `model{n}_1(x_n)` (reflect-pad 3, conv7, norm, ReLU, conv3 s2, norm, ReLU) to the coarser
  output and runs `model{n}_2` (ResnetBlocks, convT3 s2 op1, norm, ReLU; the last enhancer ends with reflect-pad 3,
  conv7 → out, tanh). (3, 3, 32, 4, 9, 1, 3, instance): 182,701,827 parameters; sides: multiples of 32.
- MultiscaleDiscriminator: num_D PatchGANs (`NLayerDiscriminator` with padding 2, biases everywhere, widths capped
  at 512); scale num_D-1 sees the full-size input, each next one the input pooled once more by the same AvgPool.
  With `intermediate_features` (`getIntermFeat`, on unless --no_ganFeat_loss) every stage's output is returned.
  (6, 64, 3, instance, num_D 2): 5,535,618 parameters.
"""
from __future__ import annotations

from mindspore import nn

from mindspore_impl import layers
from mindspore_impl.models.cyclegan import ResnetGenerator
from mindspore_impl.models.translation_blocks import (ConvTNormAct, NLayerDiscriminator, ResnetBlock, conv_unit,
                                                      init_weights)
from mindspore_impl.registry import MODELS
from runtime.interface import image_to_image


def _downsample() -> layers.AvgPool2d:
    """pix2pixHD's `nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)`."""
    return layers.AvgPool2d(3, 2, 1, count_include_pad=False)


def _init(net: nn.Cell) -> nn.Cell:
    # pix2pixHD's weights_init sets conv weights ~ N(0, 0.02) and leaves PyTorch's default biases.
    return init_weights(net, weight_std=0.02, bias="torch")


class LocalEnhancerStage(nn.Cell):
    """Enhancer n: `up(down(x_n) + coarser)`; `down`/`up` are pix2pixHD's `model{n}_1` / `model{n}_2`."""

    def __init__(self, in_channels: int, out_channels: int, width: int, n_blocks: int, norm: str,
                 padding_type: str, last: bool):
        super().__init__()
        self.down = nn.SequentialCell([
            conv_unit(in_channels, width, 7, padding=3, pad="reflect", norm=norm, act="relu", bias=True),
            conv_unit(width, width * 2, 3, 2, 1, pad="zero", norm=norm, act="relu", bias=True)])
        up = [ResnetBlock(width * 2, padding_type, norm, bias=True) for _ in range(n_blocks)]
        up.append(ConvTNormAct(width * 2, width, 3, 2, 1, 1, norm=norm, act="relu", bias=True))
        if last:
            up.append(conv_unit(width, out_channels, 7, padding=3, pad="reflect", act="tanh", bias=True))
        self.up = nn.SequentialCell(up)

    def construct(self, x, coarser):
        return self.up(self.down(x) + coarser)


class LocalEnhancer(nn.Cell):
    """pix2pixHD `LocalEnhancer`; see the module docstring."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 32, n_downsample_global: int = 4,
                 n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                 norm: str = "instance", padding_type: str = "reflect"):
        super().__init__()
        if n_local_enhancers < 1:
            raise ValueError(f"n_local_enhancers must be >= 1 (use pix2pixhd_global without enhancers), got "
                             f"{n_local_enhancers}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.n_local_enhancers = n_local_enhancers
        self.multiple = 2 ** (n_downsample_global + n_local_enhancers)
        self.global_net = ResnetGenerator(in_channels, out_channels, ngf * 2 ** n_local_enhancers, norm, False,
                                          n_blocks_global, padding_type, n_downsample_global, bias="always",
                                          with_tail=False)
        self.enhancers = nn.CellList([
            LocalEnhancerStage(in_channels, out_channels, ngf * 2 ** (n_local_enhancers - n), n_blocks_local, norm,
                               padding_type, last=n == n_local_enhancers)
            for n in range(1, n_local_enhancers + 1)])
        self.downsample = _downsample()
        _init(self.enhancers)  # the global network initialised itself the same way

    def interface(self):
        return image_to_image("stylize", self.in_channels, self.out_channels, size_multiple=self.multiple)

    def construct(self, x):
        pyramid = (x,)
        for _ in range(self.n_local_enhancers):
            pyramid = pyramid + (self.downsample(pyramid[-1]),)
        out = self.global_net(pyramid[-1])
        for n in range(self.n_local_enhancers):
            out = self.enhancers[n](pyramid[self.n_local_enhancers - 1 - n], out)
        return out


class MultiscaleDiscriminator(nn.Cell):
    """pix2pixHD `MultiscaleDiscriminator`; construct returns one tuple per scale, full size first: every
    stage's output with `intermediate_features`, else the logits alone."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 num_d: int = 2, intermediate_features: bool = True):
        super().__init__()
        if num_d < 1:
            raise ValueError(f"num_d must be >= 1, got {num_d}")
        self.num_d, self.n_layers = num_d, n_layers
        self.intermediate_features = intermediate_features
        self.scales = nn.CellList([
            NLayerDiscriminator(in_channels, ndf, n_layers, norm, padding=2, bias="always", max_channels=512,
                                intermediate_features=True)
            for _ in range(num_d)])
        self.downsample = _downsample()
        _init(self)

    def construct(self, x):
        results = ()
        for i in range(self.num_d):
            features = self.scales[self.num_d - 1 - i](x)
            results = results + ((features if self.intermediate_features else (features[-1],)),)
            if i != self.num_d - 1:
                x = self.downsample(x)
        return results


@MODELS.register()
def pix2pixhd_local(in_channels: int = 3, out_channels: int = 3, ngf: int = 32, n_downsample_global: int = 4,
                    n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                    norm: str = "instance", padding_type: str = "reflect") -> LocalEnhancer:
    """`--netG local`: the coarse-to-fine generator."""
    return LocalEnhancer(in_channels, out_channels, ngf, n_downsample_global, n_blocks_global, n_local_enhancers,
                         n_blocks_local, norm, padding_type)


@MODELS.register()
def pix2pixhd_global(in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_downsample_global: int = 4,
                     n_blocks_global: int = 9, norm: str = "instance",
                     padding_type: str = "reflect") -> ResnetGenerator:
    """`--netG global`: GlobalGenerator alone."""
    return ResnetGenerator(in_channels, out_channels, ngf, norm, False, n_blocks_global, padding_type,
                           n_downsample_global, bias="always")


@MODELS.register()
def pix2pixhd_discriminator(in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                            num_d: int = 2, intermediate_features: bool = True) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(in_channels, ndf, n_layers, norm, num_d, intermediate_features)

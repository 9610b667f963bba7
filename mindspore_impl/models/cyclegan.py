"""CycleGAN generators: junyanz's `resnet_9blocks` and the BerserkMangaColoring study's own CycleGenerator.

`ResnetGenerator` (junyanz `ResnetGenerator`, also pix2pixHD's `GlobalGenerator` with n_downsampling 4 and biases
everywhere): reflect-pad 3 + conv7 + norm + ReLU; n_downsampling × [conv3 s2 p1, norm, ReLU] doubling the width;
n_blocks ResnetBlocks; n_downsampling × [convT3 s2 p1 op1, norm, ReLU] halving it; reflect-pad 3 + conv7 (bias)
+ Tanh. `resnet_9blocks` with instance norm has 11,378,179 parameters; sides must be multiples of 2^n_downsampling.

`SeedCycleGenerator` / `SeedDiscriminator`: `cyclegan/cyclegan_train_test.ipynb` of functorial/BerserkMangaColoring
(conv_dim 32: 1,523,776 and 1,743,072 parameters). No conv has a bias; BatchNorm everywhere but the ends.
- G: conv7 s1 p1 (256→252), conv3 s2 p1 (→126), conv3 s2 p1 (→63), each + BN + LeakyReLU 0.2; nine residual
  blocks, each applying *the same* conv3+BN twice (`out = x + cv(lrelu(cv(x)))`, one set of weights per block);
  a long skip around them from a detached copy (`x.detach().clone()`: no gradient flows through the skip);
  convT3 s2 p1 + BN + LeakyReLU then a (0,1,0,1) zero pad (→125→126), again (→251→252); convT7 s1 p1 (→256)
  + tanh.
  Output size equals input size for multiples of 4 (≥ 8).
- D: conv3 s2 p1 (no BN), four conv4 s2 p1 + BN, each + ReLU (not leaky), conv4 s2 p1 → 1 channel (256² → 4×4).
  Its `initialize_weights` is defined but never called, so D starts from PyTorch's default init; G from N(0, 0.2).
"""
from __future__ import annotations

from mindspore import nn

from mindspore_impl import layers
from mindspore_impl.models.translation_blocks import (ConvTNormAct, ResnetBlock, conv_bias, conv_unit,
                                                      init_weights)
from mindspore_impl.registry import MODELS
from runtime.interface import image_to_image


class ResnetGenerator(nn.Cell):
    """See the module docstring. `bias`: "norm" (junyanz: biases only with instance norm; the last conv always)
    or "always" (pix2pixHD). `with_tail=False` drops the final pad/conv/tanh (pix2pixHD's LocalEnhancer uses the
    rest as its global network)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding_type: str = "reflect",
                 n_downsampling: int = 2, bias: str = "norm", with_tail: bool = True):
        super().__init__()
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError(f"n_blocks ({n_blocks}) and n_downsampling ({n_downsampling}) must be >= 0")
        self.in_channels, self.out_channels, self.n_downsampling = in_channels, out_channels, n_downsampling
        b = conv_bias(bias, norm)
        self.head = conv_unit(in_channels, ngf, 7, padding=3, pad="reflect", norm=norm, act="relu", bias=b)
        self.down = nn.SequentialCell([
            conv_unit(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, pad="zero", norm=norm, act="relu", bias=b)
            for i in range(n_downsampling)])
        dim = ngf * 2 ** n_downsampling
        self.blocks = nn.SequentialCell([ResnetBlock(dim, padding_type, norm, bias=b, dropout=use_dropout, salt=i + 1)
                                         for i in range(n_blocks)])
        self.up = nn.SequentialCell([
            ConvTNormAct(ngf * 2 ** (n_downsampling - i), ngf * 2 ** (n_downsampling - i - 1), 3, 2, 1, 1,
                         norm=norm, act="relu", bias=b)
            for i in range(n_downsampling)])
        self.tail = (conv_unit(ngf, out_channels, 7, padding=3, pad="reflect", act="tanh", bias=True)
                     if with_tail else None)
        # junyanz zeroes the biases; pix2pixHD (the biases-everywhere variant) leaves PyTorch's default ones
        init_weights(self, bias="torch" if bias == "always" else "zero")

    def interface(self):
        return image_to_image("stylize", self.in_channels, self.out_channels, size_multiple=2 ** self.n_downsampling)

    def construct(self, x):
        x = self.up(self.blocks(self.down(self.head(x))))
        if self.tail is not None:
            x = self.tail(x)
        return x


class SharedResidualBlock(nn.Cell):
    """The notebook's `ResidualBlock`: one conv3+BN (`cv`) applied twice, `x + cv(lrelu(cv(x)))`."""

    def __init__(self, dim: int):
        super().__init__()
        self.cv = conv_unit(dim, dim, 3, 1, 1, pad="zero", norm="batch", bias=False)
        self.act = layers.LeakyReLU(0.2)

    def construct(self, x):
        return x + self.cv(self.act(self.cv(x)))


class SeedCycleGenerator(nn.Cell):
    """BerserkMangaColoring's `CycleGenerator(conv_dim, n_res_blocks)`; see the module docstring."""

    def __init__(self, conv_dim: int = 32, n_res_blocks: int = 9, in_channels: int = 3, out_channels: int = 3):
        super().__init__()
        d = conv_dim
        self.in_channels, self.out_channels = in_channels, out_channels
        self.cv1 = conv_unit(in_channels, d, 7, 1, 1, norm="batch", act="lrelu")
        self.cv2 = conv_unit(d, d * 2, 3, 2, 1, norm="batch", act="lrelu")
        self.cv3 = conv_unit(d * 2, d * 4, 3, 2, 1, norm="batch", act="lrelu")
        self.res = nn.SequentialCell([SharedResidualBlock(d * 4) for _ in range(n_res_blocks)])
        self.skip = layers.StopGradient()  # the notebook's `x.detach().clone()`
        self.dcv3 = ConvTNormAct(d * 4, d * 2, 3, 2, 1, 0, norm="batch", act="lrelu")
        self.dcv4 = ConvTNormAct(d * 2, d, 3, 2, 1, 0, norm="batch", act="lrelu")
        self.asym_pad = layers.Pad2d((0, 1, 0, 1), "zero")  # ZeroPad2d((left 0, right 1, top 0, bottom 1))
        self.dcv5 = ConvTNormAct(d, out_channels, 7, 1, 1, 0, norm="none", act="tanh")
        init_weights(self, weight_std=0.2, bn_gamma_std=None)

    def interface(self):
        return image_to_image("stylize", self.in_channels, self.out_channels, size_multiple=4)

    def construct(self, x):
        x = self.cv3(self.cv2(self.cv1(x)))
        x = self.res(x) + self.skip(x)
        x = self.asym_pad(self.dcv3(x))
        x = self.asym_pad(self.dcv4(x))
        return self.dcv5(x)


class SeedDiscriminator(nn.Cell):
    """BerserkMangaColoring's `Discriminator(conv_dim)`; see the module docstring."""

    def __init__(self, conv_dim: int = 32, in_channels: int = 3):
        super().__init__()
        d = conv_dim
        self.cv1 = conv_unit(in_channels, d, 3, 2, 1, act="relu")
        self.cv2 = conv_unit(d, d * 2, 4, 2, 1, norm="batch", act="relu")
        self.cv3 = conv_unit(d * 2, d * 4, 4, 2, 1, norm="batch", act="relu")
        self.cv4 = conv_unit(d * 4, d * 8, 4, 2, 1, norm="batch", act="relu")
        self.cv5 = conv_unit(d * 8, d * 8, 4, 2, 1, norm="batch", act="relu")
        self.cv6 = conv_unit(d * 8, 1, 4, 2, 1)
        init_weights(self, weight_std=None, bn_gamma_std=None)

    def construct(self, x):
        return self.cv6(self.cv5(self.cv4(self.cv3(self.cv2(self.cv1(x))))))


@MODELS.register()
def cyclegan_resnet(in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                    use_dropout: bool = False, n_blocks: int = 9, padding_type: str = "reflect") -> ResnetGenerator:
    """`--netG resnet_9blocks` (n_blocks 9) / `resnet_6blocks` (6): junyanz's ResNet generator."""
    return ResnetGenerator(in_channels, out_channels, ngf, norm, use_dropout, n_blocks, padding_type)


@MODELS.register()
def cyclegan_seed(conv_dim: int = 32, n_res_blocks: int = 9, in_channels: int = 3,
                  out_channels: int = 3) -> SeedCycleGenerator:
    """The BerserkMangaColoring notebook's CycleGenerator (conv_dim 32 in its `create_model`)."""
    return SeedCycleGenerator(conv_dim, n_res_blocks, in_channels, out_channels)


@MODELS.register()
def cyclegan_seed_discriminator(conv_dim: int = 32, in_channels: int = 3) -> SeedDiscriminator:
    return SeedDiscriminator(conv_dim, in_channels)

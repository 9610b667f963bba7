"""junyanz pix2pix networks: the U-Net generator (`unet_256`) and the conditional PatchGAN.

`UnetGenerator(3, 3, num_downs=8, ngf=64, norm="batch", use_dropout=True)` is `--netG unet_256` (54,413,955
parameters). It is built recursively from skip blocks as junyanz's `UnetSkipConnectionBlock`, innermost first:
every conv is 4×4 stride 2 padding 1 (zero); a block computes
    outermost: conv → block → ReLU → convT (bias) → Tanh
    innermost: LeakyReLU 0.2 → conv → ReLU → convT → norm
    otherwise: LeakyReLU 0.2 → conv → norm → block → ReLU → convT → norm (→ Dropout 0.5 in the num_downs-5
               blocks next to the innermost when use_dropout)
and every block but the outermost returns cat(x, that). (junyanz's LeakyReLU is in-place, so its skip carries
LeakyReLU(x); every skip output only ever enters the parent's ReLU, and ReLU∘LeakyReLU = ReLU, so the plain x
here gives the same network; tests/test_colorize_import.py holds it to a PyTorch build of upstream's code.)
Convs have biases only with instance norm. Sides must be multiples of 2^num_downs.

The discriminator is the shared `NLayerDiscriminator` on cat(A, B) (6 channels, batch norm: 2,768,705 parameters).
"""
from __future__ import annotations

from mindspore import nn

from mindspore_impl import layers
from mindspore_impl.models.translation_blocks import (NLayerDiscriminator, check_norm, conv_bias, conv_unit,
                                                      init_weights)
from mindspore_impl.registry import MODELS
from runtime.interface import image_to_image


class UnetSkipBlock(nn.Cell):
    """One level of the U-Net; attribute names are the parameter paths (`down_conv`, `submodule`, `up_conv`,
    `up_norm`), which the PyTorch rename table maps from `model.{1,3,5,6}` per level."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None, submodule: nn.Cell | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch",
                 dropout_salt: int | None = None):
        super().__init__()
        key = check_norm(norm)
        use_bias = conv_bias("norm", norm)
        input_nc = outer_nc if input_nc is None else input_nc
        self.outermost = outermost
        self.down_act = None if outermost else layers.LeakyReLU(0.2)
        down_norm = "none" if (outermost or innermost) else norm
        self.down_conv = conv_unit(input_nc, inner_nc, 4, 2, 1, pad="zero", norm=down_norm, bias=use_bias)
        self.submodule = submodule
        self.up_act = layers.ReLU()
        up_in = inner_nc if innermost else inner_nc * 2
        self.up_conv = layers.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1, bias=outermost or use_bias)
        self.up_norm = None if outermost or key == "none" else layers.NORMS[key](outer_nc, 1e-5)
        self.tanh = layers.Tanh() if outermost else None
        self.dropout = layers.Dropout(0.5, salt=dropout_salt) if dropout_salt is not None else None
        self.concat = None if outermost else layers.Concat(1)

    def construct(self, x):
        y = x
        if self.down_act is not None:
            y = self.down_act(y)
        y = self.down_conv(y)
        if self.submodule is not None:
            y = self.submodule(y)
        y = self.up_conv(self.up_act(y))
        if self.up_norm is not None:
            y = self.up_norm(y)
        if self.tanh is not None:
            y = self.tanh(y)
        if self.dropout is not None:
            y = self.dropout(y)
        if self.concat is None:
            return y
        return self.concat(x, y)


class UnetGenerator(nn.Cell):
    """junyanz `UnetGenerator` (see the module docstring); `model` is the outermost block."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5 (junyanz builds 4 fixed levels around the innermost), got "
                             f"{num_downs}")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for i in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm,
                                  dropout_salt=i + 1 if use_dropout else None)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, input_nc=in_channels, submodule=block, outermost=True,
                                   norm=norm)
        init_weights(self)

    def interface(self):
        return image_to_image("stylize", self.in_channels, self.out_channels, size_multiple=2 ** self.num_downs)

    def construct(self, x):
        return self.model(x)


@MODELS.register()
def pix2pix_unet(in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True) -> UnetGenerator:
    """`--netG unet_256` (num_downs 8) / `unet_128` (7): junyanz's U-Net."""
    return UnetGenerator(in_channels, out_channels, num_downs, ngf, norm, use_dropout)


@MODELS.register()
def patchgan_discriminator(in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                           bias: str = "norm") -> NLayerDiscriminator:
    """junyanz `NLayerDiscriminator` (`--netD basic` is n_layers 3: the 70×70 PatchGAN), padding 1."""
    return init_weights(NLayerDiscriminator(in_channels, ndf, n_layers, norm, padding=1, bias=bias))

"""AnimeGANv2 generator and discriminator, faithful to the official TF `G_net` / `D_net`.

Not the public MindSpore port's topology (that one drops a conv, uses instance norm, zero padding and bare
upsampling convs). Block names and sub-layer indices follow the PyTorch port (`block_a` … `out_layer`), so its
77-tensor state dict maps onto this network through `mindspore_impl/weights/animeganv2_pt.py`'s table.
"""
from __future__ import annotations

from mindspore import nn

from mindspore_impl.layers import ConvNormAct, InvertedResidual, Upsample, Conv2d, Tanh
from mindspore_impl.registry import MODELS
from runtime.interface import image_to_image


def _scaled(width: float):
    def ch(c: int) -> int:
        return max(4, int(round(c * width)))

    return ch


class AnimeGANv2Generator(nn.Cell):
    """Photo → anime generator. Input/output NCHW RGB in [-1, 1]; H, W multiples of 4 keep the size.

    Args:
        width: channel multiplier (1.0 = official, 2,143,552 parameters); small values for tests and demos.
        norm_eps: layer-norm epsilon (TF 1e-12, the PyTorch port 1e-5).
        upsample: 'asymmetric' (TF1 resize, official styles) or 'align_corners' (PyTorch-port weights).
    """

    size_multiple = 4

    def interface(self):
        """What export writes and the runtime feeds: RGB in [-1, 1] → RGB, same size, sides multiples of 4."""
        return image_to_image("stylize", size_multiple=self.size_multiple)

    def __init__(self, width: float = 1.0, norm_eps: float = 1e-12, upsample: str = "asymmetric"):
        super().__init__()
        ch = _scaled(width)
        eps = norm_eps

        def cna(i, o, k=3, s=1):
            return ConvNormAct(i, o, kernel=k, stride=s, eps=eps)

        self.block_a = nn.SequentialCell([cna(3, ch(32), 7), cna(ch(32), ch(64), s=2), cna(ch(64), ch(64))])
        self.block_b = nn.SequentialCell([cna(ch(64), ch(128), s=2), cna(ch(128), ch(128))])
        self.block_c = nn.SequentialCell([
            cna(ch(128), ch(128)),
            InvertedResidual(ch(128), ch(256), 2, eps),
            InvertedResidual(ch(256), ch(256), 2, eps),
            InvertedResidual(ch(256), ch(256), 2, eps),
            InvertedResidual(ch(256), ch(256), 2, eps),
            cna(ch(256), ch(128)),
        ])
        self.up_d = Upsample(2, upsample)
        self.block_d = nn.SequentialCell([cna(ch(128), ch(128)), cna(ch(128), ch(128))])
        self.up_e = Upsample(2, upsample)
        self.block_e = nn.SequentialCell([cna(ch(128), ch(64)), cna(ch(64), ch(64)), cna(ch(64), ch(32), 7)])
        self.out_layer = nn.SequentialCell([Conv2d(ch(32), 3, 1), Tanh()])

    def construct(self, x):
        x = self.block_a(x)
        x = self.block_b(x)
        x = self.block_c(x)
        x = self.block_d(self.up_d(x))
        x = self.block_e(self.up_e(x))
        return self.out_layer(x)


class AnimeGANv2Discriminator(nn.Cell):
    """Spectral-norm PatchGAN of the official `D_net(ch=64, n_dis=3, sn=True)`; output N×1×H/4×W/4 logits.

    Zero padding; the official `conv` pads stride-2 layers top/left by 1 and bottom/right by 0.
    """

    def __init__(self, ch: int = 64, n_dis: int = 3, sn: bool = True, norm_eps: float = 1e-12, in_ch: int = 3):
        super().__init__()
        c = ch // 2

        def conv(i, o, s=1, norm="none", act="lrelu"):
            padding = (1, 0, 1, 0) if s == 2 else 1
            return ConvNormAct(i, o, kernel=3, stride=s, padding=padding, pad="zero", norm=norm, act=act,
                               eps=norm_eps, sn=sn, init="normal002")

        layers = [conv(in_ch, c)]
        prev = c
        for _ in range(1, n_dis):
            layers += [conv(prev, c * 2, s=2), conv(c * 2, c * 4, norm="layer")]
            prev, c = c * 4, c * 2
        layers += [conv(prev, c * 2, norm="layer"), conv(c * 2, 1, act="none")]
        self.layers = nn.SequentialCell(layers)

    def construct(self, x):
        return self.layers(x)


@MODELS.register()
def animeganv2_generator(width: float = 1.0, norm_eps: float = 1e-12, upsample: str = "asymmetric"):
    return AnimeGANv2Generator(width=width, norm_eps=norm_eps, upsample=upsample)


@MODELS.register()
def animeganv2_discriminator(ch: int = 64, n_dis: int = 3, sn: bool = True, norm_eps: float = 1e-12):
    return AnimeGANv2Discriminator(ch=ch, n_dis=n_dis, sn=sn, norm_eps=norm_eps)

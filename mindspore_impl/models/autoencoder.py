"""VGG-encoder / upsampling-decoder autoencoder: the reconstruction baseline of the photo-to-anime study.

The encoder is the frozen VGG19 of the loss network (`models/vgg19.py`: same Caffe front-end, same weights) up to
relu4_1 (or conv4_4); the decoder mirrors it, as in the AdaIN decoder: every VGG conv becomes a reflect-padded
ConvNormAct going the other way, every max-pool a nearest ×2 upsampling, and conv1_1's mirror ends in 3 channels
and tanh. Trained only on anime frames (family `autoencoder`), the decoder learns to paint VGG features with anime
textures; fed a photo's features it gives an anime-textured reconstruction.

Everything is built from the shared layer vocabulary (Conv2d, Pad2d via ConvNormAct, MaxPool2d, Upsample, ...);
the Caffe front-end is a fixed 1×1 convolution (RGB [-1, 1] → BGR 0..255 − means) so the whole network stays a
plain stack of convolutions.
"""
from __future__ import annotations

from collections import OrderedDict

import mindspore as ms
import numpy as np
from mindspore import nn

from mindspore_impl.layers import Conv2d, ConvNormAct, MaxPool2d, Upsample
from mindspore_impl.models.vgg19 import VGG19_CONV_LAYERS, VGG_MEAN_BGR, check_vgg19_params
from mindspore_impl.registry import MODELS
from runtime.interface import image_to_image

POOL_AFTER = ("conv1_2", "conv2_2", "conv3_4")  # VGG19's 2×2 max-pools up to block 4
ENCODER_ENDS = {"relu4_1": "conv4_1", "conv4_4": "conv4_4"}  # output name → last VGG conv used


def caffe_front_end_weights():
    """(weight (3,3,1,1), bias (3,)) of the 1×1 conv that maps RGB in [-1, 1] to Caffe BGR 0..255 minus means."""
    weight = np.zeros((3, 3, 1, 1), np.float32)
    for out_ch in range(3):
        weight[out_ch, 2 - out_ch] = 127.5  # output B, G, R reads input channel 2, 1, 0
    bias = 127.5 - np.asarray(VGG_MEAN_BGR, np.float32)
    return weight, bias


def _freeze(cell: nn.Cell) -> None:
    for p in cell.get_parameters():
        p.requires_grad = False


class VGGEncoder(nn.Cell):
    """VGG19 conv1_1 .. conv4_1 (output relu4_1, default) or .. conv4_4 (output pre-ReLU, as the content loss).

    Input NCHW RGB in [-1, 1], H and W multiples of 8. Frozen: its weights come from a VGG19 checkpoint
    (`load_vgg19_weights`) and then travel inside the generator's own checkpoint.
    """

    def __init__(self, output: str = "relu4_1"):
        super().__init__()
        if output not in ENCODER_ENDS:
            raise ValueError(f"unknown encoder output '{output}'; choose from {sorted(ENCODER_ENDS)}")
        self.output = output
        last = ENCODER_ENDS[output]
        names = [n for n, _, _ in VGG19_CONV_LAYERS]
        self.conv_layers = VGG19_CONV_LAYERS[: names.index(last) + 1]
        self.front = Conv2d(3, 3, 1, bias=True)
        w, b = caffe_front_end_weights()
        self.front.weight.set_data(ms.Tensor(w))
        self.front.bias.set_data(ms.Tensor(b))
        cells = OrderedDict()
        for name, cin, cout in self.conv_layers:
            act = "none" if name == "conv4_4" else "relu"  # conv4_4 is used pre-ReLU, as in the content loss
            # VGG pads with zeros (its weights were trained that way), unlike the decoder's reflect padding
            cells[name] = ConvNormAct(cin, cout, kernel=3, padding=1, pad="zero", norm="none", act=act, bias=True)
            if name in POOL_AFTER:
                cells[f"pool{name[4]}"] = MaxPool2d(2, 2)
        self.layers = nn.SequentialCell(cells)
        _freeze(self)

    def load_vgg19_weights(self, params: dict, source: str = "VGG19 checkpoint") -> None:
        """Copy {`convX_Y.weight`/`.bias`: array} (the `models/vgg19.py` checkpoint layout) into the encoder."""
        check_vgg19_params(params, source)
        for name, _, _ in self.conv_layers:
            conv = getattr(self.layers, name).conv
            conv.weight.set_data(ms.Tensor(np.asarray(params[f"{name}.weight"], np.float32)))
            conv.bias.set_data(ms.Tensor(np.asarray(params[f"{name}.bias"], np.float32)))

    def construct(self, x):
        return self.layers(self.front(x))


class MirrorDecoder(nn.Cell):
    """The encoder's mirror: each VGG conv (in→out) becomes ConvNormAct(out→in), each pool a nearest ×2 upsample.

    The mirror of conv1_1 outputs 3 channels with tanh (no norm). `width` scales the hidden channels only.
    """

    def __init__(self, encoder_layers, width: float = 1.0, norm: str = "layer", norm_eps: float = 1e-5,
                 pad: str = "reflect"):
        super().__init__()

        def ch(c: int) -> int:
            return max(4, int(round(c * width)))

        cells = []
        prev = encoder_layers[-1][2]  # the encoder's output channels (512), not scaled
        for idx in range(len(encoder_layers) - 1, 0, -1):
            _, cin, _ = encoder_layers[idx]
            cells.append(ConvNormAct(prev, ch(cin), kernel=3, pad=pad, norm=norm, act="relu", eps=norm_eps))
            prev = ch(cin)
            if encoder_layers[idx - 1][0] in POOL_AFTER:  # VGG pooled just before this conv: undo it
                cells.append(Upsample(2, "nearest"))
        # conv1_1's mirror; small init so tanh starts in its linear range (He init saturates it, stalling the
        # first steps)
        cells.append(ConvNormAct(prev, 3, kernel=3, pad=pad, norm="none", act="tanh", init="normal002"))
        self.layers = nn.SequentialCell(cells)

    def construct(self, x):
        return self.layers(x)


class VGGAutoencoder(nn.Cell):
    """Frozen VGG19 encoder + trainable mirrored decoder. Input/output NCHW RGB in [-1, 1], H, W multiples of 8."""

    size_multiple = 8  # three 2×2 pools

    def interface(self):
        return image_to_image("stylize", size_multiple=self.size_multiple)

    def __init__(self, width: float = 1.0, encoder_layer: str = "relu4_1", norm: str = "layer",
                 norm_eps: float = 1e-5):
        super().__init__()
        self.encoder = VGGEncoder(encoder_layer)
        self.decoder = MirrorDecoder(self.encoder.conv_layers, width=width, norm=norm, norm_eps=norm_eps)

    def construct(self, x):
        return self.decoder(self.encoder(x))


@MODELS.register()
def vgg_autoencoder(width: float = 1.0, encoder_layer: str = "relu4_1", norm: str = "layer", norm_eps: float = 1e-5):
    """The encoder weights are loaded by the training family (`loss.vgg_ckpt`) or come with a checkpoint."""
    return VGGAutoencoder(width=width, encoder_layer=encoder_layer, norm=norm, norm_eps=norm_eps)

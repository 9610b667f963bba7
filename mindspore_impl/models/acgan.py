"""The Anime-Generation study's ACGAN (bchao1/Anime-Generation `old/old_src/ACGAN.py`): G and D for 64² faces.

Generator: z (100) ‖ tags (22) → [N, 122, 1, 1] → ConvT k4 s1 → 1024@4² (BN, ReLU) → ConvT k4 s2 p1 → 512@8²,
256@16², 128@32² (BN, ReLU; convs without bias) → ConvT k4 s2 p1 → 3@64² with bias → tanh. 13,018,883 parameters.
Discriminator: conv k4 s2 p1 (no bias) 3→128 (LeakyReLU 0.2, no BN) → 256 → 512 → 1024@4² (BN, LeakyReLU), then
two heads on the 1024@4² features: real/fake = conv k4 → 1 (bias) + sigmoid; classifier = conv k4 1024→512 (bias)
+ BN + LeakyReLU → Linear(512, 22) + sigmoid (multi-label: one-hot hair ‖ one-hot eye). 19,437,591 parameters.

Options beyond the study, for tests and the bundled demo (defaults = the study): `ngf`/`ndf` scale the widths
(64 gives 1024/512/256/128 and 128/256/512/1024), `image_size` 64, 32 or 16 drops the last up/down stages.
Sequential indices follow the study's `nn.Sequential`s where the layouts agree (G: `gen.<i>` exactly; D: one
`conv_layers.<i>` block per conv), so `mindspore_impl/weights/acgan_pt.py` maps its state dicts by a short table.
"""
from __future__ import annotations

import math

from mindspore import nn

from datasets.acgan_tags import EYES, HAIR, NUM_TAGS, TAG_GROUPS
from mindspore_impl import layers
from mindspore_impl.registry import MODELS
from runtime.interface import Interface, Port

BN_EPS = 1e-5  # torch.nn.BatchNorm2d's
LRELU_SLOPE = 0.2
# The study samples z ~ N(0, 0.9²) at evaluation ("train with N(0,1), sample from smaller variance"); the runtime
# and mindspore_impl/generate.py read this default from the exported interface's metadata.
SAMPLE_SIGMA = 0.9
IMAGE_SIZES = (16, 32, 64)


def _stages(image_size: int) -> int:
    """Stride-2 stages between 4² and `image_size` (the study's 64: 4)."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size}")
    return int(math.log2(image_size)) - 2


class ACGANGenerator(nn.Cell):
    """(z [N, z_dim], tags [N, 22]) → image [N, 3, S, S] in [-1, 1].

    Args:
        z_dim: latent size (the study: 100).
        ngf: width; layer channels 16·ngf, 8·ngf, 4·ngf, 2·ngf (64 = the study's 1024/512/256/128).
        image_size: 64 (the study), 32 or 16 (fewer up-sampling stages).
    """

    def __init__(self, z_dim: int = 100, ngf: int = 64, image_size: int = 64):
        super().__init__()
        if z_dim < 1 or ngf < 1:
            raise ValueError(f"z_dim and ngf must be positive, got z_dim={z_dim}, ngf={ngf}")
        self.z_dim, self.image_size = int(z_dim), int(image_size)
        widths = [16 * ngf // 2 ** k for k in range(_stages(image_size))]  # 1024, 512, 256, 128 at ngf 64
        self.cat = layers.Concat(axis=1)
        self.to_map = layers.Reshape((-1, z_dim + NUM_TAGS, 1, 1))
        cells = [layers.ConvTranspose2d(z_dim + NUM_TAGS, widths[0], 4, stride=1),
                 layers.BatchNorm2d(widths[0], eps=BN_EPS), layers.ReLU()]
        for c_in, c_out in zip(widths, widths[1:]):
            cells += [layers.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
                      layers.BatchNorm2d(c_out, eps=BN_EPS), layers.ReLU()]
        cells += [layers.ConvTranspose2d(widths[-1], 3, 4, stride=2, padding=1, bias=True), layers.Tanh()]
        self.gen = nn.SequentialCell(cells)

    def interface(self) -> Interface:
        """z [N, z_dim] ~ N(0, 1) and the 22 tags (hair then eye) → RGB [N, 3, S, S] in [-1, 1]."""
        return Interface(
            "sample",
            (Port("z", "noise", ("batch", self.z_dim)), Port("tags", "onehot", ("batch", NUM_TAGS), groups=TAG_GROUPS)),
            (Port("image", "image", ("batch", 3, self.image_size, self.image_size), range=(-1.0, 1.0)),),
            metadata={"sample_sigma": f"{SAMPLE_SIGMA:g}", "hair_tags": ",".join(HAIR), "eye_tags": ",".join(EYES)})

    def construct(self, z, tags):
        return self.gen(self.to_map(self.cat(z, tags)))


def _conv(c_in: int, c_out: int, norm: bool) -> layers.ConvNormAct:
    """conv k4 s2 p1 without bias (zero padding), optional BN, LeakyReLU 0.2."""
    return layers.ConvNormAct(c_in, c_out, 4, stride=2, padding=1, pad="zero", norm="batch" if norm else "none",
                              act="lrelu", eps=BN_EPS, init="normal002")


class ACGANDiscriminator(nn.Cell):
    """image [N, 3, S, S] → (real/fake probability [N], tag probabilities [N, 22]).

    Args:
        num_classes: tag vector size (the study: 22).
        ndf: width; conv channels 2·ndf, 4·ndf, 8·ndf, 16·ndf and an 8·ndf bottleneck (64 = the study's).
        image_size: 64 (the study), 32 or 16 (fewer down-sampling stages).
        batch_norm: the study's BatchNorm after convs 2-4 and in the bottleneck. Its README lists "try removing
            batch norm in discriminator" for its low colour intensity; without it D judges each image on its own
            (no batch statistics), which short runs here need for G to learn its tags (docs/acgan.md).
    """

    def __init__(self, num_classes: int = NUM_TAGS, ndf: int = 64, image_size: int = 64, batch_norm: bool = True):
        super().__init__()
        if num_classes < 1 or ndf < 1:
            raise ValueError(f"num_classes and ndf must be positive, got num_classes={num_classes}, ndf={ndf}")
        self.image_size = int(image_size)
        stages = _stages(image_size)
        widths = [16 * ndf // 2 ** k for k in reversed(range(stages))]  # 128, 256, 512, 1024 at ndf 64
        cells = [_conv(3, widths[0], norm=False)] + [_conv(a, b, norm=batch_norm) for a, b in zip(widths, widths[1:])]
        self.conv_layers = nn.SequentialCell(cells)
        top = widths[-1]
        self.discriminator_layer = nn.SequentialCell([layers.Conv2d(top, 1, 4, bias=True, init="normal002"),
                                                      layers.Sigmoid()])
        norm = layers.BatchNorm2d(8 * ndf, eps=BN_EPS) if batch_norm else layers.Identity()
        self.bottleneck = nn.SequentialCell([layers.Conv2d(top, 8 * ndf, 4, bias=True, init="normal002"), norm,
                                             layers.LeakyReLU(LRELU_SLOPE)])
        self.flatten = layers.Flatten()
        self.classifier_layer = nn.SequentialCell([layers.Dense(8 * ndf, num_classes), layers.Sigmoid()])

    def construct(self, x):
        features = self.conv_layers(x)
        score = self.discriminator_layer(features).reshape((-1,))
        classes = self.classifier_layer(self.flatten(self.bottleneck(features)))
        return score, classes


@MODELS.register()
def acgan_generator(z_dim: int = 100, ngf: int = 64, image_size: int = 64):
    return ACGANGenerator(z_dim=z_dim, ngf=ngf, image_size=image_size)


@MODELS.register()
def acgan_discriminator(num_classes: int = NUM_TAGS, ndf: int = 64, image_size: int = 64, batch_norm: bool = True):
    return ACGANDiscriminator(num_classes=num_classes, ndf=ndf, image_size=image_size, batch_norm=batch_norm)

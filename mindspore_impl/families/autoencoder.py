"""Autoencoder baseline family: train the VGG-feature decoder to reconstruct anime frames.

One phase, one update per batch: the decoder of `vgg_autoencoder` learns to turn the frozen VGG19 features of a
style (anime) image back into that image, with an L1 reconstruction loss plus the VGG conv4_4 content loss
(the AnimeGANv2 content term). Only anime is seen in training, so applied to a photo the decoder paints the
photo's features with anime textures; the sample grid shows exactly that (photo | output).

Data: the AnimeGANv2 layout's `ROOT/<style>/style/` images; the sample photos come from `ROOT/val/`, else
`ROOT/test/`, else `ROOT/train_photo/` (no `smooth/` folder is needed); see datasets/style_images.py.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.registry import build_network
from mindspore_impl.families.base import NETWORK, Family, image_grid, to_uint8
from mindspore_impl.losses import animegan as L
from mindspore_impl.losses import gan
from mindspore_impl.registry import FAMILIES
from mindspore_impl.trainer import Phase, Update

# Three 2x2 VGG pools between the input and the encoder's deepest layer: the image sides must divide by 8.
SIZE_MULTIPLE = 8


@dataclass
class AutoencoderLoss:
    vgg_ckpt: str = "weights/vgg19.ckpt"  # the encoder's weights and the content-loss network
    rec_weight: float = 10.0  # L1 on pixels in [-1, 1]
    con_weight: float = 0.1  # L1 on VGG conv4_4 (pre-ReLU), as the AnimeGANv2 content loss

    def __post_init__(self):
        if self.rec_weight < 0 or self.con_weight < 0 or self.rec_weight + self.con_weight == 0:
            raise ValueError(f"need non-negative weights, not both zero (got rec_weight={self.rec_weight}, "
                             f"con_weight={self.con_weight})")


@dataclass
class AutoencoderOptim:
    epochs: int = 30
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999

    def __post_init__(self):
        if self.epochs < 1 or not self.lr > 0:
            raise ValueError(f"need epochs >= 1 and lr > 0, got epochs={self.epochs}, lr={self.lr}")


@dataclass
class AutoencoderDataConfig:
    root: str = "dataset"
    style: str = "Hayao"
    image_size: int = 256
    sample_count: int = 4


@FAMILIES.register("autoencoder")
class AutoencoderFamily(Family):
    sections = {"generator": NETWORK, "loss": AutoencoderLoss, "optim": AutoencoderOptim,
                "data": AutoencoderDataConfig}

    def __init__(self, cfg: dict, ctx):
        import mindspore_impl.models  # noqa: F401
        from datasets.animegan_data import DatasetError
        from datasets.style_images import StyleImages
        from mindspore_impl.models.vgg19 import VGGWeightsError, load_vgg19, read_checkpoint

        self.loss_cfg = build_dataclass(AutoencoderLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(AutoencoderOptim, section(cfg, "optim"), "optim")
        self.data_cfg = build_dataclass(AutoencoderDataConfig, section(cfg, "data"), "data")
        self.generator = build_network(cfg, "generator")
        if not hasattr(self.generator, "encoder") or not hasattr(self.generator, "decoder"):
            raise ConfigError(f"family 'autoencoder' needs generator.name: vgg_autoencoder, got "
                              f"'{section(cfg, 'generator').get('name')}'")
        try:
            self.generator.encoder.load_vgg19_weights(read_checkpoint(self.loss_cfg.vgg_ckpt),
                                                      self.loss_cfg.vgg_ckpt)
            self.vgg = load_vgg19(self.loss_cfg.vgg_ckpt)
        except VGGWeightsError as exc:
            raise ConfigError(f"loss.vgg_ckpt: {exc}") from None
        seed = int(section(cfg, "train").get("seed", 0))
        try:
            d = self.data_cfg
            self.data = StyleImages(d.root, d.style, d.image_size, sample_count=d.sample_count,
                                    size_multiple=SIZE_MULTIPLE, seed=seed, shard_id=ctx.rank, num_shards=ctx.world,
                                    report=lambda line: print(f"warning: {line}", file=sys.stderr))
        except DatasetError as exc:
            raise ConfigError(f"data: {exc}") from None
        self._samples = self.data.samples
        o = self.optim_cfg
        # trainable_params() leaves out the frozen encoder: only the decoder learns
        self.opt = nn.Adam(self.generator.trainable_params(), learning_rate=o.lr, beta1=o.beta1, beta2=o.beta2)

    def networks(self):
        return {"G": self.generator}

    def optimizers(self):
        return {"G": self.opt}

    def set_train(self, mode: bool = True):
        self.generator.set_train(mode)
        self.vgg.set_train(False)

    def phases(self):
        return [Phase("reconstruct", self.optim_cfg.epochs,
                      [Update("G", self.loss, self.opt, ("anime",), ("rec", "content"))])]

    def sample_grid(self) -> np.ndarray:
        """Rows of (photo | output): what the anime-trained decoder makes of photos."""
        from datasets.animegan_data import to_model_input

        self.generator.set_train(False)
        photos = to_model_input(self._samples)
        out = self.generator(ms.Tensor(photos)).asnumpy()
        self.generator.set_train(True)
        return image_grid([[to_uint8(p), to_uint8(o)] for p, o in zip(photos, out)])

    def loss(self, anime):
        c = self.loss_cfg
        out = self.generator(anime)
        rec = gan.l1_loss(out, anime)
        con = L.content_loss(self.vgg(anime), self.vgg(out))
        return c.rec_weight * rec + c.con_weight * con, ops.stack([rec, con])

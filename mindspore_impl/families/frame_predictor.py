"""Future-frame predictor family: learn (frame, manga page[, earlier frames]) → next frame from a dataset export.

One phase, one update per batch: the `frame_predictor` network (mindspore_impl/models/frame_predictor.py) is
fitted to the true next frame with `losses/frame_predictor.prediction_loss` on its unclamped output. The copy-last-
frame MSE of every batch is logged beside it (`G/copy_mse`), so losses.csv shows at a glance whether the model
beats copying.

No adversarial term, on purpose: the predictor is judged by MSE/PSNR on held-out episodes, which a GAN term can
only trade away for sharpness, and the motion a page sets is deterministic (on the synthetic set) or, on real
anime, ambiguous in ways one page cannot resolve — a discriminator would then reward a plausible *wrong* motion.
An adversarial variant would be a second Update (a PatchGAN on (frame, next) pairs) in `phases()`.

Data (`data:`): `root` = a dataset export (triples.csv, dataset.json); training uses split "train", the sample grid
and `mindspore_impl/manganime.py test` the held-out split "val" (whole episodes). `stride` sets the raw frames
between input and target (a multiple of the export's stride; default: the export's).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from mindspore_impl.config import ConfigError, build_dataclass, section
from mindspore_impl.families.base import NETWORK, Family, image_grid, to_uint8
from mindspore_impl.losses.frame_predictor import prediction_loss
from mindspore_impl.registry import FAMILIES, build_network
from mindspore_impl.trainer import Phase, Update


@dataclass
class PredictorLoss:
    l2_weight: float = 1.0  # MSE, what the held-out PSNR measures
    l1_weight: float = 0.0
    gdl_weight: float = 0.0  # gradient difference loss (Mathieu et al. 2016), sharper moving edges

    def __post_init__(self):
        weights = {"l2_weight": self.l2_weight, "l1_weight": self.l1_weight, "gdl_weight": self.gdl_weight}
        bad = [k for k, v in weights.items() if not v >= 0]
        if bad or not sum(weights.values()) > 0:
            raise ValueError(f"loss weights must be >= 0 and not all 0, got {weights}")


@dataclass
class PredictorOptim:
    epochs: int = 60
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999

    def __post_init__(self):
        if self.epochs < 1 or not self.lr > 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"need epochs >= 1, lr > 0, betas in [0, 1); got epochs={self.epochs}, lr={self.lr}, "
                             f"beta1={self.beta1}, beta2={self.beta2}")


@dataclass
class PredictorData:
    root: str = "data/moving_shapes/dataset"  # a dataset export (datasets/manganime/dataset_export.py)
    stride: Optional[int] = None  # raw frames from input to target; None: the export's stride
    image_size: Optional[int] = None  # resize frames to image_size² (None: as exported)
    sample_count: int = 4  # held-out samples in the sample grid

    def __post_init__(self):
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1 (or null), got {self.stride}")
        if self.image_size is not None and self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 (or null), got {self.image_size}")
        if self.sample_count < 1:
            raise ValueError(f"sample_count must be >= 1, got {self.sample_count}")


def open_split(data: PredictorData, net, split: str, seed: int = 0, shard: int = 0, shards: int = 1):
    """The PredictionTriples of `split` for network `net` (its context, page size and size multiple)."""
    from datasets.manganime.errors import ManganimeError
    from datasets.manganime.triples import PredictionTriples

    try:
        return PredictionTriples(data.root, split, stride=data.stride, context=net.context,
                                 page_size=net.page_shape, image_size=data.image_size,
                                 size_multiple=net.size_multiple, seed=seed, shard=shard, shards=shards)
    except ManganimeError as exc:
        raise ConfigError(f"data: {exc}") from None


@FAMILIES.register("frame_predictor")
class FramePredictorFamily(Family):
    sections = {"generator": NETWORK, "loss": PredictorLoss, "optim": PredictorOptim, "data": PredictorData}

    def __init__(self, cfg: dict, ctx):
        from runtime.predictor import previous_names

        self.loss_cfg = build_dataclass(PredictorLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(PredictorOptim, section(cfg, "optim"), "optim")
        self.data_cfg = build_dataclass(PredictorData, section(cfg, "data"), "data")
        self.generator = build_network(cfg, "generator")
        if not hasattr(self.generator, "unclamped"):
            raise ConfigError(f"family 'frame_predictor' needs generator.name: frame_predictor, got "
                              f"'{section(cfg, 'generator').get('name')}'")
        seed = int(section(cfg, "train").get("seed", 0))
        self.data = open_split(self.data_cfg, self.generator, "train", seed, ctx.rank, ctx.world)
        self.inputs = ("frame", "page", "target", *previous_names(self.generator.context))
        try:
            self.held_out = open_split(self.data_cfg, self.generator, "val")
        except ConfigError as exc:  # a dataset without held-out episodes still trains; the grid shows training data
            print(f"warning: no held-out samples for the sample grid ({exc}); showing training samples",
                  file=sys.stderr)
            self.held_out = self.data
        o = self.optim_cfg
        self.opt = nn.Adam(self.generator.trainable_params(), learning_rate=o.lr, beta1=o.beta1, beta2=o.beta2)

    def networks(self):
        return {"G": self.generator}

    def optimizers(self):
        return {"G": self.opt}

    def phases(self):
        return [Phase("predict", self.optim_cfg.epochs,
                      [Update("G", self.loss, self.opt, self.inputs, ("mse", "l1", "gdl", "copy_mse"))])]

    def loss(self, frame, page, target, *previous):
        c = self.loss_cfg
        pred = self.generator.unclamped(frame, page, *previous)
        total, mse, l1, gdl = prediction_loss(pred, target, c.l2_weight, c.l1_weight, c.gdl_weight)
        copy = ops.stop_gradient(ops.mean(ops.square(frame - target)))
        return total, ops.stack([mse, l1, gdl, copy])

    def sample_grid(self) -> np.ndarray:
        """Rows of held-out samples: page | frame | prediction | true next frame | 4×|prediction − true|."""
        from runtime.imaging import resize

        count = min(self.data_cfg.sample_count, len(self.held_out))
        indices = np.linspace(0, len(self.held_out) - 1, count).round().astype(int)
        batch = self.held_out.arrays(indices)
        self.generator.set_train(False)
        args = [ms.Tensor(batch[k]) for k in self.inputs if k != "target"]
        pred = self.generator(*args).asnumpy()
        self.generator.set_train(True)
        rows = []
        for i in range(count):
            frame = to_uint8(batch["frame"][i])
            page = resize(to_uint8(batch["page"][i]), *frame.shape[:2])
            error = np.clip(np.abs(pred[i] - batch["target"][i]) * 4 - 1, -1, 1)
            rows.append([page, frame, to_uint8(pred[i]), to_uint8(batch["target"][i]), to_uint8(error)])
        return image_grid(rows)

"""Future-frame predictor family: learn (frame, manga page[, earlier frames]) → next frame from a dataset export.

One phase, one update per batch: the `frame_predictor` network (mindspore_impl/models/frame_predictor.py) is
fitted to the true next frame with `losses/frame_predictor.prediction_loss` on its unclamped output. The copy-last-
frame MSE of every batch is logged beside it (`G/copy_mse`), so losses.csv shows at a glance whether the model
beats copying.

`data.unroll: K` > 1 trains on K-step rollouts: the prediction (clamped, as the runtime feeds it back) becomes the
next step's input, each step is scored against the true frame that many strides on, and the gradient flows back
through the whole chain. A model trained on one step only never sees its own errors as input, and its long
rollouts drift (docs/manganime_predictor.md measures both).

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
    unroll: int = 1  # train on rollouts of this many steps (1: one-step teacher forcing)

    def __post_init__(self):
        if self.unroll < 1:
            raise ValueError(f"unroll must be >= 1, got {self.unroll}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1 (or null), got {self.stride}")
        if self.image_size is not None and self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 (or null), got {self.image_size}")
        if self.sample_count < 1:
            raise ValueError(f"sample_count must be >= 1, got {self.sample_count}")


def open_split(data: PredictorData, net, split: str, seed: int = 0, shard: int = 0, shards: int = 1,
               unroll: int = 1):
    """The PredictionTriples of `split` for network `net` (its context, page size and size multiple)."""
    from datasets.manganime.errors import ManganimeError
    from datasets.manganime.triples import PredictionTriples

    try:
        return PredictionTriples(data.root, split, stride=data.stride, context=net.context,
                                 page_size=net.page_shape, image_size=data.image_size,
                                 size_multiple=net.size_multiple, seed=seed, shard=shard, shards=shards,
                                 unroll=unroll, page_channels=net.page_channels)
    except ManganimeError as exc:
        raise ConfigError(f"data: {exc}") from None


@FAMILIES.register("frame_predictor")
class FramePredictorFamily(Family):
    sections = {"generator": NETWORK, "loss": PredictorLoss, "optim": PredictorOptim, "data": PredictorData}

    def __init__(self, cfg: dict, ctx):
        from datasets.manganime.triples import target_names
        from runtime.predictor import previous_names

        self.loss_cfg = build_dataclass(PredictorLoss, section(cfg, "loss"), "loss")
        self.optim_cfg = build_dataclass(PredictorOptim, section(cfg, "optim"), "optim")
        self.data_cfg = build_dataclass(PredictorData, section(cfg, "data"), "data")
        self.generator = build_network(cfg, "generator")
        if not hasattr(self.generator, "unclamped"):
            raise ConfigError(f"family 'frame_predictor' needs generator.name: frame_predictor, got "
                              f"'{section(cfg, 'generator').get('name')}'")
        seed = int(section(cfg, "train").get("seed", 0))
        self.unroll = self.data_cfg.unroll
        self.data = open_split(self.data_cfg, self.generator, "train", seed, ctx.rank, ctx.world, self.unroll)
        self.network_inputs = ("frame", "page", *previous_names(self.generator.context))  # the port order
        self.inputs = ("frame", "page", *target_names(self.unroll), *self.network_inputs[2:])
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
        names = ("mse", "l1", "gdl", "copy_mse") + ((f"mse_step{self.unroll}",) if self.unroll > 1 else ())
        return [Phase("predict", self.optim_cfg.epochs, [Update("G", self.loss, self.opt, self.inputs, names)])]

    def loss(self, frame, page, *rest):
        """rest = target, target_2 … target_K, previous_1 … previous_k. Logged: the first step's MSE, L1 and GDL
        (comparable with copy_mse), and with K > 1 the last step's MSE; the total sums all K steps' losses."""
        c = self.loss_cfg
        targets, previous = rest[:self.unroll], list(rest[self.unroll:])
        current, total, first, last_mse = frame, 0.0, None, None
        for target in targets:  # unrolled in the graph (K is a constant)
            pred = self.generator.unclamped(current, page, *previous)
            step_total, mse, l1, gdl = prediction_loss(pred, target, c.l2_weight, c.l1_weight, c.gdl_weight)
            total = total + step_total
            first = (mse, l1, gdl) if first is None else first
            last_mse = mse
            if previous:
                previous = [current] + previous[:-1]
            current = ops.clamp(pred, -1.0, 1.0)  # what the runtime feeds back
        copy = ops.stop_gradient(ops.mean(ops.square(frame - targets[0])))
        logged = [*first, copy] + ([last_mse] if self.unroll > 1 else [])
        return total, ops.stack(logged)

    def sample_grid(self) -> np.ndarray:
        """Rows of held-out samples: page | frame | prediction | true next frame | 4×|prediction − true|."""
        from runtime.imaging import resize

        count = min(self.data_cfg.sample_count, len(self.held_out))
        indices = np.linspace(0, len(self.held_out) - 1, count).round().astype(int)
        batch = self.held_out.arrays(indices)
        self.generator.set_train(False)
        args = [ms.Tensor(batch[k]) for k in self.network_inputs]
        pred = self.generator(*args).asnumpy()
        self.generator.set_train(True)
        rows = []
        for i in range(count):
            frame = to_uint8(batch["frame"][i])
            page = resize(to_uint8(batch["page"][i]), *frame.shape[:2])
            error = np.clip(np.abs(pred[i] - batch["target"][i]) * 4 - 1, -1, 1)
            rows.append([page, frame, to_uint8(pred[i]), to_uint8(batch["target"][i]), to_uint8(error)])
        return image_grid(rows)

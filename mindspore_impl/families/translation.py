"""What the three colorization families (pix2pix, cyclegan, pix2pixhd) share: the data section, the data source built
from it, Adam with the reference lr schedule, the GAN criterion by name, and the sample grid."""
from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from typing import Sequence

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mindspore_impl.config import ConfigError
from mindspore_impl.families.base import image_grid, to_uint8
from mindspore_impl.losses import gan
from mindspore_impl.schedules import EpochLinearDecay, LinearDecay

GAN_MODES = ("vanilla", "lsgan")


@dataclass
class TranslationData:
    """Where the pages are and how they are preprocessed (datasets/colorize_data.py).

    layout: "paired" (ROOT/a_dir and ROOT/b_dir matched by file name), "aligned" (ROOT/a_dir holds junyanz A|B
    files) or "unpaired" (CycleGAN: ROOT/a_dir and ROOT/b_dir). A is the grey side, B the colour side.
    mode: "study" (BerserkMangaColoring's augmentations at their probabilities), "junyanz" (resize_and_crop), or
    "resize". The probabilities below are the study's.
    """

    root: str = "data/manga"
    layout: str = "paired"
    a_dir: str = "A"
    b_dir: str = "B"
    mode: str = "junyanz"
    crop_size: int = 256
    load_size: int = 286
    saturation_p: float = 0.5
    rotate_p: float = 0.2
    hflip_p: float = 0.4
    vflip_p: float = 0.2
    crop_scale: tuple[float, float] = (0.08, 1.0)
    sample_count: int = 4  # examples in each sample grid

    def __post_init__(self):
        from datasets.colorize_data import AUGMENT_MODES, LAYOUTS

        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got '{self.layout}'")
        if self.mode not in AUGMENT_MODES:
            raise ValueError(f"mode must be one of {', '.join(AUGMENT_MODES)}, got '{self.mode}'")
        if self.sample_count < 1:
            raise ValueError(f"sample_count must be >= 1, got {self.sample_count}")
        self.crop_scale = tuple(float(v) for v in self.crop_scale)

    def augment(self):
        from datasets.colorize_data import Augment

        shared = {f.name for f in fields(Augment)} & {f.name for f in fields(self)}
        return Augment(**{name: getattr(self, name) for name in shared})


def build_data(cfg: TranslationData, ctx, seed: int, a_channels: int, b_channels: int, size_multiple: int,
               want_layouts: Sequence[str]):
    """The ColorizeData source of a data section, refusing a layout the family cannot train on; problems with
    single files (a missing partner) are printed as warnings, the rest trains."""
    from datasets.colorize_data import ColorizeData, ColorizeDataError, build_items

    if cfg.layout not in want_layouts:
        raise ConfigError(f"data.layout '{cfg.layout}' does not fit this family (use {' or '.join(want_layouts)})")
    if cfg.crop_size % size_multiple:
        raise ConfigError(f"data.crop_size {cfg.crop_size} must be a multiple of the generator's size multiple "
                          f"{size_multiple}")
    try:
        items, unpaired_b = build_items(cfg.layout, cfg.root, cfg.a_dir, cfg.b_dir,
                                        report=lambda line: print(f"warning: {line}", file=sys.stderr))
        return ColorizeData(items, cfg.augment(), a_channels, b_channels, seed, ctx.rank, ctx.world, unpaired_b)
    except (ColorizeDataError, ValueError) as exc:
        raise ConfigError(f"data: {exc}") from None


@dataclass
class LinearDecayOptim:
    """Adam with junyanz's `linear` lr policy (constant for n_epochs, then linear decay over n_epochs_decay;
    mindspore_impl/schedules.py states the exact rule). epoch_count: junyanz's --epoch_count (the epoch number a
    run starts from); step_at_epoch_start: reproduce upstream train.py's scheduler step at the start of each epoch."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_epochs: int = 100
    n_epochs_decay: int = 100
    epoch_count: int = 1
    step_at_epoch_start: bool = False

    def __post_init__(self):
        if self.n_epochs < 0 or self.n_epochs_decay < 0 or self.epoch_count < 1:
            raise ValueError("need n_epochs >= 0, n_epochs_decay >= 0 and epoch_count >= 1")
        if self.total_epochs < 1:
            raise ValueError(f"no epochs to train: n_epochs + n_epochs_decay - (epoch_count - 1) = {self.total_epochs}")

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay - (self.epoch_count - 1)

    def schedule(self) -> LinearDecay:
        return LinearDecay.junyanz(self.n_epochs, self.n_epochs_decay, self.epoch_count, self.step_at_epoch_start)


def global_batch(cfg: dict, ctx) -> int:
    """Images per step over all ranks (the lr schedule counts epochs in steps of this size)."""
    from mindspore_impl.config import build_dataclass, section
    from mindspore_impl.trainer import TrainConfig

    return build_dataclass(TrainConfig, section(cfg, "train"), "train").batch_size * ctx.world


def adam(params, lr: float, betas: tuple[float, float], schedule: LinearDecay, steps_per_epoch: int,
         start_step: int = 0) -> nn.Adam:
    """nn.Adam whose lr follows `schedule` per epoch, from the optimiser's own step count (exact on resume)."""
    return nn.Adam(params, learning_rate=EpochLinearDecay(lr, schedule, steps_per_epoch, start_step),
                   beta1=betas[0], beta2=betas[1])


def build_discriminator(cfg: dict, in_channels: int, key: str = "discriminator"):
    """The `key` network with `in_channels` set by the family (the channels of what it judges); a section that
    states other in_channels is refused."""
    from mindspore_impl.config import section
    from mindspore_impl.registry import build_network

    stated = section(cfg, key).get("in_channels")
    if stated is not None and int(stated) != in_channels:
        raise ConfigError(f"{key}.in_channels is {stated}, but this discriminator judges {in_channels}-channel "
                          f"inputs (leave the key out: the family sets it)")
    return build_network(cfg, key, in_channels=in_channels)


def gan_loss(mode: str):
    """junyanz `GANLoss(mode)`: `loss(prediction, target_is_real: float)` (BCE on logits or MSE to 1/0)."""
    if mode == "vanilla":
        return gan.bce_logits_loss
    if mode == "lsgan":
        return gan.lsgan_loss
    raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}, got '{mode}'")


def translation_grid(generator: nn.Cell, inputs: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """Rows of (input | output | target) in inference mode (BatchNorm's running statistics, no dropout), with
    the network's training mode restored after."""
    was_training = generator.training
    generator.set_train(False)
    out = generator(ms.Tensor(inputs)).asnumpy()
    generator.set_train(was_training)
    rows = []
    for i, (x, y) in enumerate(zip(inputs, out)):
        row = [to_uint8(x), to_uint8(y)]
        if targets is not None:
            row.append(to_uint8(targets[i]))
        rows.append(row)
    return image_grid(rows)


def concat(a, b):
    return ops.concat((a, b), 1)

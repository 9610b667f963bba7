"""The public MindSpore AnimeGANv2 port's checkpoints (mindspore-courses/applications `animeganv2/`) → our networks.

Generator files come in two namings, both 108 tensors (2,115,264 values) at the released width:
- `train.py` saves the generator while it sits inside its training wrapper, so every name carries the wrapper's
  path: `train_one_step_cell_d.network.generator.generator.<i>.conv.weight`, ...;
- a bare `save_checkpoint(Generator())` writes `generator.<i>.conv.weight`, ...
`AnimeGANv2PortGenerator` uses the bare names, so the tables below only strip the wrapper's prefix; they name the
port's leaves explicitly, and `apply_table` checks every tensor against the network (missing, unexpected, shape),
naming the key in the file's own spelling. Each InstanceNorm2d stores gamma, beta, moving_mean and
moving_variance (the `{stat}` placeholder).

The loss network: the port's `vgg.ckpt` is a batch-normalised VGG19 (`layers.<i>.weight` convs without bias,
`layers.<i+1>.{gamma,beta,moving_mean,moving_variance}`), of which the port builds conv1_1 … conv4_4 + its BN.
`PORT_VGG_TABLE` loads those and drops, by name, the deeper layers and the classifier a full VGG19-BN file holds.

MindSpore checkpoints are protobuf files: reading one runs no code from it.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from mindspore_impl.weights.base import Importer, RenameTable, WeightImportError, apply_table, register

TRAINING_PREFIX = "train_one_step_cell_d.network.generator."
NORM_STATS = ("gamma", "beta", "moving_mean", "moving_variance")
# The port's parameter leaves below `generator.<i>.`: ConvBlock (conv, ins_norm), InvertedResBlock (conv_block,
# depthwise_conv, ins_norm1, conv, ins_norm2), UpSample (conv), and the last 1×1 nn.Conv2d (weight).
GENERATOR_LEAVES = ("conv.weight", "ins_norm.{stat}", "conv_block.conv.weight", "conv_block.ins_norm.{stat}",
                    "depthwise_conv.weight", "ins_norm1.{stat}", "ins_norm2.{stat}", "weight")


def _generator_rules(prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}generator.{{i}}.{leaf}", f"generator.{{i}}.{leaf}") for leaf in GENERATOR_LEAVES]


BARE_TABLE = RenameTable(_generator_rules(""))
TRAINING_TABLE = RenameTable(_generator_rules(TRAINING_PREFIX))
# Either naming (the importer's table): the training wrapper's names first, so a missing tensor of a file that
# has neither spelling is reported in the wrapper's, which the port's train.py writes.
GENERATOR_TABLE = RenameTable(_generator_rules(TRAINING_PREFIX) + _generator_rules(""))


def table_for(keys: Iterable[str]) -> RenameTable:
    """The table of the file's naming: the training wrapper's when any key has its prefix, else the bare one
    (a file mixing both is then refused at its first bare key)."""
    return TRAINING_TABLE if any(k.startswith(TRAINING_PREFIX) for k in keys) else BARE_TABLE


def is_port_generator(keys: Iterable[str]) -> bool:
    """Whether every key is a port generator name (in one of the two namings): how the port's option names pick
    the port's network when no --config is given. Our own checkpoints of that network have the same names."""
    keys = list(keys)
    table = table_for(keys)
    return bool(keys) and all(table.match(k) is not None for k in keys)


def first_conv_key(keys: Iterable[str]) -> str:
    keys = list(keys)
    return (TRAINING_PREFIX if any(k.startswith(TRAINING_PREFIX) for k in keys) else "") + "generator.0.conv.weight"


def generator_channels(shapes: Mapping[str, tuple]) -> int:
    """The port generator's base width (`Generator(channels=...)`) from its first conv's output channels."""
    key = first_conv_key(shapes)
    if key not in shapes:
        raise WeightImportError(f"not a MindSpore-port generator checkpoint: it has no {key!r}")
    return int(tuple(shapes[key])[0])


def _as_arrays(params: Mapping) -> dict[str, np.ndarray]:
    return {k: (v.asnumpy() if hasattr(v, "asnumpy") else np.asarray(v)) for k, v in params.items()}


def to_network_names(params: Mapping, net, origin: str) -> dict:
    """A port file's parameters (either naming) as `net`'s {name: Parameter}; CheckpointError naming the first
    unexpected, missing or wrongly shaped tensor."""
    import mindspore as ms
    from mindspore_impl.checkpoint_io import CheckpointError

    arrays = _as_arrays(params)
    shapes = {name: tuple(p.shape) for name, p in net.parameters_and_names()}
    try:
        renamed = apply_table(arrays, table_for(arrays), shapes, origin)
    except WeightImportError as exc:
        raise CheckpointError(str(exc)) from None
    return {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in renamed.items()}


def read_mindspore_checkpoint(path) -> dict[str, np.ndarray]:
    """{name: array} of a MindSpore checkpoint (string entries skipped); WeightImportError when unreadable."""
    from mindspore_impl.checkpoint_io import CheckpointError, read_checkpoint

    try:
        return _as_arrays(read_checkpoint(path))
    except CheckpointError as exc:
        raise WeightImportError(str(exc)) from None


# ------------------------------------------------------------------------------------------------ VGG19-BN

# The port's `Vgg([64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512], batch_norm=True)`:
# SequentialCell indices of its convs (each followed by its BatchNorm at index + 1, then a ReLU except the last).
PORT_VGG_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512)


def port_vgg_conv_indices(config=PORT_VGG_CONFIG) -> list[int]:
    indices, i = [], 0
    for n, v in enumerate(config):
        if v == "M":
            i += 1
        else:
            indices.append(i)
            i += 2 if n == len(config) - 1 else 3
    return indices


# A full VGG19-BN continues with ReLU 38, pool 39, conv5_1..conv5_4 (+ BN) at 40/41 … 49/50, and a classifier.
_FULL_VGG19_BN_DEEPER = (40, 41, 43, 44, 46, 47, 49, 50)

PORT_VGG_TABLE = RenameTable(
    [(f"layers.{i}.weight", f"layers.{i}.weight") for i in port_vgg_conv_indices()]
    + [(f"layers.{i + 1}.{{stat}}", f"layers.{i + 1}.{{stat}}") for i in port_vgg_conv_indices()]
    + [(f"layers.{i}.{{param}}", None) for i in _FULL_VGG19_BN_DEEPER]
    + [("classifier.{i}.{param}", None)]
)


def build_generator():
    """The released width (channels 32); narrower files are refused by the shape check, naming the key."""
    from mindspore_impl.models.animeganv2_port import AnimeGANv2PortGenerator

    return AnimeGANv2PortGenerator(channels=32)


register(Importer(
    family="animeganv2",
    source="MindSpore AnimeGANv2 port checkpoint (animeganv2_generator_*.ckpt / netG_*.ckpt, 108 tensors)",
    read=read_mindspore_checkpoint,
    table=GENERATOR_TABLE,
    build_target=build_generator,
    config="configs/animeganv2/mindspore_port.yaml",
    config_note="the port's own network: 'same' zero padding, instance norm eps 1e-5, asymmetric bilinear ×2",
    name="animeganv2_mindspore_port",
))

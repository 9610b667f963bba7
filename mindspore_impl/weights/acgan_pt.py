"""The Anime-Generation study's ACGAN checkpoints (`G_<step>.ckpt`, `D_<step>.ckpt`) → our ACGAN G and D.

Despite the suffix these are torch pickles: `torch.save({'model': state_dict, 'optim': ..., 'step': ..., 'log':
...})` (old/old_src/utils.save_model); they are read with `weights_only=True` and the state dict is taken from
'model'. The format is never chosen by suffix: a MindSpore checkpoint given here fails as "not a readable PyTorch
state dict".

    python mindspore_impl/import_weights.py --family acgan --input G_50000.ckpt --output G.ckpt
    python mindspore_impl/import_weights.py --family acgan --network D --input D_50000.ckpt --output D.ckpt

G: the study's `gen` Sequential has the same indices as ours (ConvT at 0, 3, 6, 9, 12; BatchNorm at 1, 4, 7, 10),
so only BatchNorm names change (weight/bias/running_mean/running_var → gamma/beta/moving_mean/moving_variance;
`num_batches_tracked` is dropped). D: each of our `conv_layers` blocks holds one of the study's convs (indices 0,
2, 5, 8) and the BatchNorm after it (3, 6, 9) as `.conv` / `.norm`; the heads keep their names. The network size
(z_dim, widths, image size) is read from the tensor shapes, and the config it needs is written beside the output.
"""
from __future__ import annotations

import math

from mindspore_impl.weights.base import Importer, RenameTable, WeightImportError, register
from mindspore_impl.weights.torch_io import read_torch_state_dict

CONFIG = "configs/acgan/faces.yaml"
# The study's G: ConvT at 0, 3, 6, 9 (then BN, ReLU) and 12 (then tanh); BN at 1, 4, 7, 10.
G_NORMS = (1, 4, 7, 10)
# The study's D.conv_layers: conv 0 (LeakyReLU), then conv 2/5/8 each followed by BN 3/6/9.
D_CONVS = (0, 2, 5, 8)

_BN = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance"))


def _bn_rules(source: str, target: str) -> list[tuple]:
    return [(f"{source}.{a}", f"{target}.{b}") for a, b in _BN] + [(f"{source}.num_batches_tracked", None)]


ACGAN_G_TABLE = RenameTable(
    [rule for i in G_NORMS for rule in _bn_rules(f"gen.{i}", f"gen.{i}")]
    + [("gen.{i}.weight", "gen.{i}.weight"), ("gen.{i}.bias", "gen.{i}.bias")])

ACGAN_D_TABLE = RenameTable(
    [(f"conv_layers.{i}.weight", f"conv_layers.{k}.conv.weight") for k, i in enumerate(D_CONVS)]
    + [rule for k, i in enumerate(D_CONVS[1:], start=1) for rule in _bn_rules(f"conv_layers.{i + 1}",
                                                                              f"conv_layers.{k}.norm")]
    + _bn_rules("bottleneck.1", "bottleneck.1")
    + [("{head}.0.weight", "{head}.0.weight"), ("{head}.0.bias", "{head}.0.bias")])


def _shape(path, key: str) -> tuple:
    state = read_torch_state_dict(path)
    if key not in state:
        raise WeightImportError(f"{path}: no tensor {key!r}; is this the study's "
                                f"{'generator' if key.startswith('gen') else 'discriminator'} checkpoint?")
    return tuple(state[key].shape), state


def generator_info(path) -> dict:
    """z_dim, ngf and image_size of a study-format G, from its first ConvT [z+22, 16·ngf, 4, 4] and its depth."""
    from datasets.acgan_tags import NUM_TAGS

    shape, state = _shape(path, "gen.0.weight")
    convs = sum(1 for k in state if k.startswith("gen.") and k.endswith(".weight") and len(state[k].shape) == 4)
    if len(shape) != 4 or shape[0] <= NUM_TAGS or shape[1] % 16:
        raise WeightImportError(f"{path}: gen.0.weight has shape {shape}; expected [z_dim + {NUM_TAGS}, 16*ngf, 4, 4]")
    return {"z_dim": shape[0] - NUM_TAGS, "ngf": shape[1] // 16, "image_size": 2 ** (convs + 1)}


def discriminator_info(path) -> dict:
    """num_classes, ndf and image_size of a study-format D, from its classifier and bottleneck shapes and depth."""
    shape, state = _shape(path, "classifier_layer.0.weight")
    convs = sum(1 for k in state if k.startswith("conv_layers.") and k.endswith(".weight") and len(state[k].shape) == 4)
    bottleneck = tuple(state["bottleneck.0.weight"].shape) if "bottleneck.0.weight" in state else ()
    if len(shape) != 2 or len(bottleneck) != 4 or bottleneck[0] % 8:
        raise WeightImportError(f"{path}: classifier/bottleneck shapes {shape} / {bottleneck} are not the study's")
    return {"num_classes": shape[0], "ndf": bottleneck[0] // 8, "image_size": 2 ** (convs + 2)}


def _config_for(section: str, info: dict) -> dict:
    """configs/acgan/faces.yaml with the network section of this size (and the data size to match)."""
    from mindspore_impl.config import load_config

    cfg = load_config(CONFIG)
    cfg[section] = {**cfg[section], **info}
    if not math.log2(info["image_size"]).is_integer():
        raise WeightImportError(f"unsupported image size {info['image_size']}")
    cfg["data"] = {**cfg["data"], "image_size": info["image_size"]}
    other = "discriminator" if section == "generator" else "generator"
    cfg[other] = {**cfg[other], "image_size": info["image_size"]}
    return cfg


def build_generator(info: dict):
    from mindspore_impl.models.acgan import ACGANGenerator

    try:
        return ACGANGenerator(**info)
    except ValueError as exc:
        raise WeightImportError(f"study-format generator of unsupported size: {exc}") from None


def build_discriminator(info: dict):
    from mindspore_impl.models.acgan import ACGANDiscriminator

    try:
        return ACGANDiscriminator(**info)
    except ValueError as exc:
        raise WeightImportError(f"study-format discriminator of unsupported size: {exc}") from None


register(Importer(
    family="acgan",
    source="bchao1/Anime-Generation G_<step>.ckpt (torch.save of {'model', 'optim', 'step', 'log'})",
    read=read_torch_state_dict,
    table=ACGAN_G_TABLE,
    build_target=build_generator,
    config=CONFIG,
    config_note="the study's ACGAN; z ~ N(0, 0.9^2) when sampling, as the study does",
    network="G",
    read_info=generator_info,
    config_for=lambda info: _config_for("generator", info),
))

register(Importer(
    family="acgan",
    source="bchao1/Anime-Generation D_<step>.ckpt (torch.save of {'model', 'optim', 'step', 'log'})",
    read=read_torch_state_dict,
    table=ACGAN_D_TABLE,
    build_target=build_discriminator,
    config=CONFIG,
    config_note="the study's ACGAN discriminator (real/fake and tag heads)",
    network="D",
    read_info=discriminator_info,
    config_for=lambda info: _config_for("discriminator", info),
))

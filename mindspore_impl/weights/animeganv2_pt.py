"""bryandlee/animegan2-pytorch `.pt` (77 tensors) → our `AnimeGANv2Generator`.

The port's `ConvNormLReLU` is `Sequential(pad, Conv2d, GroupNorm, LeakyReLU)`, so its conv is sub-module `1` and
its norm `2` (`block_a.0.1.weight`, `block_a.0.2.weight/bias`); ours names them `conv` and `norm` with MindSpore's
`gamma/beta`. `InvertedResBlock.layers` has the same indices in both (0: 1×1 ConvNormLReLU, 1: depthwise
ConvNormLReLU with bias, 2: bare 1×1 Conv2d, 3: bare GroupNorm). Conv weights are OIHW on both sides, so
tensors load unchanged; only names change. Published files: face_paint_512_v1/v2, celeba_distill, paprika.
"""
from __future__ import annotations

from mindspore_impl.weights.base import Importer, RenameTable, register
from mindspore_impl.weights.torch_io import read_torch_state_dict

# First match wins; `{p}` is one dotted segment. Rules with more segments cannot match shorter keys.
ANIMEGANV2_PT_TABLE = RenameTable([
    # inside InvertedResBlock: layers.0 / layers.1 are ConvNormLReLU
    ("{blk}.{i}.layers.{j}.1.weight", "{blk}.{i}.layers.{j}.conv.weight"),
    ("{blk}.{i}.layers.{j}.1.bias", "{blk}.{i}.layers.{j}.conv.bias"),  # the depthwise conv's bias
    ("{blk}.{i}.layers.{j}.2.weight", "{blk}.{i}.layers.{j}.norm.gamma"),
    ("{blk}.{i}.layers.{j}.2.bias", "{blk}.{i}.layers.{j}.norm.beta"),
    # layers.2 is a bare 1×1 Conv2d, layers.3 a bare GroupNorm
    ("{blk}.{i}.layers.2.weight", "{blk}.{i}.layers.2.weight"),
    ("{blk}.{i}.layers.3.weight", "{blk}.{i}.layers.3.gamma"),
    ("{blk}.{i}.layers.3.bias", "{blk}.{i}.layers.3.beta"),
    # plain ConvNormLReLU of blocks a..e
    ("{blk}.{i}.1.weight", "{blk}.{i}.conv.weight"),
    ("{blk}.{i}.2.weight", "{blk}.{i}.norm.gamma"),
    ("{blk}.{i}.2.bias", "{blk}.{i}.norm.beta"),
    # 1×1 output conv (then tanh)
    ("out_layer.0.weight", "out_layer.0.weight"),
])


def build_generator():
    """Full-width generator: the port was only published at width 1.0 (its numerics come from the config)."""
    from mindspore_impl.models.animeganv2 import AnimeGANv2Generator

    return AnimeGANv2Generator(width=1.0)


register(Importer(
    family="animeganv2",
    source="bryandlee/animegan2-pytorch state dict (.pt/.pth, 77 tensors)",
    read=read_torch_state_dict,
    table=ANIMEGANV2_PT_TABLE,
    build_target=build_generator,
    config="configs/animeganv2/pytorch_port.yaml",
    config_note="GroupNorm eps 1e-5 and align_corners=True upsampling, as the PyTorch port computes",
))

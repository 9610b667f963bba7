"""PyTorch state-dict layouts of the image-translation networks, as rename rules onto ours.

The reference networks are `nn.Sequential`s whose layer *indices* are the key names (`model.10.conv_block.5.weight`),
and the indices follow from the architecture (how many downsamplings, blocks, levels; whether a block has
dropout or reflect padding). So each table here is generated from our network, which has the same structure:
walking it gives, for every one of our layers, the reference index it corresponds to. `apply_table` then checks
the file against it strictly (every tensor used once, every parameter filled, shapes equal).

Parameter names: PyTorch conv `weight`/`bias` are ours too; BatchNorm `weight, bias, running_mean, running_var`
are MindSpore's `gamma, beta, moving_mean, moving_variance`; `num_batches_tracked` is dropped (MindSpore keeps no
such counter; with momentum set, PyTorch does not use it either).
"""
from __future__ import annotations

BN_NAMES = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
            ("running_var", "moving_variance"))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def conv_rules(source: str, target: str) -> list[tuple]:
    """A conv (or transposed conv): weight and bias (a rule that finds no key costs nothing)."""
    return [(f"{source}.{k}", f"{target}.{k}") for k in ("weight", "bias")]


def norm_rules(source: str, target: str) -> list[tuple]:
    """A BatchNorm2d (affine-free instance norm has no tensors, so nothing matches)."""
    return [(f"{source}.{a}", f"{target}.{b}") for a, b in BN_NAMES] + [(f"{source}.num_batches_tracked", None)]


def unit_rules(source_conv: str, source_norm: str | None, target: str) -> list[tuple]:
    """Our ConvNormAct at `target` (its `conv` and `norm`) from the reference's conv and norm keys."""
    rules = conv_rules(source_conv, _join(target, "conv"))
    if source_norm is not None:
        rules += norm_rules(source_norm, _join(target, "norm"))
    return rules


def resnet_block_rules(source: str, target: str, block) -> list[tuple]:
    """junyanz/pix2pixHD `ResnetBlock.conv_block` indices: [pad], conv, norm, ReLU, [Dropout], [pad], conv, norm."""
    padded = block.conv1.pad is not None
    first = 1 if padded else 0
    second = first + 3 + (1 if block.dropout is not None else 0) + (1 if padded else 0)
    return (unit_rules(f"{source}.conv_block.{first}", f"{source}.conv_block.{first + 1}", _join(target, "conv1"))
            + unit_rules(f"{source}.conv_block.{second}", f"{source}.conv_block.{second + 1}", _join(target, "conv2")))


def resnet_generator_rules(net, source: str = "model", target: str = "") -> list[tuple]:
    """junyanz `ResnetGenerator.model` / pix2pixHD `GlobalGenerator.model` (and the LocalEnhancer's trunk):
    pad, conv, norm, ReLU, then 3 per downsampling, one per block, 3 per upsampling, then pad, conv, tanh."""
    rules = unit_rules(f"{source}.1", f"{source}.2", _join(target, "head"))
    index = 4
    for i in range(len(net.down)):
        rules += unit_rules(f"{source}.{index}", f"{source}.{index + 1}", _join(target, f"down.{i}"))
        index += 3
    for i, block in enumerate(net.blocks):
        rules += resnet_block_rules(f"{source}.{index}", _join(target, f"blocks.{i}"), block)
        index += 1
    for i in range(len(net.up)):
        rules += unit_rules(f"{source}.{index}", f"{source}.{index + 1}", _join(target, f"up.{i}"))
        index += 3
    if net.tail is not None:
        rules += unit_rules(f"{source}.{index + 1}", None, _join(target, "tail"))
    return rules


def nlayer_rules(net, source: str = "model", target: str = "") -> list[tuple]:
    """junyanz `NLayerDiscriminator.model`: conv, LReLU, then (conv, norm, LReLU) per layer, then conv."""
    stages = len(net.stages)
    rules = unit_rules(f"{source}.0", None, _join(target, "stages.0"))
    for j in range(1, stages - 1):
        index = 2 + 3 * (j - 1)
        rules += unit_rules(f"{source}.{index}", f"{source}.{index + 1}", _join(target, f"stages.{j}"))
    rules += unit_rules(f"{source}.{2 + 3 * (stages - 2)}", None, _join(target, f"stages.{stages - 1}"))
    return rules

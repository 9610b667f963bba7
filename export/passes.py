"""Rewrites of a traced graph before it is serialised."""
from __future__ import annotations

import numpy as np

from export.graph import GraphBuilder


def _channel_vector(g: GraphBuilder, name: str, channels: int) -> np.ndarray | None:
    """The initializer `name` as a length-`channels` vector if it is a per-channel (or scalar) constant over
    axis 1 of an NCHW tensor, else None."""
    arr = g.initializers.get(name)
    if arr is None or arr.dtype != np.float32:
        return None
    if arr.size == 1:
        return np.full(channels, arr.reshape(()), np.float32)
    if arr.size == channels and arr.shape in ((1, channels, 1, 1), (channels, 1, 1)):
        return arr.reshape(channels)
    return None


def _out_axis(conv) -> int | None:
    """Axis of the weight that indexes output channels (ConvTranspose only when ungrouped)."""
    if conv.op_type == "Conv":
        return 0
    group = next((a.i for a in conv.attribute if a.name == "group"), 1)
    return 1 if conv.op_type == "ConvTranspose" and group == 1 else None


def fold_affine_into_conv(g: GraphBuilder) -> int:
    """Merge `Conv → Mul(per-channel constant) [→ Add(per-channel constant)]` into the conv's weight and bias.

    This is how an inference BatchNorm directly after a conv disappears (its converter emits the Mul/Add). Only
    when the conv's output feeds nothing else, so no other reader sees a changed value. Returns the fold count.
    """
    readers = g.consumers()
    dropped: set[int] = set()
    folds = 0
    for mul in g.nodes:
        if mul.op_type != "Mul" or id(mul) in dropped:
            continue
        conv = g.producer.get(mul.input[0])
        axis = _out_axis(conv) if conv is not None else None
        if axis is None or len(readers.get(conv.output[0], [])) != 1:
            continue
        weight = g.initializers.get(conv.input[1])
        bias_name = conv.input[2] if len(conv.input) > 2 else None
        if weight is None or (bias_name and bias_name not in g.initializers):
            continue
        channels = weight.shape[axis]
        scale = _channel_vector(g, mul.input[1], channels)
        if scale is None:
            continue
        last, shift = mul, np.zeros(channels, np.float32)
        after = readers.get(mul.output[0], [])
        if len(after) == 1 and after[0] is not None and after[0].op_type == "Add" \
                and after[0].input[0] == mul.output[0]:
            add_shift = _channel_vector(g, after[0].input[1], channels)
            if add_shift is not None:
                last, shift = after[0], add_shift
        bias = g.initializers[bias_name] if bias_name else np.zeros(channels, np.float32)
        shape = [1] * weight.ndim
        shape[axis] = channels
        new_weight = (weight.astype(np.float64) * scale.reshape(shape)).astype(np.float32)
        new_bias = (bias.astype(np.float64) * scale + shift).astype(np.float32)
        conv.input[1] = g.const(new_weight, f"{conv.input[1]}.folded")
        bias_folded = g.const(new_bias, f"{conv.name}.folded_bias")
        if bias_name:
            conv.input[2] = bias_folded
        else:
            conv.input.append(bias_folded)
        conv.output[0] = last.output[0]
        g.producer[last.output[0]] = conv
        dropped.update({id(mul), id(last)})
        folds += 1
    g.nodes = [n for n in g.nodes if id(n) not in dropped]
    return folds

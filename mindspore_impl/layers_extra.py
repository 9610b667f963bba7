"""Leaf Cells the next families need (pix2pix / ACGAN) that `layers.py` does not have yet.

Staged here by the export work so that their ONNX converters (in `export/converters.py`) and parity tests exist
before the families use them; the lead folds them into `layers.py`. Same rules as there: each is a leaf with one
converter, weights in PyTorch layout so ported state dicts map by name.
"""
from __future__ import annotations

from typing import Sequence

import mindspore as ms
from mindspore import nn, ops, Parameter
from mindspore.common.initializer import initializer, Normal, Zero

from mindspore_impl.layers import _init


class ConvTranspose2d(nn.Cell):
    """Transposed convolution with PyTorch semantics (`nn.ConvTranspose2d`), as the pix2pix decoders use it.

    Weight `[in, out/groups, k, k]`; output size `(in - 1) * stride - 2 * padding + kernel + output_padding`.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, groups: int = 1, bias: bool = False, init: str = "normal002"):
        super().__init__()
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"channels ({in_ch}, {out_ch}) must be divisible by groups={groups}")
        if not 0 <= output_padding < max(stride, 1):
            raise ValueError(f"output_padding={output_padding} must be in [0, stride={stride})")
        self.in_ch, self.out_ch, self.kernel, self.stride = in_ch, out_ch, kernel, stride
        self.padding, self.output_padding, self.groups = padding, output_padding, groups
        shape = (in_ch, out_ch // groups, kernel, kernel)
        self.weight = Parameter(_init(init, shape, in_ch // groups * kernel * kernel), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(initializer(Zero(), (out_ch,), ms.float32), name="bias")
        # Conv2DTranspose is the input-gradient of a conv whose weight is ours; its output size is an argument,
        # which is also how output_padding (the extra bottom/right rows) is expressed.
        self._deconv = ops.Conv2DTranspose(out_channel=out_ch, kernel_size=kernel, pad_mode="pad",
                                           pad=(padding,) * 4, stride=stride, group=groups)

    def output_size(self, size: int) -> int:
        return (size - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding

    def construct(self, x):
        n, h, w = x.shape[0], x.shape[2], x.shape[3]
        y = self._deconv(x, self.weight, (n, self.out_ch, self.output_size(h), self.output_size(w)))
        if self.has_bias:
            y = y + self.bias.reshape((1, -1, 1, 1))
        return y


class Dense(nn.Cell):
    """Fully connected layer `y = x W^T + b` on the last axis; weight `[out, in]` as PyTorch `nn.Linear`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "normal002"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_init(init, (out_features, in_features), in_features), name="weight")
        self.has_bias = bias
        if bias:
            self.bias = Parameter(initializer(Zero(), (out_features,), ms.float32), name="bias")

    def construct(self, x):
        y = ops.matmul(x, self.weight.T)
        if self.has_bias:
            y = y + self.bias
        return y


class Embedding(nn.Cell):
    """Lookup table for integer labels (ACGAN's class embedding); the parameter is named like MindSpore's own
    `nn.Embedding` (`embedding_table`) so the PyTorch rename table is the usual `weight → embedding_table`."""

    def __init__(self, num_embeddings: int, dim: int, sigma: float = 1.0):
        super().__init__()
        self.num_embeddings, self.dim = num_embeddings, dim
        self.embedding_table = Parameter(initializer(Normal(sigma), (num_embeddings, dim), ms.float32),
                                         name="embedding_table")

    def construct(self, ids):
        return ops.gather(self.embedding_table, ids, 0)


class Reshape(nn.Cell):
    """Reshape to a fixed target such as `(-1, C, 4, 4)` (a latent vector to a feature map); one -1 allowed.

    Zero sizes are refused: ONNX Reshape reads 0 as "copy this axis", MindSpore does not.
    """

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if any(s == 0 or s < -1 for s in self.shape) or self.shape.count(-1) > 1:
            raise ValueError(f"reshape target {self.shape} must have positive sizes and at most one -1")

    def construct(self, x):
        return x.reshape(self.shape)

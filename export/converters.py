"""ONNX converters for every leaf Cell of `mindspore_impl/layers.py`, plus the few
MindSpore built-in leaves a family may use directly. Composite Cells (ConvNormAct, InvertedResidual, the
generators, SequentialCell) need nothing here: the tracer runs their own `construct`.

Each converter mirrors its Cell's `construct` op for op, and each has a parity test in tests/test_export_layers.py.
Norms are written with primitive ops (never ONNX GroupNormalization: opset-18 spec bug, opset-21 unimplemented in
onnxruntime), BatchNorm becomes a per-channel Mul/Add that `passes.fold_affine_into_conv` merges into a preceding
conv.
"""
from __future__ import annotations

import numpy as np
from mindspore import nn
from onnx import TensorProto

from export.errors import ExportError
from export.graph import GraphBuilder, Sym
from export.registry import converter
from mindspore_impl import layers

# How a LayerNorm2d is spelled in ONNX. Both match MindSpore within 1e-5; "instance_norm" (Reshape to [N, 1, -1]
# → InstanceNormalization → Reshape back, as torch.onnx writes GroupNorm(1)) lets onnxruntime compute the
# statistics in one fused kernel; "primitive" is the literal ReduceMean/Sub/Mul/Sqrt/Div formula.
# benchmarks/bench_export.py --norm-patterns times both; the default is the faster one.
LAYER_NORM_PATTERNS = ("instance_norm", "primitive")
DEFAULT_LAYER_NORM = LAYER_NORM_PATTERNS[0]


def _per_channel(g: GraphBuilder, tensor, ndim: int, suffix: str) -> str:
    """A [C] parameter as an initializer shaped to broadcast over axis 1 of a rank-`ndim` tensor."""
    arr = np.asarray(tensor.asnumpy() if hasattr(tensor, "asnumpy") else tensor, np.float32)
    return g.const(arr.reshape((1, -1) + (1,) * (ndim - 2)), f"{g.scope}.{suffix}")


def _affine(g: GraphBuilder, x: Sym, gamma, beta, gamma_name="gamma", beta_name="beta") -> Sym:
    y = g.op("Mul", [x, _per_channel(g, gamma, x.ndim, gamma_name)])
    return g.op("Add", [y, _per_channel(g, beta, x.ndim, beta_name)])


def _normalize_primitive(g: GraphBuilder, x: Sym, axes, eps: float) -> Sym:
    """(x - mean) / sqrt(var + eps) over `axes` with ReduceMean/Sub/Mul/Add/Sqrt/Div, as the Cells compute it."""
    centered = g.op("Sub", [x, g.reduce_mean(x, axes)])
    var = g.reduce_mean(g.op("Mul", [centered, centered]), axes)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(np.float32(eps), f"{g.scope}.eps")])])
    return g.op("Div", [centered, std])


def _normalize_instance_norm(g: GraphBuilder, x: Sym, eps: float) -> Sym:
    """Statistics over everything but the batch axis via InstanceNormalization on an [N, 1, -1] view."""
    flat = g.op("Reshape", [x, g.const(np.array([0, 1, -1], np.int64), f"{g.scope}.flat_shape")],
                shape=(x.shape[0], 1, None))
    one = g.const(np.ones(1, np.float32), f"{g.scope}.unit_scale")
    zero = g.const(np.zeros(1, np.float32), f"{g.scope}.zero_bias")
    normed = g.op("InstanceNormalization", [flat, one, zero], {"epsilon": float(eps)})
    shape = g.op("Shape", [x], shape=(x.ndim,), elem_type=TensorProto.INT64)
    return g.op("Reshape", [normed, shape], shape=x.shape)


# ------------------------------------------------------------------------------------------------ padding

_PAD_MODES = {"reflect": "reflect", "zero": "constant", "replicate": "edge"}


@converter(layers.Pad2d)
def _pad2d(g: GraphBuilder, cell: layers.Pad2d, x: Sym) -> Sym:
    left, right, top, bottom = cell.padding
    pads = np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
    shape = (x.shape[0], x.shape[1], None, None)
    return g.op("Pad", [x, g.const(pads, f"{g.scope}.pads")], {"mode": _PAD_MODES[cell.mode]}, shape=shape)


def _int64(g: GraphBuilder, values, name: str) -> str:
    return g.const(np.array(values, np.int64), f"{g.scope}.{name}")


def _spatial_shape(g: GraphBuilder, x: Sym) -> Sym:
    """[H, W] of an NCHW value, read at run time (int64)."""
    shape = g.op("Shape", [x], shape=(x.ndim,), elem_type=TensorProto.INT64)
    return g.op("Slice", [shape, _int64(g, [2], "hw_start"), _int64(g, [4], "hw_end")], shape=(2,),
                elem_type=TensorProto.INT64)


@converter(layers.SamePad2d)
def _same_pad2d(g: GraphBuilder, cell: layers.SamePad2d, x: Sym) -> Sym:
    """layers.same_pads on the run-time [H, W]: out = ceil(n / s), total = max((out - 1)·s + k - n, 0), before =
    total // 2 (int64 Div floors non-negative values), after = total - before; then Pad(constant)."""
    k, s = cell.kernel, cell.stride
    hw = _spatial_shape(g, x)
    out = g.op("Div", [g.op("Add", [hw, _int64(g, [s - 1, s - 1], "round_up")]), _int64(g, [s, s], "stride")])
    span = g.op("Add", [g.op("Mul", [g.op("Sub", [out, _int64(g, [1, 1], "one")]), _int64(g, [s, s], "stride_")]),
                        _int64(g, [k, k], "kernel")])
    total = g.op("Max", [g.op("Sub", [span, hw]), _int64(g, [0, 0], "zero")])
    before = g.op("Div", [total, _int64(g, [2, 2], "two")])
    after = g.op("Sub", [total, before])
    no_pad = _int64(g, [0, 0], "no_pad")  # batch and channel axes
    pads = g.op("Concat", [no_pad, before, no_pad, after], {"axis": 0}, shape=(8,), elem_type=TensorProto.INT64)
    return g.op("Pad", [x, pads], {"mode": "constant"}, shape=(x.shape[0], x.shape[1], None, None))


# ------------------------------------------------------------------------------------------------ convolution

@converter(layers.Conv2d)
def _conv2d(g: GraphBuilder, cell: layers.Conv2d, x: Sym) -> Sym:
    # effective_weight(): the parameter itself, or for SNConv2d the spectrally normalised weight.
    inputs = [x, g.weight(cell.effective_weight(), "effective_weight")]
    if cell.has_bias:
        inputs.append(g.weight(cell.bias, "bias"))
    k, s = cell.kernel, cell.stride
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "group": cell.groups, "pads": [0, 0, 0, 0]}
    return g.op("Conv", inputs, attrs, shape=(x.shape[0], cell.out_ch, None, None))


@converter(layers.ConvTranspose2d)
def _conv_transpose2d(g: GraphBuilder, cell: layers.ConvTranspose2d, x: Sym) -> Sym:
    inputs = [x, g.weight(cell.weight, "weight")]
    if cell.has_bias:
        inputs.append(g.weight(cell.bias, "bias"))
    k, s, p, op = cell.kernel, cell.stride, cell.padding, cell.output_padding
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p, p, p, p], "output_padding": [op, op],
             "group": cell.groups}
    return g.op("ConvTranspose", inputs, attrs, shape=(x.shape[0], cell.out_ch, None, None))


# ------------------------------------------------------------------------------------------------ normalisation

@converter(layers.LayerNorm2d)
def _layer_norm2d(g: GraphBuilder, cell: layers.LayerNorm2d, x: Sym) -> Sym:
    pattern = g.options.get("layer_norm", DEFAULT_LAYER_NORM)
    if pattern not in LAYER_NORM_PATTERNS:
        raise ExportError(f"unknown layer_norm pattern '{pattern}'; choose from {list(LAYER_NORM_PATTERNS)}")
    if pattern == "primitive":
        y = _normalize_primitive(g, x, (1, 2, 3), cell.eps)
    else:
        y = _normalize_instance_norm(g, x, cell.eps)
    return _affine(g, y, cell.gamma, cell.beta)


@converter(layers.InstanceNorm2d)
def _instance_norm2d(g: GraphBuilder, cell: layers.InstanceNorm2d, x: Sym) -> Sym:
    if cell.affine:
        scale, bias = g.weight(cell.gamma, "gamma"), g.weight(cell.beta, "beta")
        return g.op("InstanceNormalization", [x, scale, bias], {"epsilon": float(cell.eps)})
    # InstanceNormalization needs [C] scale/bias, and a non-affine Cell does not record C.
    return _normalize_primitive(g, x, (2, 3), cell.eps)


@converter(nn.BatchNorm2d, nn.BatchNorm1d)
def _batch_norm(g: GraphBuilder, cell, x: Sym) -> Sym:
    """Inference BatchNorm as y = x * scale + shift with the moving statistics."""
    if cell.use_batch_statistics or (cell.use_batch_statistics is None and cell.training):
        raise ExportError(f"{g.scope}: BatchNorm uses batch statistics; call net.set_train(False) before export")
    var = cell.moving_variance.asnumpy().astype(np.float64)
    scale = cell.gamma.asnumpy().astype(np.float64) / np.sqrt(var + cell.eps)
    shift = cell.beta.asnumpy().astype(np.float64) - cell.moving_mean.asnumpy() * scale
    return _affine(g, x, scale.astype(np.float32), shift.astype(np.float32), "bn_scale", "bn_shift")


# ------------------------------------------------------------------------------------------------ activations

@converter(layers.LeakyReLU)
def _leaky_relu(g: GraphBuilder, cell: layers.LeakyReLU, x: Sym) -> Sym:
    # The Cell computes max(x, alpha*x): that is LeakyRelu only for 0 <= alpha <= 1.
    if 0.0 <= cell.alpha <= 1.0:
        return g.op("LeakyRelu", [x], {"alpha": float(cell.alpha)})
    return g.op("Max", [x, g.op("Mul", [x, g.const(np.float32(cell.alpha))])])


@converter(nn.LeakyReLU)
def _ms_leaky_relu(g: GraphBuilder, cell: nn.LeakyReLU, x: Sym) -> Sym:
    return g.op("LeakyRelu", [x], {"alpha": float(cell.alpha)})  # ops.leaky_relu: x < 0 → alpha * x


@converter(layers.ReLU, nn.ReLU)
def _relu(g: GraphBuilder, cell, x: Sym) -> Sym:
    return g.op("Relu", [x])


@converter(layers.Tanh, nn.Tanh)
def _tanh(g: GraphBuilder, cell, x: Sym) -> Sym:
    return g.op("Tanh", [x])


@converter(layers.Sigmoid, nn.Sigmoid)
def _sigmoid(g: GraphBuilder, cell, x: Sym) -> Sym:
    return g.op("Sigmoid", [x])


@converter(layers.Clamp)
def _clamp(g: GraphBuilder, cell: layers.Clamp, x: Sym) -> Sym:
    # Clip's bounds are scalar inputs of the graph's float type ('' = that side open), hence g.const.
    low = "" if cell.low is None else g.const(np.float32(cell.low), f"{g.scope}.low")
    high = "" if cell.high is None else g.const(np.float32(cell.high), f"{g.scope}.high")
    return g.op("Clip", [x, low, high])


# ------------------------------------------------------------------------------------------------ pooling

def _pool_attrs(kernel, stride, padding) -> dict:
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    return {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": [ph, pw, ph, pw]}


def _pooled(x: Sym) -> tuple:
    return x.shape[0], x.shape[1], None, None


@converter(layers.AvgPool2d)
def _avg_pool2d(g: GraphBuilder, cell: layers.AvgPool2d, x: Sym) -> Sym:
    attrs = _pool_attrs(cell.kernel, cell.stride, cell.padding)
    attrs["count_include_pad"] = int(cell.count_include_pad)
    return g.op("AveragePool", [x], attrs, shape=_pooled(x))


@converter(layers.MaxPool2d)
def _max_pool2d(g: GraphBuilder, cell: layers.MaxPool2d, x: Sym) -> Sym:
    # ONNX MaxPool ignores padded positions, as PyTorch's -inf padding does.
    return g.op("MaxPool", [x], _pool_attrs(cell.kernel, cell.stride, cell.padding), shape=_pooled(x))


@converter(nn.MaxPool2d)
def _ms_max_pool2d(g: GraphBuilder, cell: nn.MaxPool2d, x: Sym) -> Sym:
    """MindSpore's own max-pool, for foreign code; only pad_mode "valid" (its "same" pads TF-style, its "pad" is
    a 3-D primitive), and only on NCHW batches (it unsqueezes 3-D inputs, ONNX would pool them in 1-D)."""
    if cell.pad_mode != "VALID" or cell.format != "NCHW" or x.ndim != 4:
        raise ExportError(f"nn.MaxPool2d at '{g.scope}': only pad_mode 'valid' on NCHW 4-D inputs is exported, got "
                          f"pad_mode '{cell.pad_mode.lower()}', format {cell.format}, rank {x.ndim}; use "
                          "layers.MaxPool2d(kernel, stride, padding) instead")
    kernel = layers.as_pair(cell.kernel_size, "nn.MaxPool2d kernel_size")
    stride = layers.as_pair(cell.stride, "nn.MaxPool2d stride")
    return g.op("MaxPool", [x], _pool_attrs(kernel, stride, (0, 0)), shape=_pooled(x))


# ------------------------------------------------------------------------------------------------ regularisation

@converter(layers.Dropout)
def _dropout(g: GraphBuilder, cell: layers.Dropout, x: Sym) -> Sym:
    """Inference dropout is the identity: nothing to emit."""
    if cell.training and cell.p > 0:
        raise ExportError(f"{g.scope}: Dropout is in training mode; call net.set_train(False) before export")
    return x


# ------------------------------------------------------------------------------------------------ resampling

# Upsample mode → ONNX Resize attributes. MindSpore's ResizeNearestNeighborV2(align_corners=False,
# half_pixel_centers=False) takes src = floor(dst / scale): asymmetric coordinates with floor rounding.
_RESIZE_ATTRS = {
    "asymmetric": {"mode": "linear", "coordinate_transformation_mode": "asymmetric"},
    "align_corners": {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
    "half_pixel": {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
    "nearest": {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
}


@converter(layers.Upsample)
def _upsample(g: GraphBuilder, cell: layers.Upsample, x: Sym) -> Sym:
    # `scales` (not `sizes`) keeps H and W dynamic in the graph; they must be float32 at any precision.
    scales = g.const(np.array([1, 1, cell.scale, cell.scale], np.float32), f"{g.scope}.scales", keep_dtype=True)
    return g.op("Resize", [x, "", scales], _RESIZE_ATTRS[cell.mode], shape=(x.shape[0], x.shape[1], None, None))


# ------------------------------------------------------------------------------------------------ plumbing

@converter(layers.CropLike)
def _crop_like(g: GraphBuilder, cell: layers.CropLike, x: Sym, like: Sym) -> Sym:
    ends = _spatial_shape(g, like)
    return g.op("Slice", [x, _int64(g, [0, 0], "crop_start"), ends, _int64(g, [2, 3], "crop_axes")],
                shape=(x.shape[0], x.shape[1], like.shape[2], like.shape[3]))


@converter(layers.Identity, layers.StopGradient)
def _identity(g: GraphBuilder, cell, x: Sym) -> Sym:
    return x  # StopGradient only matters for training: inference sees the identity


@converter(layers.Flatten)
def _flatten(g: GraphBuilder, cell: layers.Flatten, x: Sym) -> Sym:
    rest = x.shape[1:]
    size = int(np.prod(rest)) if all(isinstance(d, int) for d in rest) else None
    return g.op("Flatten", [x], {"axis": 1}, shape=(x.shape[0], size))


@converter(layers.Concat)
def _concat(g: GraphBuilder, cell: layers.Concat, *xs: Sym) -> Sym:
    axis = cell.axis
    shape = list(xs[0].shape)
    sizes = [x.shape[axis] for x in xs]
    shape[axis] = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
    return g.op("Concat", list(xs), {"axis": axis}, shape=shape)


@converter(layers.Dense)
def _dense(g: GraphBuilder, cell: layers.Dense, x: Sym) -> Sym:
    shape = x.shape[:-1] + (cell.out_features,)
    weight = g.weight(cell.weight, "weight")
    if x.ndim == 2:
        inputs = [x, weight] + ([g.weight(cell.bias, "bias")] if cell.has_bias else [])
        return g.op("Gemm", inputs, {"transB": 1}, shape=shape)
    weight_t = g.const(cell.weight.asnumpy().T, f"{g.scope}.weight_t")
    y = g.op("MatMul", [x, weight_t], shape=shape)
    return g.op("Add", [y, g.weight(cell.bias, "bias")]) if cell.has_bias else y


@converter(layers.Embedding)
def _embedding(g: GraphBuilder, cell: layers.Embedding, ids: Sym) -> Sym:
    shape = ids.shape + (cell.dim,)
    return g.op("Gather", [g.weight(cell.embedding_table, "embedding_table"), ids], {"axis": 0}, shape=shape,
                elem_type=g.float_type)


@converter(layers.Reshape)
def _reshape(g: GraphBuilder, cell: layers.Reshape, x: Sym) -> Sym:
    target = g.const(np.array(cell.shape, np.int64), f"{g.scope}.shape")
    return g.op("Reshape", [x, target], shape=tuple(None if s == -1 else s for s in cell.shape))

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
from mindspore_impl.models import stylegan2 as sg2

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


# ------------------------------------------------------------------------------------------------ StyleGAN2 leaves
# (mindspore_impl/models/stylegan2.py). Parameters the layers pass in arrive here as MindSpore Parameters, traced
# values as Syms; equalised-lr gains are folded into the emitted weights.

_INT64_MAX = np.iinfo(np.int64).max


def _array(value) -> np.ndarray:
    return np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value, np.float32)


def _ints(g: GraphBuilder, values, suffix: str) -> str:
    return g.const(np.array(values, np.int64), f"{g.scope}.{suffix}")


def _unsqueeze(g: GraphBuilder, x: Sym, axes, shape) -> Sym:
    return g.op("Unsqueeze", [x, _ints(g, list(axes), "axes")], shape=shape)


def _shape_slice(g: GraphBuilder, x: Sym, start: int, end: int) -> Sym:
    """x.shape[start:end] as an int64 tensor."""
    shape = g.op("Shape", [x], shape=(x.ndim,), elem_type=TensorProto.INT64)
    return g.op("Slice", [shape, _ints(g, [start], "start"), _ints(g, [end], "end")], shape=(end - start,),
                elem_type=TensorProto.INT64)


def _emit_bias_act(g: GraphBuilder, x: Sym, bias, activation: str, gain: float, clamp) -> Sym:
    if bias is not None:
        x = g.op("Add", [x, _per_channel(g, _array(bias), x.ndim, "bias")])
    if activation == "lrelu":
        x = g.op("LeakyRelu", [x], {"alpha": float(sg2.LRELU_ALPHA)})
    if gain != 1.0:
        x = g.op("Mul", [x, g.const(np.float32(gain), f"{g.scope}.gain")])
    if clamp is not None:
        x = g.op("Clip", [x, g.const(np.float32(-clamp), f"{g.scope}.low"), g.const(np.float32(clamp), f"{g.scope}.high")])
    return x


@converter(sg2.BiasAct)
def _sg2_bias_act(g: GraphBuilder, cell: sg2.BiasAct, x: Sym, bias=None) -> Sym:
    return _emit_bias_act(g, x, bias, cell.activation, cell.gain, cell.clamp)


@converter(sg2.Normalize2ndMoment)
def _sg2_normalize(g: GraphBuilder, cell: sg2.Normalize2ndMoment, x: Sym) -> Sym:
    mean_square = g.reduce_mean(g.op("Mul", [x, x]), (1,))
    root = g.op("Sqrt", [g.op("Add", [mean_square, g.const(np.float32(cell.eps), f"{g.scope}.eps")])])
    return g.op("Mul", [x, g.op("Reciprocal", [root])])


@converter(sg2.FullyConnected)
def _sg2_fully_connected(g: GraphBuilder, cell: sg2.FullyConnected, x: Sym) -> Sym:
    if x.ndim != 2:
        raise ExportError(f"{g.scope}: FullyConnected takes [N, features], got rank {x.ndim}")
    inputs = [x, g.const(_array(cell.weight) * np.float32(cell.weight_gain), f"{g.scope}.weight_scaled")]
    if cell.has_bias:
        inputs.append(g.const(_array(cell.bias) * np.float32(cell.bias_gain), f"{g.scope}.bias_scaled"))
    y = g.op("Gemm", inputs, {"transB": 1}, shape=(x.shape[0], cell.out_features))
    return _emit_bias_act(g, y, None, cell.activation, sg2.ACTIVATION_GAINS[cell.activation], None)


def _emit_upfirdn2d(g: GraphBuilder, cell: sg2.Upfirdn2d, x: Sym) -> Sym:
    """As the Cell: channels folded into the batch ([N·C, 1, H, W]), zero insertion (a 1×1 ConvTranspose of a
    one, stride up), Pad/Slice, the FIR as single-channel Conv(s) with stride down, then back to [N, C, H', W']."""
    n, c, h, w = x.shape
    y = g.op("Reshape", [x, _ints(g, [-1, 1, 0, 0], "fold")], shape=(None, 1, None, None))
    if cell.up > 1:
        up = cell.up
        y = g.op("ConvTranspose", [y, g.const(np.ones((1, 1, 1, 1), np.float32), f"{g.scope}.one")],
                 {"kernel_shape": [1, 1], "strides": [up, up], "output_padding": [up - 1, up - 1]},
                 shape=(None, 1, None, None))
    x0, x1, y0, y1 = cell.padding
    if max(x0, x1, y0, y1) > 0:
        pads = [0, 0, max(y0, 0), max(x0, 0), 0, 0, max(y1, 0), max(x1, 0)]
        y = g.op("Pad", [y, _ints(g, pads, "pads")], {"mode": "constant"}, shape=(None, 1, None, None))
    top, bottom, left, right = max(-y0, 0), max(-y1, 0), max(-x0, 0), max(-x1, 0)
    if top or bottom or left or right:
        ends = [-bottom if bottom else _INT64_MAX, -right if right else _INT64_MAX]
        y = g.op("Slice", [y, _ints(g, [top, left], "crop_starts"), _ints(g, ends, "crop_ends"),
                           _ints(g, [2, 3], "crop_axes")], shape=(None, 1, None, None))
    kernel, d = cell.kernel, cell.down
    steps = [(kernel, [d, d])] if kernel.ndim == 2 else [(kernel.reshape(1, -1), [1, d]), (kernel.reshape(-1, 1), [d, 1])]
    for index, (k, strides) in enumerate(steps):
        y = g.op("Conv", [y, g.const(k[None, None].astype(np.float32), f"{g.scope}.fir{index}")],
                 {"kernel_shape": list(k.shape), "strides": strides, "pads": [0, 0, 0, 0]}, shape=(None, 1, None, None))
    shape = g.op("Concat", [_shape_slice(g, x, 0, 2), _shape_slice(g, y, 2, 4)], {"axis": 0}, shape=(4,),
                 elem_type=TensorProto.INT64)
    known = isinstance(h, int) and isinstance(w, int)
    out_hw = (cell.output_size(h, 0), cell.output_size(w, 1)) if known else (None, None)
    return g.op("Reshape", [y, shape], shape=(n, c) + out_hw)


@converter(sg2.Upfirdn2d)
def _sg2_upfirdn2d(g: GraphBuilder, cell: sg2.Upfirdn2d, x: Sym) -> Sym:
    return _emit_upfirdn2d(g, cell, x)


@converter(sg2.EqualizedConv2d)
def _sg2_equalized_conv(g: GraphBuilder, cell: sg2.EqualizedConv2d, x: Sym, weight) -> Sym:
    k, s, p = cell.kernel, cell.stride, cell.padding
    w = g.const(_array(weight) * np.float32(cell.weight_gain), f"{g.scope}.weight_scaled")
    return g.op("Conv", [x, w], {"kernel_shape": [k, k], "strides": [s, s], "pads": [p, p, p, p]},
                shape=(x.shape[0], cell.out_channels, None, None))


@converter(sg2.ModulatedConv2d)
def _sg2_modulated_conv(g: GraphBuilder, cell: sg2.ModulatedConv2d, x: Sym, weight, styles: Sym) -> Sym:
    """x · styles → Conv (or ConvTranspose ×2 + FIR) with the shared weight → · demodulation coefficients."""
    n, k, o = x.shape[0], cell.kernel, cell.out_channels
    w = _array(weight)
    x = g.op("Mul", [x, _unsqueeze(g, styles, (2, 3), (n, cell.in_channels, 1, 1))])
    if cell.up == 1:
        p = cell.padding
        x = g.op("Conv", [x, g.const(w, f"{g.scope}.weight")],
                 {"kernel_shape": [k, k], "pads": [p, p, p, p], "strides": [1, 1]}, shape=(n, o, None, None))
    else:
        wt = g.const(np.ascontiguousarray(w.transpose(1, 0, 2, 3)), f"{g.scope}.weight_t")
        x = g.op("ConvTranspose", [x, wt], {"kernel_shape": [k, k], "strides": [cell.up, cell.up]},
                 shape=(n, o, None, None))
        with g.scope_of(f"{g.scope}.fir"):
            x = _emit_upfirdn2d(g, cell.fir, x)
    if cell.demodulate:
        w2t = g.const(np.square(w.astype(np.float64)).sum(axis=(2, 3)).T.astype(np.float32), f"{g.scope}.weight_sq_t")
        energy = g.op("MatMul", [g.op("Mul", [styles, styles]), w2t], shape=(n, o))
        energy = g.op("Add", [energy, g.const(np.float32(1e-8), f"{g.scope}.eps")])
        dcoefs = g.op("Reciprocal", [g.op("Sqrt", [energy])])
        x = g.op("Mul", [x, _unsqueeze(g, dcoefs, (2, 3), (n, o, 1, 1))])
    return x


@converter(sg2.NoiseInjection)
def _sg2_noise(g: GraphBuilder, cell: sg2.NoiseInjection, x: Sym, noise, strength) -> Sym:
    if isinstance(noise, Sym):  # a noise map fed as an input
        return g.op("Add", [x, g.op("Mul", [noise, g.const(_array(strength), f"{g.scope}.strength")])])
    scaled = _array(noise) * _array(strength)  # the stored constant noise (noise_mode const)
    return g.op("Add", [x, g.const(scaled.reshape((1, 1) + scaled.shape[-2:]), f"{g.scope}.noise")])


@converter(sg2.ConstInput)
def _sg2_const_input(g: GraphBuilder, cell: sg2.ConstInput, const, like: Sym) -> Sym:
    arr = _array(const)
    shape = g.op("Concat", [_shape_slice(g, like, 0, 1), _ints(g, list(arr.shape), "chw")], {"axis": 0},
                 shape=(4,), elem_type=TensorProto.INT64)
    return g.op("Expand", [g.const(arr[None], f"{g.scope}.const"), shape], shape=(like.shape[0],) + arr.shape,
                elem_type=g.float_type)


@converter(sg2.RepeatW)
def _sg2_repeat_w(g: GraphBuilder, cell: sg2.RepeatW, w: Sym) -> Sym:
    n, d = w.shape
    y = _unsqueeze(g, w, (1,), (n, 1, d))
    return g.op("Expand", [y, _ints(g, [1, cell.num_ws, 1], "repeat")], shape=(n, cell.num_ws, d))


@converter(sg2.SelectW)
def _sg2_select_w(g: GraphBuilder, cell: sg2.SelectW, ws: Sym) -> Sym:
    return g.op("Gather", [ws, _ints(g, cell.index, "index")], {"axis": 1}, shape=(ws.shape[0], ws.shape[2]))


@converter(sg2.MinibatchStd)
def _sg2_minibatch_std(g: GraphBuilder, cell: sg2.MinibatchStd, x: Sym) -> Sym:
    """The group size min(group_size, N) and the spatial size are read from the input's shape at run time."""
    c, f = x.shape[1], cell.num_channels
    batch, channels, hw = _shape_slice(g, x, 0, 1), _shape_slice(g, x, 1, 2), _shape_slice(g, x, 2, 4)
    group = batch if cell.group_size is None else g.op("Min", [batch, _ints(g, [cell.group_size], "group")])
    per_group = g.op("Div", [channels, _ints(g, [f], "features")], elem_type=TensorProto.INT64)
    target = g.op("Concat", [group, _ints(g, [-1, f], "split"), per_group, hw], {"axis": 0}, shape=(6,),
                  elem_type=TensorProto.INT64)
    y = g.op("Reshape", [x, target], shape=(None, None, f, None, None, None))
    y = g.op("Sub", [y, g.reduce_mean(y, (0,))])
    y = g.reduce_mean(g.op("Mul", [y, y]), (0,), keepdims=False)
    y = g.op("Sqrt", [g.op("Add", [y, g.const(np.float32(1e-8), f"{g.scope}.eps")])])
    y = g.reduce_mean(y, (2, 3, 4), keepdims=False)
    y = g.op("Reshape", [y, _ints(g, [-1, f, 1, 1], "stat_shape")], shape=(None, f, 1, 1))
    repeats = g.op("Concat", [group, _ints(g, [1], "one"), hw], {"axis": 0}, shape=(4,),
                   elem_type=TensorProto.INT64)
    y = g.op("Tile", [y, repeats], shape=(x.shape[0], f, x.shape[2], x.shape[3]))
    return g.op("Concat", [x, y], {"axis": 1},
                shape=(x.shape[0], c + f if isinstance(c, int) else None, x.shape[2], x.shape[3]))


@converter(sg2.LabelProjection)
def _sg2_label_projection(g: GraphBuilder, cell: sg2.LabelProjection, x: Sym, cmap: Sym) -> Sym:
    total = g.op("ReduceSum", [g.op("Mul", [x, cmap]), _ints(g, [1], "axes")], {"keepdims": 1},
                 shape=(x.shape[0], 1))
    return g.op("Mul", [total, g.const(np.float32(cell.scale), f"{g.scope}.scale")])

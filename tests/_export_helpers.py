"""Shared helpers of the export tests: random parameters, single-Cell parity, tiny generator builds."""
from __future__ import annotations

import mindspore as ms
import numpy as np
import onnx
from mindspore import nn

from export.api import check_model
from export.graph import ONNX_OF
from export.parity import make_session, reference_outputs
from export.passes import fold_affine_into_conv
from export.tracer import TensorSpec, trace


def randomize(cell: nn.Cell, seed: int = 0) -> nn.Cell:
    """Give every parameter a random value (variances positive, scales near 1) so affine terms are exercised."""
    rng = np.random.default_rng(seed)
    for p in cell.get_parameters():
        shape = tuple(p.shape)
        if p.name.endswith(("moving_variance",)):
            value = rng.uniform(0.5, 2.0, shape)
        elif p.name.endswith(("gamma",)):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.5, shape)
        p.set_data(ms.Tensor(value.astype(np.float32)))
    return cell


def onnx_of(cell: nn.Cell, *inputs: np.ndarray, opset: int = 17, options: dict | None = None) -> onnx.ModelProto:
    """Trace `cell` (inputs with fully dynamic shapes), fold, check; the model used by `assert_parity`."""
    cell.set_train(False)
    specs = [TensorSpec(f"x{i}", [None] * a.ndim, ONNX_OF[a.dtype]) for i, a in enumerate(inputs)]
    graph = trace(cell, specs, [TensorSpec("y", None)], opset=opset, options=options)
    fold_affine_into_conv(graph)
    return check_model(graph.to_model())


def assert_parity(cell: nn.Cell, *inputs: np.ndarray, atol: float = 2e-5, opset: int = 17,
                  options: dict | None = None) -> onnx.ModelProto:
    """onnxruntime vs MindSpore for one Cell on the given inputs; returns the model for structural checks."""
    model = onnx_of(cell, *inputs, opset=opset, options=options)
    feed = {f"x{i}": a for i, a in enumerate(inputs)}
    got = make_session(model).run(None, feed)[0]
    want = reference_outputs(cell, feed)[0]
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=atol * scale)
    return model


def op_types(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def images(rng: np.random.Generator, n: int, c: int, h: int, w: int) -> np.ndarray:
    return rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)

"""The ONNX graph under construction, and the symbolic value that flows through a traced `construct`.

`GraphBuilder` collects nodes and initializers; `Sym` stands for one tensor of that graph while MindSpore code
runs on it. Arithmetic on a `Sym` (`x + y`, `y * 0.5`, `-x`) emits ONNX nodes, so composite Cells need no glue.

Initializers are kept as float32/int64 NumPy "masters" until `to_model`: graph passes (BatchNorm folding) work in
full precision, and the fp16 variant is a cast of the finished graph's weights, not a second tracing path.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Sequence

import numpy as np
import onnx
from mindspore import Parameter
from onnx import TensorProto, helper, numpy_helper

from export.errors import ExportError

FLOAT_TYPES = {"fp32": TensorProto.FLOAT, "fp16": TensorProto.FLOAT16}
NUMPY_OF = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.INT64: np.int64,
            TensorProto.INT32: np.int32}
ONNX_OF = {np.dtype(v): k for k, v in NUMPY_OF.items()}

Dim = int | str | None  # a known size, a named dynamic axis, or unknown


class SymbolicAttributeError(ExportError, AttributeError):
    """Raised for tensor methods a symbolic value does not offer; an AttributeError so `hasattr` keeps working."""


class Sym:
    """One tensor of the graph being traced: its value name, element type and (partly known) shape."""

    __slots__ = ("graph", "name", "shape", "elem_type")
    __array_ufunc__ = None  # make NumPy defer `array * sym` to Sym.__rmul__ instead of looping over elements

    def __init__(self, graph: "GraphBuilder", name: str, shape: Sequence[Dim], elem_type: int):
        self.graph, self.name, self.shape, self.elem_type = graph, name, tuple(shape), elem_type

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"Sym({self.name!r}, shape={self.shape})"

    def __getattr__(self, attr):
        # Only reached for names that are not slots: tensor methods (x.mean, x.reshape) have no symbolic version.
        raise SymbolicAttributeError(
            f"a traced tensor has no '{attr}': wrap that operation in a leaf Cell with an ONNX converter")

    def _binary(self, op_type: str, other, reflected: bool = False) -> "Sym":
        a, b = (other, self) if reflected else (self, other)
        shape = _broadcast(self.shape, _shape_of(other))
        return self.graph.op(op_type, [a, b], shape=shape, elem_type=self.elem_type)

    def __add__(self, other):
        return self._binary("Add", other)

    def __radd__(self, other):
        return self._binary("Add", other, reflected=True)

    def __sub__(self, other):
        return self._binary("Sub", other)

    def __rsub__(self, other):
        return self._binary("Sub", other, reflected=True)

    def __mul__(self, other):
        return self._binary("Mul", other)

    def __rmul__(self, other):
        return self._binary("Mul", other, reflected=True)

    def __truediv__(self, other):
        return self._binary("Div", other)

    def __rtruediv__(self, other):
        return self._binary("Div", other, reflected=True)

    def __neg__(self):
        return self.graph.op("Neg", [self], shape=self.shape)


def _shape_of(value) -> tuple:
    if isinstance(value, Sym):
        return value.shape
    return tuple(np.shape(_as_numpy(value)))


def _broadcast(a: Sequence[Dim], b: Sequence[Dim]) -> tuple:
    """NumPy broadcasting over partly known shapes (unknown stays unknown unless the other side settles it)."""
    n = max(len(a), len(b))
    a, b = (None,) * (n - len(a)) + tuple(a), (None,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif isinstance(x, int) and isinstance(y, int):
            raise ExportError(f"shapes {a} and {b} do not broadcast")
        else:
            out.append(x if isinstance(x, int) else y if isinstance(y, int) else x)
    return tuple(out)


def _as_numpy(value) -> np.ndarray:
    """MindSpore tensors/parameters, NumPy arrays and Python numbers as NumPy (floats as float32)."""
    if hasattr(value, "asnumpy"):
        value = value.asnumpy()
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    raise ExportError(f"cannot turn a {type(value).__name__} of dtype {arr.dtype} into an ONNX constant")


class GraphBuilder:
    """Accumulates an ONNX graph: inputs, nodes (named after the Cell path that emitted them), initializers.

    Args:
        opset: the default-domain opset the graph targets (17 or later).
        precision: "fp32" or "fp16". fp16 computes in half precision inside the graph; the declared input and
            output stay float32 (a Cast at each end), so the runtime contract does not change.
        options: emitter choices converters may read (e.g. {"layer_norm": "primitive"}; see converters.py).
    """

    def __init__(self, opset: int = 17, precision: str = "fp32", options: dict | None = None):
        if precision not in FLOAT_TYPES:
            raise ExportError(f"unknown precision '{precision}'; choose from {sorted(FLOAT_TYPES)}")
        self.opset = int(opset)
        self.precision = precision
        self.float_type = FLOAT_TYPES[precision]
        self.options = dict(options or {})
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.keep_dtype: set[str] = set()  # initializers the spec requires as float32 (Resize scales)
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.producer: dict[str, onnx.NodeProto] = {}
        self.scope = ""
        self._taken: set[str] = set()
        self._weight_names: dict[int, str] = {}

    # ------------------------------------------------------------------------------------------------ naming
    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    @contextlib.contextmanager
    def scope_of(self, path: str):
        """Name the nodes emitted inside the block after `path` (the Cell's place in the network)."""
        outer, self.scope = self.scope, path
        try:
            yield
        finally:
            self.scope = outer

    # ------------------------------------------------------------------------------------------------ values
    def add_input(self, name: str, shape: Sequence[Dim], elem_type: int = TensorProto.FLOAT) -> Sym:
        """Declare a graph input; a float input of an fp16 graph is cast to half precision right away."""
        self._taken.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        sym = Sym(self, name, shape, elem_type)
        if elem_type == TensorProto.FLOAT and self.float_type != TensorProto.FLOAT:
            sym = self.op("Cast", [sym], {"to": self.float_type}, shape=shape, elem_type=self.float_type)
        return sym

    def add_output(self, sym: Sym, name: str, shape: Sequence[Dim] | None = None) -> None:
        """Expose `sym` as graph output `name` (float outputs are float32 whatever the precision)."""
        elem_type = sym.elem_type
        if elem_type == TensorProto.FLOAT16:
            elem_type = TensorProto.FLOAT
            self.nodes.append(helper.make_node("Cast", [sym.name], [name], name=self.unique(f"{name}/Cast"),
                                               to=TensorProto.FLOAT))
        else:
            self.nodes.append(helper.make_node("Identity", [sym.name], [name], name=self.unique(f"{name}/Identity")))
        self._taken.add(name)
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, list(shape or sym.shape)))

    def const(self, value, name: str | None = None, keep_dtype: bool = False) -> str:
        """An initializer from a number/array/MindSpore tensor; floats follow the graph precision unless
        `keep_dtype` (ONNX wants some inputs, such as Resize scales, as float32 always)."""
        arr = _as_numpy(value)
        name = self.unique(name or (f"{self.scope}/const" if self.scope else "const"))
        self.initializers[name] = arr
        if keep_dtype:
            self.keep_dtype.add(name)
        return name

    def weight(self, tensor, suffix: str) -> str:
        """A Cell's parameter (named as in the network, shared if reused) or a tensor derived from one
        (named `<cell path>.<suffix>`), as an initializer."""
        key = id(tensor)
        if key in self._weight_names:
            return self._weight_names[key]
        is_parameter = isinstance(tensor, Parameter)
        base = tensor.name if is_parameter else f"{self.scope}.{suffix}"
        name = self.const(tensor, base)
        if is_parameter:
            self._weight_names[key] = name
        return name

    def input_name(self, value) -> str:
        if isinstance(value, Sym):
            return value.name
        if isinstance(value, str):
            return value
        if isinstance(value, Parameter):
            return self.weight(value, "param")
        return self.const(value)

    # ------------------------------------------------------------------------------------------------ nodes
    def op(self, op_type: str, inputs: Iterable, attrs: dict | None = None, outputs: int = 1,
           shape: Sequence[Dim] | None = None, elem_type: int | None = None):
        """Emit one node; returns a Sym (or a tuple of `outputs` Syms). Inputs may be Syms, initializer names,
        '' (an omitted optional input), numbers or arrays (turned into constants)."""
        inputs = list(inputs)
        first = next((v for v in inputs if isinstance(v, Sym)), None)
        if elem_type is None:
            elem_type = first.elem_type if first is not None else self.float_type
        if shape is None:
            shape = first.shape if first is not None else ()
        base = f"{self.scope}/{op_type}" if self.scope else op_type
        node_name = self.unique(base)
        out_names = [node_name] if outputs == 1 else [self.unique(f"{node_name}:{k}") for k in range(outputs)]
        node = helper.make_node(op_type, [self.input_name(v) for v in inputs], out_names, name=node_name,
                                **(attrs or {}))
        self.nodes.append(node)
        for out in out_names:
            self.producer[out] = node
        syms = tuple(Sym(self, out, shape, elem_type) for out in out_names)
        return syms[0] if outputs == 1 else syms

    def reduce_mean(self, x: Sym, axes: Sequence[int], keepdims: bool = True) -> Sym:
        """ReduceMean across opsets (axes became an input in opset 18)."""
        shape = tuple(1 if i in {a % x.ndim for a in axes} else d for i, d in enumerate(x.shape))
        if self.opset >= 18:
            axes_name = self.const(np.array(axes, np.int64), f"{self.scope}/axes")
            return self.op("ReduceMean", [x, axes_name], {"keepdims": int(keepdims)}, shape=shape)
        return self.op("ReduceMean", [x], {"axes": list(axes), "keepdims": int(keepdims)}, shape=shape)

    # ------------------------------------------------------------------------------------------------ output
    def consumers(self) -> dict[str, list[onnx.NodeProto]]:
        """Value name → nodes reading it (graph outputs count as a reader with node None)."""
        readers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                readers.setdefault(name, []).append(node)
        for out in self.outputs:
            readers.setdefault(out.name, []).append(None)
        return readers

    def to_model(self, graph_name: str = "generator", producer: str = "", metadata: dict | None = None,
                 doc: str = "") -> onnx.ModelProto:
        """Assemble the ModelProto: initializers converted to the graph precision, opset and IR version set."""
        used = {name for node in self.nodes for name in node.input}
        tensors = []
        for name, arr in self.initializers.items():
            if name not in used:
                continue  # e.g. a conv weight replaced by its BatchNorm-folded copy
            if arr.dtype == np.float32 and name not in self.keep_dtype:
                arr = arr.astype(NUMPY_OF[self.float_type])
            tensors.append(numpy_helper.from_array(arr, name))
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, tensors, doc_string=doc)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name=producer,
                                  ir_version=helper.find_min_ir_version_for(opsets))
        for key, value in (metadata or {}).items():
            model.metadata_props.add(key=str(key), value=str(value))
        return model

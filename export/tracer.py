"""Turn a MindSpore network into an ONNX graph by running its own `construct` on symbolic values.

While tracing, `nn.Cell.__call__` is wrapped: a call whose arguments include a `Sym` goes to `Tracer.call`, which
(1) emits ONNX for Cells that have a converter (export/converters.py), (2) runs `construct` of any other Cell that
has child Cells (composites, SequentialCell, the generator itself), (3) refuses a childless Cell without a
converter, naming its class and its path in the network. Calls on real tensors are untouched, so the network
still runs normally during and after the trace. There is therefore no second, hand-written copy of any generator.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

from mindspore import Parameter, Tensor, nn
from onnx import TensorProto

import export.converters  # noqa: F401  (registers the converters)
from export.errors import ExportError, UnsupportedCellError
from export.graph import Dim, GraphBuilder, Sym
from export.registry import find_converter


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: name, shape (ints, axis names for dynamic sizes) and ONNX element type."""

    name: str
    shape: Sequence[Dim]
    elem_type: int = TensorProto.FLOAT


class Tracer:
    """Routes Cell calls on symbolic values; knows every Cell's path for error messages and node names."""

    def __init__(self, net: nn.Cell, graph: GraphBuilder):
        self.graph = graph
        self.root_name = type(net).__name__
        self.paths: dict[int, str] = {}
        for name, cell in net.cells_and_names():
            self.paths.setdefault(id(cell), name)

    def path_of(self, cell: nn.Cell) -> str:
        path = self.paths.get(id(cell))
        if path is None:  # a Cell created on the fly inside some construct
            return f"<{type(cell).__name__} not attached to the network>"
        return path or self.root_name

    def call(self, cell: nn.Cell, args: tuple, kwargs: dict):
        path = self.path_of(cell)
        cls = type(cell).__name__
        fn = find_converter(type(cell))
        with self.graph.scope_of(path):
            if fn is not None:
                return fn(self.graph, cell, *args, **kwargs)
            if not cell.name_cells():
                raise UnsupportedCellError(
                    f"no ONNX converter for {cls} at '{path}': register one with @converter({cls}) "
                    "in export/converters.py")
            try:
                return cell.construct(*args, **kwargs)
            except ExportError:
                raise
            except Exception as e:  # MindSpore ops handed a Sym: say where, not a MindSpore stack
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ExportError(f"cannot trace {cls} at '{path}': {first}") from e


def _has_sym(args, kwargs) -> bool:
    return any(isinstance(a, Sym) for a in args) or any(isinstance(v, Sym) for v in kwargs.values())


_TENSOR_OPS = {"__add__": "__radd__", "__sub__": "__rsub__", "__mul__": "__rmul__", "__truediv__": "__rtruediv__"}


@contextlib.contextmanager
def _intercept(tracer: Tracer, net: nn.Cell):
    """Route Cell calls with symbolic arguments to the tracer, and `tensor <op> sym` to the Sym's reflected op.

    MindSpore's own Tensor operators raise TypeError on a foreign operand instead of returning NotImplemented,
    so `self.gamma * x` would never reach `Sym.__rmul__` without the second patch.
    """
    saved: list[tuple[type, str, object]] = []

    def patch(owner: type, attr: str, make):
        original = getattr(owner, attr, None)
        if original is None:  # e.g. Parameter has no __truediv__ at all
            return
        saved.append((owner, attr, owner.__dict__.get(attr)))
        setattr(owner, attr, make(original))

    def cell_call(original):
        def call(cell, *args, **kwargs):
            if _has_sym(args, kwargs):
                return tracer.call(cell, args, kwargs)
            return original(cell, *args, **kwargs)

        return call

    def tensor_op(reflected):
        def make(original):
            def op(self, other):
                if isinstance(other, Sym):
                    return getattr(other, reflected)(self)
                return original(self, other)

            return op

        return make

    # Subclasses overriding __call__ would bypass the base wrapper; wrap those too.
    call_owners = {nn.Cell}
    for _, cell in net.cells_and_names():
        for cls in type(cell).__mro__:
            if cls is not nn.Cell and issubclass(cls, nn.Cell) and "__call__" in cls.__dict__:
                call_owners.add(cls)
    try:
        for owner in call_owners:
            patch(owner, "__call__", cell_call)
        for owner in (Tensor, Parameter):
            for attr, reflected in _TENSOR_OPS.items():
                patch(owner, attr, tensor_op(reflected))
        yield
    finally:
        for owner, attr, value in reversed(saved):
            if value is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, value)


def trace(net: nn.Cell, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], opset: int = 17,
          precision: str = "fp32", options: dict | None = None) -> GraphBuilder:
    """Trace `net.construct` into a GraphBuilder.

    Args:
        net: the network, already in inference mode (`set_train(False)`) with its final weights.
        inputs: one TensorSpec per `construct` argument, in order.
        outputs: one TensorSpec per value `construct` returns (shapes are the declared output shapes).
        opset, precision, options: see GraphBuilder.
    Raises:
        UnsupportedCellError: a leaf Cell has no converter (the message names its type and path).
        ExportError: anything else that stops the trace, located by Cell path.
    """
    graph = GraphBuilder(opset=opset, precision=precision, options=options)
    tracer = Tracer(net, graph)
    syms = [graph.add_input(spec.name, spec.shape, spec.elem_type) for spec in inputs]
    with _intercept(tracer, net):
        result = tracer.call(net, tuple(syms), {})
    results = result if isinstance(result, (tuple, list)) else (result,)
    if len(results) != len(outputs) or not all(isinstance(r, Sym) for r in results):
        raise ExportError(f"{tracer.root_name}.construct returned {len(results)} value(s) "
                          f"({', '.join(type(r).__name__ for r in results)}); expected {len(outputs)} traced tensor(s)")
    for sym, spec in zip(results, outputs):
        graph.add_output(sym, spec.name, spec.shape)
    return graph

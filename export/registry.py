"""Cell type → ONNX converter, the one table the tracer consults.

A converter is `fn(g: GraphBuilder, cell, *inputs) -> Sym | tuple[Sym, ...]`: it reads the Cell's attributes and
parameters and emits nodes. Supporting a new leaf Cell is one decorated function:

    @converter(MyLeaf)
    def _my_leaf(g, cell, x):
        return g.op("Relu", [x])
"""
from __future__ import annotations

from typing import Callable, Dict

from mindspore import nn

Converter = Callable[..., object]
_CONVERTERS: Dict[type, Converter] = {}


def converter(*cell_types: type):
    """Decorator registering `fn` as the converter of each of `cell_types`."""

    def deco(fn: Converter) -> Converter:
        for cls in cell_types:
            if cls in _CONVERTERS and _CONVERTERS[cls] is not fn:
                raise ValueError(f"{cls.__name__} already has an ONNX converter ({_CONVERTERS[cls].__name__})")
            _CONVERTERS[cls] = fn
        return fn

    return deco


def find_converter(cell_type: type) -> Converter | None:
    """The converter of `cell_type`, or of a base class whose `construct` it inherits unchanged.

    Inheriting the converter only when `construct` is the same keeps subclasses that merely change a helper
    (SNConv2d overrides `effective_weight`, which the Conv2d converter calls) working, while a subclass that
    computes something else gets no silently wrong converter.
    """
    for cls in cell_type.__mro__:
        if cls is nn.Cell or not issubclass(cls, nn.Cell):
            break
        fn = _CONVERTERS.get(cls)
        if fn is not None and (cls is cell_type or cell_type.construct is cls.construct):
            return fn
    return None

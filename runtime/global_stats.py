"""Whole-image normalisation statistics for tiled inference.

Layer norm (and instance norm) average over the whole feature map. Running tiles independently would normalise
each tile by its own content — a dark tile gets brightened, a sky tile flattened — and blending only smears those
tone jumps into visible bands. Instead the graph is rewritten once:

- every InstanceNormalization whose statistics span the spatial axes (our exporter's default spelling of layer
  norm: Reshape to [N,1,C·H·W] → InstanceNormalization → Reshape) is decomposed into ReduceMean/Sub/Div/... ops;
- *capture* model: that graph with the output of every ReduceMean averaging over the spatial axes added as an
  output (ReduceMean-based layer norms, as tf2onnx and our "primitive" export write them, need no decomposition);
- *inject* model: the same graph with those ReduceMean nodes removed and their outputs turned into graph inputs.

The statistics are captured from the whole image (downscaled to a pixel budget when it is too big to run whole)
and injected into every full-resolution tile, so all tiles are normalised by the same numbers. When the proxy is
the full-size image, tiles reproduce the whole-image result up to the blended tile borders.
Needs the `onnx` package (graph editing); callers fall back to per-tile statistics without it.
"""
from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort

from runtime.errors import ConversionError
from runtime.imaging import padded_size
from runtime.session import Generator, make_session


class NoGlobalStats(Exception):
    """The model has no whole-image reductions to share between tiles (or `onnx` is not installed)."""


def _constant_ints(model, name: str) -> list[int] | None:
    from onnx import numpy_helper

    for init in model.graph.initializer:
        if init.name == name:
            return [int(a) for a in numpy_helper.to_array(init).ravel()]
    for node in model.graph.node:
        if node.op_type == "Constant" and name in node.output:
            return [int(a) for a in numpy_helper.to_array(node.attribute[0].t).ravel()]
    return None


def _reduce_axes(node, model) -> list[int] | None:
    """Axes of a ReduceMean: attribute (opset < 18) or constant second input (opset ≥ 18); [] = all axes."""
    for attr in node.attribute:
        if attr.name == "axes":
            return list(attr.ints)
    if len(node.input) < 2 or not node.input[1]:
        return []
    return _constant_ints(model, node.input[1])  # None: computed at run time, cannot reason about it


def _probe_sizes(multiple: int) -> list[tuple[int, int]]:
    """Two sizes differing in height, width and area: an axis whose length differs between them is spatial
    (the area must differ too, or a flattened [N,1,C·H·W] view would look constant)."""
    k = multiple * math.ceil(16 / multiple)
    return [padded_size(2 * k, 3 * k, multiple), padded_size(3 * k, 5 * k, multiple)]


def _probe_input_shapes(generator: Generator, model, nodes: list) -> list[tuple[list[int], list[int]]]:
    """Each node's first-input shape at the two probe sizes, measured by running a copy of the graph with
    Shape outputs added — exact for any layout (NCHW, tf2onnx NHWC, flattened [N,1,L] views)."""
    import onnx
    from onnx import TensorProto, helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = []
    for i, node in enumerate(nodes):
        names.append(f"__probe_shape_{i}")
        probe.graph.node.append(helper.make_node("Shape", [node.input[0]], [names[-1]]))
        probe.graph.output.append(helper.make_tensor_value_info(names[-1], TensorProto.INT64, None))
    session = make_session(probe.SerializeToString(), generator.providers, generator.threads)
    runs = []
    for height, width in _probe_sizes(generator.spec.size_multiple):
        x = generator.encode(np.full((1, height, width, 3), 128, np.uint8))
        runs.append([list(map(int, s)) for s in session.run(names, {generator.input_name: x})])
    return list(zip(runs[0], runs[1]))


def _spans_space(reduced: set[int], first: list[int], second: list[int]) -> bool:
    """True when the reduced axes include every axis that grows with the image (the spatial ones)."""
    varying = {i for i in range(len(first)) if first[i] != second[i]}
    return bool(varying) and varying <= reduced


def _elem_types(model) -> dict[str, int]:
    """Tensor element types from shape inference (fp16 graphs need fp16 statistics); {} when it fails."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        return {}
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {vi.name: vi.type.tensor_type.elem_type for vi in infos}


class _Rewriter:
    """Appends nodes/initializers with unique names; opset-aware ReduceMean."""

    def __init__(self, model, types: dict[str, int]):
        self.model, self.types = model, types
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"__gs_{hint}_{self.count}"

    def const(self, array: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.model.graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    def node(self, nodes: list, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or self.name(op.lower())
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def reduce_mean(self, nodes: list, x: str, axes: list[int]) -> str:
        if self.opset >= 18:
            return self.node(nodes, "ReduceMean", [x, self.const(np.array(axes, np.int64), "axes")], keepdims=1)
        return self.node(nodes, "ReduceMean", [x], axes=axes, keepdims=1)

    def decompose_instance_norm(self, node, rank: int) -> tuple[list, list[str]]:
        """InstanceNormalization(x, scale, bias) as ReduceMean/Sub/Mul/Sqrt/Div/Mul/Add; returns the nodes and
        the names of its two statistics (mean, variance)."""
        from onnx import helper

        x, scale, bias = node.input[:3]
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        dtype = helper.tensor_dtype_to_np_dtype(self.types.get(x, 1) or 1)
        axes = list(range(2, rank))
        nodes: list = []
        mean = self.reduce_mean(nodes, x, axes)
        centred = self.node(nodes, "Sub", [x, mean])
        var = self.reduce_mean(nodes, self.node(nodes, "Mul", [centred, centred]), axes)
        std = self.node(nodes, "Sqrt", [self.node(nodes, "Add", [var, self.const(np.array(eps, dtype), "eps")])])
        normed = self.node(nodes, "Div", [centred, std])
        per_channel = self.const(np.array([-1] + [1] * (rank - 2), np.int64), "channel_shape")  # [C] → [C,1,..]
        scaled = self.node(nodes, "Mul", [normed, self.node(nodes, "Reshape", [scale, per_channel])])
        self.node(nodes, "Add", [scaled, self.node(nodes, "Reshape", [bias, per_channel])], output=node.output[0])
        return nodes, [mean, var]


def prepare_stats_graph(generator: Generator, model) -> tuple[object, list[str]]:
    """(graph, names of its whole-image statistics): spatial InstanceNormalizations decomposed, and the outputs
    of every ReduceMean that averages over the spatial axes listed."""
    import onnx

    reduces = [(n, _reduce_axes(n, model)) for n in model.graph.node if n.op_type == "ReduceMean"]
    reduces = [(n, axes) for n, axes in reduces if axes is not None]
    norms = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
    if not reduces and not norms:
        return model, []
    shapes = _probe_input_shapes(generator, model, [n for n, _ in reduces] + norms)
    names = []
    for (node, axes), (first, second) in zip(reduces, shapes):
        reduced = set(range(len(first))) if not axes else {a % len(first) for a in axes}
        if _spans_space(reduced, first, second):
            names.append(node.output[0])
    spatial_norms = {id(n): len(first) for n, (first, second) in zip(norms, shapes[len(reduces):])
                     if _spans_space(set(range(2, len(first))), first, second)}
    if not spatial_norms:
        return model, names
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    rewriter = _Rewriter(rewritten, _elem_types(model))
    new_nodes = []
    for original, node in zip(model.graph.node, rewritten.graph.node):
        if id(original) in spatial_norms:   # replaced in place, so the node order stays topological
            nodes, stats = rewriter.decompose_instance_norm(node, spatial_norms[id(original)])
            new_nodes.extend(nodes)
            names.extend(stats)
        else:
            new_nodes.append(node)
    del rewritten.graph.node[:]
    rewritten.graph.node.extend(new_nodes)
    return rewritten, names


def _prune(graph) -> None:
    """Drop nodes and initializers nothing needs any more (the removed reductions' inputs, mostly)."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


class GlobalStatsModel:
    """A generator split into a statistics-capturing view and a statistics-injecting view."""

    def __init__(self, generator: Generator):
        try:
            import onnx
            from onnx import TensorProto, helper
        except ImportError:
            raise NoGlobalStats("the onnx package is not installed") from None
        self.generator = generator
        try:
            model = onnx.load(str(generator.path))
        except Exception as exc:
            raise ConversionError(f"cannot read model graph {generator.path}: {exc}") from None
        model, self.stat_names = prepare_stats_graph(generator, model)
        if not self.stat_names:
            raise NoGlobalStats("the model has no whole-image reductions")
        names = set(self.stat_names)
        types = _elem_types(model)

        def value_info(name):
            return helper.make_tensor_value_info(name, types.get(name) or TensorProto.FLOAT, None)

        capture = onnx.ModelProto()
        capture.CopyFrom(model)
        capture.graph.output.extend(value_info(name) for name in self.stat_names)

        inject = onnx.ModelProto()
        inject.CopyFrom(model)
        kept = [n for n in inject.graph.node if not (n.op_type == "ReduceMean" and n.output[0] in names)]
        del inject.graph.node[:]
        inject.graph.node.extend(kept)
        inject.graph.input.extend(value_info(name) for name in self.stat_names)
        _prune(inject.graph)

        g = generator
        self.capture_session = make_session(capture.SerializeToString(), g.providers, g.threads, g.spin)
        self.inject_session = make_session(inject.SerializeToString(), g.providers, g.threads, g.spin)
        # Two sessions would each keep a memory pool sized for a whole tile, doubling the peak; shrinking the pools
        # after every run keeps the peak at one tile's worth. Measured on a half-width AnimeGANv2, 2048×1536 in
        # 768-px tiles: peak RSS 672 MiB with shrinking, 1309 MiB with plain pools, 873 MiB without pools
        # (which also cost ~25% more CPU time in page faults).
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def capture(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Statistics of one padded uint8 [H,W,3] image (H, W multiples of the model's size multiple)."""
        outputs = self.generator.run_tensor(self.generator.encode(image[None]), session=self.capture_session,
                                            run_options=self.run_options)
        return dict(zip(self.stat_names, outputs[1:]))

    def run_tile(self, tile: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
        """Stylise one padded uint8 [h,w,3] tile normalised with the given whole-image statistics."""
        output = self.generator.run_tensor(self.generator.encode(tile[None]), session=self.inject_session,
                                           extra=stats, run_options=self.run_options)[0]
        return self.generator.decode(output)[0]

"""MindSpore → ONNX: graphs written by our own emitter, traced from each network's `construct`.

    from export.api import export_generator
    export_generator(net, "g.onnx", family="animeganv2", style="Hayao")

Modules: graph (GraphBuilder, Sym) · registry (Cell type → converter) · converters (one per leaf Cell) ·
tracer (runs `construct` on symbolic values) · passes (BatchNorm folding) · parity (onnxruntime vs MindSpore) ·
api (export_generator) · quantize (int8) · errors (ExportError and its kinds) · to_onnx.py (the CLI; the
bundled demo models are rebuilt through it by mindspore_impl/build_demo.py). Generator weights come in through
mindspore_impl.checkpoint_io.
"""

# MindSpore 2.8.0's generated *_pb2 modules fail to load ("Descriptors cannot be created directly") when the onnx
# package has initialised protobuf first, so every export module gets MindSpore loaded before it imports onnx.
import mindspore  # noqa: E402,F401

"""`export_generator(net, path, ...)`: the one call that turns a network into a checked ONNX file.

What is exported comes from the network's declared interface (`runtime/interface.py`: task, input and output ports,
size multiple; `net.interface()`, or a 3-channel stylizer for networks that only declare `size_multiple`). Steps:
trace `construct` on one symbolic value per input port (export/tracer.py) → fold BatchNorm into convs →
onnx.checker + strict shape inference → parity against MindSpore on inputs drawn from the ports (images at two
sizes, latents, one-hot tags, scalar values) × batch 1 and 4 → metadata (task, interface, ...) → atomic write. Any
failure raises an ExportError and leaves no file behind. The CLI (export/to_onnx.py) adds configs, checkpoints and
the int8 variant around it; every family exports through here.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import mindspore as ms
import numpy as np
import onnx
from mindspore import nn

from export.errors import ExportError
from export.parity import ParityReport, check_parity
from export.passes import fold_affine_into_conv
from export.tracer import TensorSpec, trace
from runtime.atomic import write_bytes_atomic
from runtime.interface import Interface, InterfaceError, Port
from runtime.interface import interface_of as declared_interface

DEFAULT_OPSET = 17
# fp32: the bound. fp16: measured max |diff| (random weights, 64² and 96×128, batch 1 and 4) was
# 1.8e-3–2.7e-3 for the full-size AnimeGANv2 and up to 1.2e-2 for width-0.125 builds; 2e-2 leaves room for other
# weights without hiding a broken converter, which shows up as differences of order 0.1–1.
DEFAULT_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
PRODUCER = "anime-gan-suite export"
# A scalar port is checked at its default and at this fraction of it (e.g. truncation_psi 1.0 and 0.7).
SCALAR_CHECK_FACTOR = 0.7


def interface_of(net: nn.Cell, task: str | None = None) -> Interface:
    """`runtime.interface.interface_of`, with a bad declaration as an ExportError naming the network."""
    try:
        return declared_interface(net, task)
    except InterfaceError as exc:
        raise ExportError(f"{type(net).__name__}: {exc}") from None


def default_check_sizes(size_multiple: int) -> list[tuple[int, int]]:
    """Two parity sizes, both multiples of the generator's size multiple, one square and one not: 16m² and
    24m×32m, or, where that would exceed 512 px (multiples above 16: a U-Net's 256, pix2pixHD's 32), the smallest
    multiples of at least 128² and 192×256 (256² and 256×512 for multiple 256), which keeps the check of a large
    network at seconds, not hours."""
    m = max(1, int(size_multiple))
    if 32 * m <= 512:
        return [(16 * m, 16 * m), (24 * m, 32 * m)]

    def up(side: int) -> int:
        return -(-side // m) * m

    first, tall, wide = up(128), up(192), up(256)
    return [(first, first), (tall, wide if wide != tall else wide + m)]


def image_metadata(spec: Interface) -> dict[str, str]:
    """The keys the runtime has always read for a model with an image input (kept beside `interface`)."""
    source, target = spec.inputs_of("image")[0], spec.outputs[0]
    return {"layout": "NCHW", "input_range": ",".join(f"{v:g}" for v in source.range),
            "output_range": ",".join(f"{v:g}" for v in target.range), "channel_order": "RGB",
            "size_multiple": str(spec.size_multiple)}


def model_metadata(spec: Interface, *, family: str, style: str, network: str = "G", config: dict | None = None,
                   source_checkpoint_sha256: str = "", precision: str = "fp32") -> dict[str, str]:
    """metadata_props for the runtime (all values strings)."""
    meta = {"family": family, "task": spec.task, "interface": spec.to_json(), "network": network, "style": style}
    if spec.inputs_of("image"):
        meta.update(image_metadata(spec))
    meta.update({
        "source_checkpoint_sha256": source_checkpoint_sha256,
        "config": json.dumps(config or {}, sort_keys=True),
        "producer": f"{PRODUCER} (mindspore {ms.__version__}, onnx {onnx.__version__})",
        "precision": precision,
    })
    meta.update({str(k): str(v) for k, v in spec.metadata.items()})
    return meta


def check_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx.checker (full) and strict shape inference; returns the model with inferred value_info."""
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the emitted graph is invalid: {str(e).strip().splitlines()[0]}") from None


def build_model(net: nn.Cell, spec: Interface, metadata: dict[str, str], opset: int = DEFAULT_OPSET,
                precision: str = "fp32", options: dict | None = None) -> onnx.ModelProto:
    """Trace `net` over the ports of `spec` into a checked ModelProto (no parity check, nothing written)."""
    if opset < 17 or opset > onnx.defs.onnx_opset_version():
        raise ExportError(f"opset {opset} is not supported: choose 17 to {onnx.defs.onnx_opset_version()}")
    net.set_train(False)
    graph = trace(net, [TensorSpec(p.name, p.shape) for p in spec.inputs],
                  [TensorSpec(p.name, p.shape) for p in spec.outputs], opset=opset, precision=precision,
                  options=options)
    fold_affine_into_conv(graph)
    model = graph.to_model(graph_name=type(net).__name__, producer=PRODUCER, metadata=metadata)
    return check_model(model)


def set_metadata(model: onnx.ModelProto, updates: dict[str, str]) -> None:
    """Add or replace metadata_props entries in place."""
    current = {p.key: p.value for p in model.metadata_props}
    current.update({k: str(v) for k, v in updates.items()})
    del model.metadata_props[:]
    for key, value in current.items():
        model.metadata_props.add(key=key, value=value)


def write_model_atomic(model: onnx.ModelProto | bytes, path: str | os.PathLike) -> Path:
    """The ONNX writer: serialise `model` and write it with `runtime.atomic.write_bytes_atomic` (parent folders
    created); ExportError, naming the path, when it cannot be written."""
    path = Path(path)
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    try:
        return write_bytes_atomic(path, data, make_parents=True)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from None


def parity_feeds(spec: Interface, sizes: Sequence[tuple[int, int]], batches: Sequence[int], seed: int = 0
                 ) -> list[dict[str, np.ndarray]]:
    """Random inputs drawn from the ports: images uniform in their range at every size (none for sampling
    networks), latents N(0, 1), one random one-hot per tag group, scalars at their default and a second value
    (alternating by case); every size × every batch."""
    rng = np.random.default_rng(seed)
    has_image = bool(spec.inputs_of("image"))
    cases = [(size, n) for size in (sizes if has_image else [None]) for n in batches]
    feeds = []
    for index, (size, n) in enumerate(cases):
        feed = {}
        for port in spec.inputs:
            feed[port.name] = _example(port, rng, n, size, second=index % 2 == 1)
        feeds.append(feed)
    return feeds


def _example(port: Port, rng: np.random.Generator, n: int, size, second: bool) -> np.ndarray:
    if port.kind == "image":
        h, w = (port.shape[2], port.shape[3]) if isinstance(port.shape[2], int) else size
        lo, hi = port.range
        return rng.uniform(lo, hi, (n, port.channels, h, w)).astype(np.float32)
    if port.kind == "noise":
        return rng.standard_normal((n, port.width)).astype(np.float32)
    if port.kind == "onehot":
        blocks = []
        for _, values in port.groups:
            block = np.zeros((n, len(values)), np.float32)
            block[np.arange(n), rng.integers(0, len(values), n)] = 1.0
            blocks.append(block)
        return np.concatenate(blocks, axis=1)
    return np.array(port.default * (SCALAR_CHECK_FACTOR if second else 1.0), np.float32)


def check_output_shapes(spec: Interface, report: ParityReport) -> None:
    """Each case's outputs have the declared shapes: fixed sizes equal, named axes equal the input axes of the
    same name (an image-to-image generator returns its input's batch, height and width)."""
    for input_shapes, output_shapes in report.shapes:
        bound: dict[str, int] = {}
        for port, shape in zip(spec.inputs, input_shapes):
            for dim, actual in zip(port.shape, shape):
                if isinstance(dim, str):
                    bound.setdefault(dim, actual)
        for port, shape in zip(spec.outputs, output_shapes):
            expected = [bound.get(d, None) if isinstance(d, str) else d for d in port.shape]
            if len(shape) != len(port.shape) or any(e is not None and e != a for e, a in zip(expected, shape)):
                raise ExportError(f"inputs {input_shapes} gave output {port.name} of shape {shape}; the interface "
                                  f"declares {list(port.shape)}")


@dataclass
class ExportResult:
    model: onnx.ModelProto
    parity: ParityReport
    interface: Interface | None = None
    path: Path | None = None


def prepare_generator(net: nn.Cell, *, interface: Interface | None = None, family: str = "unknown",
                      style: str = "unknown", network: str = "G", config: dict | None = None,
                      source_checkpoint_sha256: str = "", opset: int = DEFAULT_OPSET, precision: str = "fp32",
                      tolerance: float | None = None, check_sizes: Sequence[tuple[int, int]] | None = None,
                      check_batches: Sequence[int] = (1, 4), options: dict | None = None, seed: int = 0,
                      progress: bool = True) -> ExportResult:
    """Trace, check and parity-test `net`; returns the model without writing it (see export_generator)."""
    if precision not in DEFAULT_TOLERANCE:
        raise ExportError(f"unknown precision '{precision}'; choose from {sorted(DEFAULT_TOLERANCE)}")
    tolerance = DEFAULT_TOLERANCE[precision] if tolerance is None else float(tolerance)
    if not tolerance >= 0:
        raise ExportError(f"tolerance must be >= 0, got {tolerance}")
    spec = interface if interface is not None else interface_of(net)
    metadata = model_metadata(spec, family=family, style=style, network=network, config=config,
                              source_checkpoint_sha256=source_checkpoint_sha256, precision=precision)
    model = build_model(net, spec, metadata, opset=opset, precision=precision, options=options)
    multiple = spec.size_multiple
    sizes = list(check_sizes) if check_sizes is not None else default_check_sizes(multiple)
    for h, w in sizes:
        if h % multiple or w % multiple:
            raise ExportError(f"parity size {h}x{w} is not a multiple of the generator's size_multiple {multiple}")
    feeds = parity_feeds(spec, sizes, check_batches, seed=seed)
    parity = check_parity(net, model, feeds, tolerance, progress=progress)
    check_output_shapes(spec, parity)
    set_metadata(model, {"parity_max_abs_diff": f"{parity.max_abs_diff:.3g}"})
    return ExportResult(model=model, parity=parity, interface=spec)


def export_generator(net: nn.Cell, path: str | os.PathLike, **options) -> ExportResult:
    """Export `net` to `path` after proving parity with MindSpore.

    Args:
        net: the network with its final weights (put in inference mode here).
        path: the .onnx file to write (atomically; nothing is written when any check fails).
        interface: its ports and task (default: `interface_of(net)`).
        family, style, network, config, source_checkpoint_sha256: metadata for the runtime (config as JSON;
            network is the exported network's name in its family, e.g. G_ema).
        opset: ONNX opset, 17 or later. precision: "fp32" or "fp16" (fp16 compute, float32 inputs/outputs).
        tolerance: max |onnxruntime − MindSpore| allowed (default 1e-4 fp32, 2e-2 fp16).
        check_sizes, check_batches: parity inputs (default: two sizes from size_multiple, batch 1 and 4).
        options: emitter choices (converters.LAYER_NORM_PATTERNS). progress: show a tqdm bar.
    Returns:
        ExportResult with the model, its parity report, its interface and the written path.
    Raises:
        ExportError (UnsupportedCellError, ParityError, ...) with a one-line message.
    """
    result = prepare_generator(net, **options)
    result.path = write_model_atomic(result.model, path)
    return result

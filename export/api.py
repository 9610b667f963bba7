"""`export_generator(net, path, ...)`: the one call that turns an image-to-image generator into a checked ONNX file.

Steps: trace `construct` (export/tracer.py) → fold BatchNorm into convs → onnx.checker + strict shape inference
→ parity against MindSpore at two sizes × batch 1 and 4 → atomic write. Any failure raises an ExportError and
leaves no file behind. Other families and the demo build call this; the CLI (export/to_onnx.py) adds configs,
checkpoints and the int8 variant around it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import mindspore as ms
import onnx
from mindspore import nn

from export.errors import ExportError
from export.parity import ParityReport, check_parity, image_feeds
from export.passes import fold_affine_into_conv
from export.tracer import TensorSpec, trace
from runtime.atomic import write_bytes_atomic

DEFAULT_OPSET = 17
# fp32: the bound. fp16: measured max |diff| (random weights, 64² and 96×128, batch 1 and 4) was
# 1.8e-3–2.7e-3 for the full-size AnimeGANv2 and up to 1.2e-2 for width-0.125 builds; 2e-2 leaves room for other
# weights without hiding a broken converter, which shows up as differences of order 0.1–1.
DEFAULT_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
INPUT_NAME, OUTPUT_NAME = "input", "output"
IMAGE_SHAPE = ["batch", 3, "height", "width"]
PRODUCER = "anime-gan-suite export"


def default_check_sizes(size_multiple: int) -> list[tuple[int, int]]:
    """Two parity sizes, both multiples of the generator's size multiple, one square and one not."""
    m = max(1, int(size_multiple))
    return [(16 * m, 16 * m), (24 * m, 32 * m)]


def image_metadata(net: nn.Cell, *, family: str, style: str, config: dict | None = None,
                   source_checkpoint_sha256: str = "", precision: str = "fp32") -> dict[str, str]:
    """The metadata_props the runtime reads for an image-to-image generator (all values strings)."""
    multiple = getattr(type(net), "size_multiple", None)
    if not isinstance(multiple, int) or multiple < 1:
        raise ExportError(f"{type(net).__name__} has no integer `size_multiple` class attribute; the runtime "
                          "needs it to pad inputs")
    return {
        "family": family,
        "task": "image2image",
        "layout": "NCHW",
        "input_range": "-1,1",
        "output_range": "-1,1",
        "channel_order": "RGB",
        "size_multiple": str(multiple),
        "style": style,
        "source_checkpoint_sha256": source_checkpoint_sha256,
        "config": json.dumps(config or {}, sort_keys=True),
        "producer": f"{PRODUCER} (mindspore {ms.__version__}, onnx {onnx.__version__})",
        "precision": precision,
    }


def check_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx.checker (full) and strict shape inference; returns the model with inferred value_info."""
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the emitted graph is invalid: {str(e).strip().splitlines()[0]}") from None


def build_image_model(net: nn.Cell, metadata: dict[str, str], opset: int = DEFAULT_OPSET, precision: str = "fp32",
                      options: dict | None = None) -> onnx.ModelProto:
    """Trace an image-to-image generator into a checked ModelProto (no parity check, nothing written)."""
    if opset < 17 or opset > onnx.defs.onnx_opset_version():
        raise ExportError(f"opset {opset} is not supported: choose 17 to {onnx.defs.onnx_opset_version()}")
    net.set_train(False)
    graph = trace(net, [TensorSpec(INPUT_NAME, IMAGE_SHAPE)], [TensorSpec(OUTPUT_NAME, IMAGE_SHAPE)],
                  opset=opset, precision=precision, options=options)
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


@dataclass
class ExportResult:
    model: onnx.ModelProto
    parity: ParityReport
    path: Path | None = None


def prepare_generator(net: nn.Cell, *, family: str = "unknown", style: str = "unknown", config: dict | None = None,
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
    metadata = image_metadata(net, family=family, style=style, config=config,
                              source_checkpoint_sha256=source_checkpoint_sha256, precision=precision)
    model = build_image_model(net, metadata, opset=opset, precision=precision, options=options)
    multiple = int(metadata["size_multiple"])
    sizes = list(check_sizes) if check_sizes is not None else default_check_sizes(multiple)
    for h, w in sizes:
        if h % multiple or w % multiple:
            raise ExportError(f"parity size {h}x{w} is not a multiple of the generator's size_multiple {multiple}")
    feeds = image_feeds(INPUT_NAME, sizes, check_batches, seed=seed)
    parity = check_parity(net, model, feeds, tolerance, progress=progress)
    for (x_shape,), (y_shape, *_) in parity.shapes:
        if y_shape[:2] != x_shape[:2] or y_shape[2:] != x_shape[2:]:
            raise ExportError(f"input {x_shape} gave output {y_shape}: an image-to-image generator must return "
                              "[batch, 3, height, width] for inputs whose sides are multiples of size_multiple")
    set_metadata(model, {"parity_max_abs_diff": f"{parity.max_abs_diff:.3g}"})
    return ExportResult(model=model, parity=parity)


def export_generator(net: nn.Cell, path: str | os.PathLike, *, family: str = "unknown", style: str = "unknown",
                     config: dict | None = None, source_checkpoint_sha256: str = "", opset: int = DEFAULT_OPSET,
                     precision: str = "fp32", tolerance: float | None = None,
                     check_sizes: Sequence[tuple[int, int]] | None = None, check_batches: Sequence[int] = (1, 4),
                     options: dict | None = None, progress: bool = True) -> ExportResult:
    """Export an image-to-image generator to `path` after proving parity with MindSpore.

    Args:
        net: the generator with its final weights (put in inference mode here). Its class must define
            `size_multiple`.
        path: the .onnx file to write (atomically; nothing is written when any check fails).
        family, style, config, source_checkpoint_sha256: metadata for the runtime (config is stored as JSON).
        opset: ONNX opset, 17 or later. precision: "fp32" or "fp16" (fp16 compute, float32 input/output).
        tolerance: max |onnxruntime − MindSpore| allowed (default 1e-4 fp32, 2e-2 fp16).
        check_sizes, check_batches: parity inputs (default: two sizes from size_multiple, batch 1 and 4).
        options: emitter choices (converters.LAYER_NORM_PATTERNS). progress: show a tqdm bar.
    Returns:
        ExportResult with the model, its parity report and the written path.
    Raises:
        ExportError (UnsupportedCellError, ParityError, ...) with a one-line message.
    """
    result = prepare_generator(net, family=family, style=style, config=config,
                               source_checkpoint_sha256=source_checkpoint_sha256, opset=opset, precision=precision,
                               tolerance=tolerance, check_sizes=check_sizes, check_batches=check_batches,
                               options=options, progress=progress)
    result.path = write_model_atomic(result.model, path)
    return result

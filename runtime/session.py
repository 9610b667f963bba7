"""Open an ONNX generator with onnxruntime: provider, threads, and the pre/post-processing its metadata asks for.

Two kinds of model are understood:
- ours (written by `export/`): NCHW `[N,3,H,W]`, metadata_props say layout, value ranges, channel order, size multiple;
- the official AnimeGANv2/v3 tf2onnx files: NHWC `[1 or N,H,W,3]` in [-1,1] RGB with no metadata. Their layout is
  read from the input shape and the missing metadata gets `OFFICIAL_DEFAULTS` (multiple 8 suits v3 and v2).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runtime.errors import ConversionError

# --provider names → onnxruntime execution providers, in order of preference for "auto".
PROVIDERS = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}

# What a model without our metadata is assumed to want (the official tf2onnx AnimeGANv2/v3 contract).
OFFICIAL_DEFAULTS = {"input_range": "-1,1", "output_range": "-1,1", "channel_order": "RGB", "size_multiple": "8"}


@dataclass(frozen=True)
class ModelSpec:
    """How to feed a generator and read its output."""

    layout: str                          # "NCHW" or "NHWC"
    input_range: tuple[float, float]     # pixel 0 → first value, pixel 255 → second
    output_range: tuple[float, float]
    channel_order: str                   # "RGB" or "BGR"
    size_multiple: int                   # H and W must be multiples of this
    max_batch: int | None                # None when the batch dimension is dynamic
    family: str = "unknown"
    style: str = "unknown"
    has_metadata: bool = False


def _parse_range(key: str, text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConversionError(f"model metadata {key}={text!r} is not 'low,high'") from None
    if not lo < hi:
        raise ConversionError(f"model metadata {key}={text!r} must have low < high")
    return lo, hi


def _layout_from_shape(shape: list) -> str:
    """NHWC when the last dim is 3 (official tf2onnx files), NCHW when dim 1 is 3 (ours)."""
    if len(shape) != 4:
        raise ConversionError(f"model input has rank {len(shape)}; an image generator needs a rank-4 input")
    if shape[3] == 3:
        return "NHWC"
    if shape[1] == 3:
        return "NCHW"
    raise ConversionError(f"model input shape {shape} has no 3-channel axis at position 1 or 3")


def parse_spec(metadata: dict[str, str], input_shape: list) -> ModelSpec:
    """Build the ModelSpec from `metadata_props` and the input shape, filling gaps with OFFICIAL_DEFAULTS."""
    has_metadata = "layout" in metadata or "size_multiple" in metadata
    values = {**OFFICIAL_DEFAULTS, **metadata}
    shape_layout = _layout_from_shape(input_shape)
    layout = values.get("layout", shape_layout).upper()
    if layout not in ("NCHW", "NHWC"):
        raise ConversionError(f"model metadata layout={layout!r} is neither NCHW nor NHWC")
    if layout != shape_layout:
        raise ConversionError(f"model metadata says {layout} but its input shape {input_shape} is {shape_layout}")
    channel_order = values["channel_order"].upper()
    if channel_order not in ("RGB", "BGR"):
        raise ConversionError(f"model metadata channel_order={channel_order!r} is neither RGB nor BGR")
    try:
        multiple = int(values["size_multiple"])
    except ValueError:
        multiple = 0
    if multiple < 1:
        raise ConversionError(f"model metadata size_multiple={values['size_multiple']!r} is not a positive integer")
    spatial = input_shape[1:3] if layout == "NHWC" else input_shape[2:4]
    if any(isinstance(d, int) and d > 0 for d in spatial):
        raise ConversionError(f"model has a fixed input size {spatial}; only models with dynamic height and width "
                              "are supported")
    batch = input_shape[0]
    return ModelSpec(layout=layout, input_range=_parse_range("input_range", values["input_range"]),
                     output_range=_parse_range("output_range", values["output_range"]),
                     channel_order=channel_order, size_multiple=multiple,
                     max_batch=batch if isinstance(batch, int) and batch > 0 else None,
                     family=values.get("family", "unknown"), style=values.get("style", "unknown"),
                     has_metadata=has_metadata)


def choose_providers(requested: str = "auto", available: list[str] | None = None) -> list[str]:
    """Execution providers for `--provider` (auto: CUDA when onnxruntime offers it, else CPU)."""
    available = ort.get_available_providers() if available is None else available
    if requested == "auto":
        return [p for p in PROVIDERS.values() if p in available]
    if requested not in PROVIDERS:
        raise ConversionError(f"unknown provider {requested!r}; choose from auto, {', '.join(PROVIDERS)}")
    provider = PROVIDERS[requested]
    if provider not in available:
        raise ConversionError(f"provider {requested!r} is not available in this onnxruntime build "
                              f"(available: {', '.join(available)})")
    return [provider] if provider == PROVIDERS["cpu"] else [provider, PROVIDERS["cpu"]]


class ModelLoadError(ConversionError):
    """onnxruntime refused a model (not ONNX, unknown op, invalid graph); `reason` is its first line. Callers add
    which model it was (the runtime: the file; the export layer turns it into its ExportError)."""

    def __init__(self, reason: str):
        super().__init__(f"onnxruntime cannot load the model: {reason}")
        self.reason = reason


def make_session(model: str | Path | bytes | object, providers: list[str] | None = None, threads: int = 0,
                 spin: bool = True) -> ort.InferenceSession:
    """The one onnxruntime session factory (the runtime's CLIs, the tiling rewrite, the export's parity check).

    model: a path, serialized bytes, or anything with `SerializeToString()` (an onnx.ModelProto; duck-typed so the
    runtime needs no `onnx` import). providers: default CPU only. `threads`=0 lets onnxruntime pick; `spin`=False
    stops idle threads busy-waiting (they would steal the cores the video decoder and encoder, or whatever runs
    next, need). Raises ModelLoadError when onnxruntime cannot load it.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif isinstance(model, Path):
        model = str(model)
    try:
        return ort.InferenceSession(model, sess_options=options, providers=providers or [PROVIDERS["cpu"]])
    except Exception as exc:  # onnxruntime raises several unrelated types (Fail, InvalidGraph, ...) with long texts
        raise ModelLoadError(_first_line(exc)) from None


class Generator:
    """An image-to-image ONNX generator: uint8 RGB batches in, uint8 RGB batches out."""

    def __init__(self, path: str | Path, provider: str = "auto", threads: int = 0, spin: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise ConversionError(f"model not found: {self.path}")
        self.providers = choose_providers(provider)
        self.threads, self.spin = threads, spin
        try:
            self.session = make_session(self.path, self.providers, threads, spin)
        except ModelLoadError as exc:
            raise ConversionError(f"cannot load model {self.path}: {exc.reason}") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ConversionError(f"model {self.path} must have one image input (it has {len(inputs)})")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.spec = parse_spec(self.metadata, list(inputs[0].shape))

    @property
    def active_provider(self) -> str:
        """The provider onnxruntime actually uses (CUDA may fall back to CPU when its libraries are missing)."""
        return self.session.get_providers()[0]

    def describe(self) -> str:
        """One line for logs: what model, which layout, which provider."""
        source = "metadata" if self.spec.has_metadata else "no metadata: official-layout defaults"
        return (f"{self.path.name}: {self.spec.family}/{self.spec.style}, {self.spec.layout}, "
                f"size multiple {self.spec.size_multiple} ({source}), {self.active_provider}")

    # -- pre/post-processing ------------------------------------------------------------------------------------
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N,H,W,3] RGB → the model's input tensor (layout, channel order, value range)."""
        lo, hi = self.spec.input_range
        x = images.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        if self.spec.channel_order == "BGR":
            x = x[..., ::-1]
        if self.spec.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def decode(self, output: np.ndarray) -> np.ndarray:
        """The model's output tensor → uint8 [N,H,W,3] RGB."""
        if self.spec.layout == "NCHW":
            output = output.transpose(0, 2, 3, 1)
        if self.spec.channel_order == "BGR":
            output = output[..., ::-1]
        lo, hi = self.spec.output_range
        y = (np.clip(output, lo, hi) - lo) * np.float32(255.0 / (hi - lo))
        return np.rint(y).astype(np.uint8)

    def run_tensor(self, x: np.ndarray, session: ort.InferenceSession | None = None, extra: dict | None = None,
                   run_options: ort.RunOptions | None = None):
        """Run one already-encoded batch; returns all outputs. Checks the output keeps the input's shape."""
        session = session or self.session
        try:
            outputs = session.run(None, {self.input_name: x, **(extra or {})}, run_options)
        except Exception as exc:
            raise ConversionError(f"model {self.path.name} failed on input {list(x.shape)}: {_first_line(exc)}") \
                from None
        if outputs[0].shape != x.shape:
            raise ConversionError(f"model {self.path.name} returned shape {list(outputs[0].shape)} for input "
                                  f"{list(x.shape)}; is its size multiple ({self.spec.size_multiple}) right?")
        return outputs

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Stylise uint8 [N,H,W,3] whose H and W are already multiples of `spec.size_multiple`."""
        step = self.spec.max_batch or len(images)
        parts = [self.decode(self.run_tensor(self.encode(images[i:i + step]))[0])
                 for i in range(0, len(images), step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]

"""Open an ONNX model with onnxruntime: provider, threads, what its metadata says it is, and for image models the
pre/post-processing it asks for.

Three kinds of file are understood:
- ours with an `interface` (runtime/interface.py, JSON in metadata_props): task, ports and channels from it; image
  models (stylize/colorize) also carry the flat keys below, which must agree with it;
- ours from before interfaces: NCHW `[N,3,H,W]`, metadata_props say layout, value ranges, channel order, size
  multiple; read as a 3-channel stylize model (`task` image2image means stylize);
- the official AnimeGANv2/v3 tf2onnx files: NHWC `[1 or N,H,W,3]` in [-1,1] RGB with no metadata. Their layout is
  read from the input shape and the missing metadata gets `OFFICIAL_DEFAULTS` (multiple 8 suits v3 and v2).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime as ort

from runtime.errors import ConversionError
from runtime.imaging import luma8
from runtime.interface import (LEGACY_TASKS, MAX_SIZE_MULTIPLE, TASKS, Interface, InterfaceError, Port,
                               check_size_multiple, check_value_range, image_port)
from runtime.tasks import check_task

# --provider names → onnxruntime execution providers, in order of preference for "auto".
PROVIDERS = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}

# What a model without our metadata is assumed to want (the official tf2onnx AnimeGANv2/v3 contract).
OFFICIAL_DEFAULTS = {"input_range": "-1,1", "output_range": "-1,1", "channel_order": "RGB", "size_multiple": "8"}


@dataclass(frozen=True)
class ModelSpec:
    """How to feed an image generator and read its output."""

    layout: str                          # "NCHW" or "NHWC"
    input_range: tuple[float, float]     # pixel 0 → first value, pixel 255 → second
    output_range: tuple[float, float]
    channel_order: str                   # "RGB" or "BGR"
    size_multiple: int                   # H and W must be multiples of this
    max_batch: int | None                # None when the batch dimension is dynamic
    family: str = "unknown"
    style: str = "unknown"
    has_metadata: bool = False
    in_channels: int = 3                 # 1: the model takes luma; 3: RGB
    out_channels: int = 3                # 1: grey output, replicated to RGB


def _parse_range(key: str, text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConversionError(f"model metadata {key}={text!r} is not 'low,high'") from None
    try:
        return check_value_range(lo, hi, f"model metadata {key}")
    except InterfaceError as exc:
        raise ConversionError(str(exc)) from None


def _parse_multiple(text: str) -> int:
    try:
        return check_size_multiple(int(text))
    except (ValueError, InterfaceError):
        raise ConversionError(f"model metadata size_multiple={text!r} is not an integer in "
                              f"1..{MAX_SIZE_MULTIPLE}") from None


def _layout_from_shape(shape: list, channels: int = 3) -> str:
    """NHWC when the last dim is C (official tf2onnx files), NCHW when dim 1 is C (ours)."""
    if len(shape) != 4:
        raise ConversionError(f"model input has rank {len(shape)}; an image generator needs a rank-4 input")
    if shape[3] == channels:
        return "NHWC"
    if shape[1] == channels:
        return "NCHW"
    raise ConversionError(f"model input shape {shape} has no {channels}-channel axis at position 1 or 3")


def _image_ports(interface: Interface) -> tuple[Port, Port]:
    return interface.inputs_of("image")[0], interface.outputs[0]


def _declared_values(interface: Interface | None) -> dict[str, str]:
    """The flat metadata keys an interface implies, so a file with only `interface` needs no legacy keys."""
    if interface is None:
        return {}
    source, target = _image_ports(interface)
    return {"input_range": ",".join(map(repr, source.range)), "output_range": ",".join(map(repr, target.range)),
            "size_multiple": str(interface.size_multiple)}


def parse_spec(metadata: dict[str, str], input_shape: list, interface: Interface | None = None) -> ModelSpec:
    """Build the ModelSpec from `metadata_props` and the input shape. Values come from the flat keys, else the
    declared `interface` (an image-to-image one), else OFFICIAL_DEFAULTS; flat keys contradicting the interface
    are an error (a file that says two things cannot be fed right)."""
    has_metadata = "layout" in metadata or "size_multiple" in metadata or interface is not None
    declared = _declared_values(interface)
    values = {**OFFICIAL_DEFAULTS, **declared, **metadata}
    in_channels, out_channels = (3, 3) if interface is None else (p.channels for p in _image_ports(interface))
    shape_layout = _layout_from_shape(input_shape, in_channels)
    layout = values.get("layout", shape_layout).upper()
    if layout not in ("NCHW", "NHWC"):
        raise ConversionError(f"model metadata layout={layout!r} is neither NCHW nor NHWC")
    if layout != shape_layout:
        raise ConversionError(f"model metadata says {layout} but its input shape {input_shape} is {shape_layout}")
    channel_order = values["channel_order"].upper()
    if channel_order not in ("RGB", "BGR"):
        raise ConversionError(f"model metadata channel_order={channel_order!r} is neither RGB nor BGR")
    multiple = _parse_multiple(values["size_multiple"])
    ranges = {key: _parse_range(key, values[key]) for key in ("input_range", "output_range")}
    parsed = {**ranges, "size_multiple": multiple}
    for key, text in declared.items():
        want = _parse_multiple(text) if key == "size_multiple" else _parse_range(key, text)
        if parsed[key] != want:
            raise ConversionError(f"model metadata {key}={metadata[key]!r} disagrees with its interface ({text})")
    spatial = input_shape[1:3] if layout == "NHWC" else input_shape[2:4]
    if any(isinstance(d, int) and d > 0 for d in spatial):
        raise ConversionError(f"model has a fixed input size {spatial}; only models with dynamic height and width "
                              "are supported")
    batch = input_shape[0]
    return ModelSpec(layout=layout, input_range=ranges["input_range"], output_range=ranges["output_range"],
                     channel_order=channel_order, size_multiple=multiple,
                     max_batch=batch if isinstance(batch, int) and batch > 0 else None,
                     family=values.get("family", "unknown"), style=values.get("style", "unknown"),
                     has_metadata=has_metadata, in_channels=in_channels, out_channels=out_channels)


def legacy_task(metadata: dict[str, str]) -> str:
    """The task of a file without an `interface`: its `task` key (image2image → stylize), else stylize."""
    task = metadata.get("task", "stylize")
    task = LEGACY_TASKS.get(task, task)
    if task not in TASKS:
        raise ConversionError(f"model metadata task={task!r} is not one of {', '.join(TASKS)}")
    return task


def _check_port_shape(port: Port, shape: list) -> None:
    fixed = [(a, b) for a, b in zip(port.shape, shape) if isinstance(a, int) and isinstance(b, int)]
    if len(shape) != len(port.shape) or any(a != b for a, b in fixed):
        raise ConversionError(f"model graph tensor {port.name!r} has shape {shape}, but its interface says "
                              f"{list(port.shape)}")


def declared_interface(metadata: dict[str, str], inputs: list, outputs: list) -> Interface | None:
    """The `interface` stored in the metadata, checked against the graph (ports named like its inputs/outputs,
    ranks and fixed sizes equal, `task` key agreeing); None for files without one. inputs/outputs: onnxruntime
    NodeArgs (anything with `.name` and `.shape`)."""
    if "interface" not in metadata:
        return None
    try:
        interface = Interface.from_json(metadata["interface"], metadata)
    except InterfaceError as exc:
        raise ConversionError(f"model metadata interface: {exc}") from None
    if "task" in metadata and LEGACY_TASKS.get(metadata["task"], metadata["task"]) != interface.task:
        raise ConversionError(f"model metadata task={metadata['task']!r} disagrees with its interface "
                              f"(task {interface.task})")
    for what, ports, args in (("inputs", interface.inputs, inputs), ("outputs", interface.outputs, outputs)):
        if [p.name for p in ports] != [a.name for a in args]:
            raise ConversionError(f"model graph {what} {[a.name for a in args]} are not its interface's "
                                  f"{[p.name for p in ports]}")
        for port, arg in zip(ports, args):
            _check_port_shape(port, list(arg.shape))
    return interface


def legacy_interface(task: str, spec: ModelSpec, input_name: str, output_name: str) -> Interface:
    """What a file without an `interface` is read as: a 3-channel image-to-image model with its spec's ranges."""
    return Interface(task, (image_port(input_name, 3, spec.input_range),),
                     (image_port(output_name, 3, spec.output_range),), size_multiple=spec.size_multiple)


def require_finite(values: np.ndarray, source: str) -> np.ndarray:
    """`values` unchanged if every one is finite; else ConversionError: a NaN or infinite output would be
    clipped into a black or saturated picture and written as if it were a result."""
    if not np.isfinite(values).all():
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ConversionError(f"{source} returned values that are not finite ({bad} of {values.size} NaN or "
                              f"infinite); nothing was written for them (a broken or mis-exported model?)")
    return values


def to_pixels(values: np.ndarray, value_range: tuple[float, float], source: str = "the model") -> np.ndarray:
    """Model output [..., C] in `value_range` → uint8 [..., 3]: clipped, scaled, rounded; one channel is grey,
    replicated to RGB. Non-finite values are an error (require_finite)."""
    require_finite(values, source)
    lo, hi = value_range
    y = np.rint((np.clip(values, lo, hi) - lo) * np.float32(255.0 / (hi - lo))).astype(np.uint8)
    return np.repeat(y, 3, axis=-1) if y.shape[-1] == 1 else y


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


class OnnxModel:
    """An onnxruntime session on a model file, with its metadata and task read and checked against the runner.

    Subclasses set `runner` (a runner name in runtime/tasks.py): a model whose task another command runs is refused
    here with a one-line error naming that command, before anything else is read or run."""

    runner: ClassVar[str]

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
        self.graph_inputs, self.graph_outputs = self.session.get_inputs(), self.session.get_outputs()
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.interface: Interface | None = declared_interface(self.metadata, self.graph_inputs, self.graph_outputs)
        self.task = self.interface.task if self.interface is not None else legacy_task(self.metadata)
        check_task(self.path.name, self.task, self.runner)

    @property
    def active_provider(self) -> str:
        """The provider onnxruntime actually uses (CUDA may fall back to CPU when its libraries are missing)."""
        return self.session.get_providers()[0]


class Generator(OnnxModel):
    """An image-to-image ONNX generator (stylize, colorize): uint8 RGB batches in, uint8 RGB batches out.

    1-channel models are fed the image's luma and their 1-channel output is replicated to RGB, so every caller
    (Stylizer, photo and video conversion, tiling) keeps working on RGB."""

    runner = "image"

    def __init__(self, path: str | Path, provider: str = "auto", threads: int = 0, spin: bool = True):
        super().__init__(path, provider, threads, spin)
        inputs, outputs = self.graph_inputs, self.graph_outputs
        if len(inputs) != 1 or len(outputs) < 1:
            raise ConversionError(f"model {self.path} must have one image input (it has {len(inputs)})")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.spec = parse_spec(self.metadata, list(inputs[0].shape), self.interface)
        if self.interface is None:
            self.interface = legacy_interface(self.task, self.spec, self.input_name, self.output_name)

    def describe(self) -> str:
        """One line for logs: what model, which layout, which provider."""
        source = "metadata" if self.spec.has_metadata else "no metadata: official-layout defaults"
        channels = "" if (self.spec.in_channels, self.spec.out_channels) == (3, 3) else \
            f", {self.spec.in_channels}→{self.spec.out_channels} channels"
        return (f"{self.path.name}: {self.spec.family}/{self.spec.style}, {self.task}, {self.spec.layout}{channels}, "
                f"size multiple {self.spec.size_multiple} ({source}), {self.active_provider}")

    # -- pre/post-processing ------------------------------------------------------------------------------------
    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N,H,W,3] RGB → the model's input tensor (channels, layout, channel order, value range)."""
        if self.spec.in_channels == 1:
            images = luma8(images)[..., None]
        lo, hi = self.spec.input_range
        x = images.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        if self.spec.channel_order == "BGR" and self.spec.in_channels == 3:
            x = x[..., ::-1]
        if self.spec.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def decode(self, output: np.ndarray) -> np.ndarray:
        """The model's output tensor → uint8 [N,H,W,3] RGB."""
        if self.spec.layout == "NCHW":
            output = output.transpose(0, 2, 3, 1)
        if self.spec.channel_order == "BGR" and self.spec.out_channels == 3:
            output = output[..., ::-1]
        return to_pixels(output, self.spec.output_range)

    def _expected_output_shape(self, input_shape: tuple) -> tuple:
        """Same batch and sides as the input, the model's output channels."""
        axis = 1 if self.spec.layout == "NCHW" else 3
        return tuple(self.spec.out_channels if i == axis else d for i, d in enumerate(input_shape))

    def run_tensor(self, x: np.ndarray, session: ort.InferenceSession | None = None, extra: dict | None = None,
                   run_options: ort.RunOptions | None = None):
        """Run one already-encoded batch; returns all outputs. Checks the output keeps the input's size."""
        session = session or self.session
        try:
            outputs = session.run(None, {self.input_name: x, **(extra or {})}, run_options)
        except Exception as exc:
            raise ConversionError(f"model {self.path.name} failed on input {list(x.shape)}: {_first_line(exc)}") \
                from None
        if outputs[0].shape != self._expected_output_shape(x.shape):
            raise ConversionError(f"model {self.path.name} returned shape {list(outputs[0].shape)} for input "
                                  f"{list(x.shape)}; is its size multiple ({self.spec.size_multiple}) right?")
        require_finite(outputs[0], f"model {self.path.name}")
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

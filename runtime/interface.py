"""What an exported network takes and returns: the one contract between a network, the export layer and the runtime.

A network declares its `Interface` beside its class (`interface()`), the export layer traces the graph from it,
draws its parity inputs from it and stores it in the ONNX metadata (key `interface`, JSON), and the runtime reads it
back to decide what to feed and which command fits (`task`). It lives here, in the MindSpore-free runtime, because
all three use it and the runtime must install without MindSpore.

Tasks: `stylize` and `colorize` (one image in, one out), `sample` (noise and tags in, an image out), `predict`
(a frame, its manga page and optionally earlier frames in, the next frame out; runtime/predictor.py).

Port kinds:
- `image`: `[batch, C, height, width]` (or fixed sides), values in `range`, C = 1 (grey) or 3 (RGB);
- `noise`: `[batch, D]` latent drawn from N(0, 1);
- `onehot`: `[batch, K]`, one one-hot block per group (`groups`: (name, (value names...)) in order), K = their sum;
- `scalar`: a rank-0 float such as StyleGAN's `truncation_psi`, with a `default`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

from runtime.errors import UserError

TASKS = ("stylize", "colorize", "sample", "predict")
PORT_KINDS = ("image", "noise", "onehot", "scalar")
LEGACY_TASKS = {"image2image": "stylize"}  # files exported before tasks were named

Dim = int | str  # a fixed size, or a named dynamic axis ("batch", "height", "width")

# Bounds on what a model file may declare. Real networks stay far inside them; a foreign or damaged file beyond
# them would make the runtime pad images to gigapixels, allocate gigabyte latents, or scale pixels by 0 (a
# black image with exit 0), so it is refused on load instead.
MAX_SIZE_MULTIPLE = 1024
MAX_FEATURES = 1 << 16       # noise / one-hot widths (StyleGAN's z is 512)
MAX_SIDE = 1 << 15           # fixed image sides
MAX_ABS_VALUE = 1e6          # value ranges and scalar defaults


def check_value_range(low: float, high: float, what: str) -> tuple[float, float]:
    """A (low, high) value range: finite, within ±MAX_ABS_VALUE, low < high; InterfaceError naming `what`."""
    if not (math.isfinite(low) and math.isfinite(high)) or max(abs(low), abs(high)) > MAX_ABS_VALUE:
        raise InterfaceError(f"{what} ({low:g}, {high:g}) must be finite numbers within ±{MAX_ABS_VALUE:g}")
    if not low < high:
        raise InterfaceError(f"{what} ({low:g}, {high:g}) must have low < high")
    return low, high


def check_size_multiple(value, what: str = "size_multiple") -> int:
    """A positive int no larger than MAX_SIZE_MULTIPLE."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE_MULTIPLE:
        raise InterfaceError(f"{what} must be an integer in 1..{MAX_SIZE_MULTIPLE}, got {value!r}")
    return value


class InterfaceError(UserError, ValueError):
    """An interface (declared by a network or read from a model file) is inconsistent; the message says how."""


@dataclass(frozen=True)
class Port:
    """One input or output tensor of an exported network."""

    name: str
    kind: str
    shape: tuple[Dim, ...]
    range: tuple[float, float] | None = None
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    default: float | None = None
    dtype: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))
        object.__setattr__(self, "groups", tuple((str(g), tuple(map(str, v))) for g, v in self.groups))
        if self.range is not None:
            object.__setattr__(self, "range", (float(self.range[0]), float(self.range[1])))
        if self.kind not in PORT_KINDS:
            raise InterfaceError(f"port {self.name!r}: unknown kind {self.kind!r} (one of {', '.join(PORT_KINDS)})")
        if self.dtype != "float32":
            raise InterfaceError(f"port {self.name!r}: dtype {self.dtype!r}; only float32 ports are supported")
        if self.range is not None:
            check_value_range(*self.range, f"port {self.name!r}: range")
        expected_rank = {"image": 4, "noise": 2, "onehot": 2, "scalar": 0}[self.kind]
        if len(self.shape) != expected_rank:
            raise InterfaceError(f"port {self.name!r}: a {self.kind} port has rank {expected_rank}, got shape "
                                 f"{list(self.shape)}")
        if self.kind == "image":
            if self.channels not in (1, 3):
                raise InterfaceError(f"port {self.name!r}: images have 1 or 3 channels, got {self.shape[1]!r}")
            if self.range is None:
                raise InterfaceError(f"port {self.name!r}: an image port needs its value range")
        if self.kind in ("noise", "onehot") and not (isinstance(self.shape[1], int) and
                                                    0 < self.shape[1] <= MAX_FEATURES):
            raise InterfaceError(f"port {self.name!r}: the feature size must be a fixed int in 1..{MAX_FEATURES}, "
                                 f"got {self.shape[1]!r}")
        if self.kind == "image" and any(isinstance(d, int) and not 0 < d <= MAX_SIDE for d in self.shape[2:]):
            raise InterfaceError(f"port {self.name!r}: fixed image sides must be in 1..{MAX_SIDE}, got "
                                 f"{list(self.shape[2:])}")
        if self.kind == "onehot":
            if not self.groups or any(not values for _, values in self.groups):
                raise InterfaceError(f"port {self.name!r}: a onehot port names its groups and their values")
            if sum(len(v) for _, v in self.groups) != self.shape[1]:
                raise InterfaceError(f"port {self.name!r}: groups hold {sum(len(v) for _, v in self.groups)} "
                                     f"values but the port is {self.shape[1]} wide")
        if self.kind == "scalar" and self.default is None:
            raise InterfaceError(f"port {self.name!r}: a scalar port needs a default value")
        if self.default is not None and not (math.isfinite(self.default) and abs(self.default) <= MAX_ABS_VALUE):
            raise InterfaceError(f"port {self.name!r}: default {self.default!r} must be a finite number within "
                                 f"±{MAX_ABS_VALUE:g}")

    @property
    def channels(self) -> int | None:
        """C of an image port."""
        return self.shape[1] if self.kind == "image" else None

    @property
    def width(self) -> int | None:
        """D (noise) or K (onehot)."""
        return self.shape[1] if self.kind in ("noise", "onehot") else None

    def to_json(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "shape": list(self.shape), "dtype": self.dtype}
        if self.range is not None:
            out["range"] = list(self.range)
        if self.groups:
            out["groups"] = [[g, list(v)] for g, v in self.groups]
        if self.default is not None:
            out["default"] = self.default
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Port":
        try:
            return cls(name=str(data["name"]), kind=str(data["kind"]), shape=tuple(data["shape"]),
                       range=tuple(data["range"]) if data.get("range") is not None else None,
                       groups=tuple((g, tuple(v)) for g, v in data.get("groups", ())),
                       default=float(data["default"]) if data.get("default") is not None else None,
                       dtype=str(data.get("dtype", "float32")))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InterfaceError):
                raise
            raise InterfaceError(f"malformed port description {data!r}: {exc}") from None


@dataclass(frozen=True)
class Interface:
    """A network's task and ports. `size_multiple`: image inputs' H and W must be multiples of it."""

    task: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    size_multiple: int = 1
    metadata: dict = field(default_factory=dict)  # extra metadata_props (strings), e.g. tag names

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.task not in TASKS:
            raise InterfaceError(f"unknown task {self.task!r} (one of {', '.join(TASKS)})")
        if not self.inputs or not self.outputs:
            raise InterfaceError("an interface needs at least one input and one output")
        names = [p.name for p in self.inputs + self.outputs]
        if len(set(names)) != len(names):
            raise InterfaceError(f"port names must be unique, got {names}")
        check_size_multiple(self.size_multiple)
        images_in = [p for p in self.inputs if p.kind == "image"]
        if self.task in ("stylize", "colorize") and (len(images_in) != 1 or self.outputs[0].kind != "image"):
            raise InterfaceError(f"a {self.task} network takes one image and returns an image")
        if self.task == "sample" and (images_in or self.outputs[0].kind != "image"):
            raise InterfaceError("a sample network takes no image input and returns an image")
        if self.task == "predict" and (len(images_in) < 2 or self.outputs[0].kind != "image"):
            raise InterfaceError("a predict network takes two or more images (the current frame first, then its "
                                 "page, ...) and returns an image (the next frame)")

    def port(self, name: str) -> Port:
        for p in self.inputs + self.outputs:
            if p.name == name:
                return p
        raise InterfaceError(f"no port named {name!r}")

    def inputs_of(self, kind: str) -> list[Port]:
        return [p for p in self.inputs if p.kind == kind]

    def to_json(self) -> str:
        return json.dumps({"task": self.task, "size_multiple": self.size_multiple,
                           "inputs": [p.to_json() for p in self.inputs],
                           "outputs": [p.to_json() for p in self.outputs]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, metadata: dict | None = None) -> "Interface":
        try:
            data = json.loads(text)
            task = LEGACY_TASKS.get(data["task"], data["task"])
            multiple = data.get("size_multiple", 1)
            if isinstance(multiple, str) or (isinstance(multiple, float) and multiple.is_integer()):
                multiple = int(multiple)  # "4" and 4.0 mean 4; anything else is checked as it is
            return cls(task=task, size_multiple=multiple,
                       inputs=tuple(Port.from_json(p) for p in data["inputs"]),
                       outputs=tuple(Port.from_json(p) for p in data["outputs"]), metadata=dict(metadata or {}))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InterfaceError):
                raise
            raise InterfaceError(f"malformed interface metadata: {exc}") from None


def image_port(name: str, channels: int = 3, range_: tuple[float, float] = (-1.0, 1.0)) -> Port:
    """`[batch, channels, height, width]` with dynamic sides."""
    return Port(name, "image", ("batch", channels, "height", "width"), range=range_)


def image_to_image(task: str = "stylize", in_channels: int = 3, out_channels: int = 3, size_multiple: int = 1,
                   input_name: str = "input", output_name: str = "output") -> Interface:
    """The interface of a same-size image-to-image generator (AnimeGANv2, pix2pix, CycleGAN, ...)."""
    return Interface(task, (image_port(input_name, in_channels),), (image_port(output_name, out_channels),),
                     size_multiple=size_multiple)


def interface_of(net, task: str | None = None) -> Interface:
    """A network's declared Interface (`net.interface()`), or, for an image-to-image network that only declares an
    integer `size_multiple` class attribute (as AnimeGANv2 first did), a 3-channel stylizer. `task` replaces the
    declared task (a family knows that its U-Net colourises). Works on any object: no MindSpore import here."""
    declare = getattr(net, "interface", None)
    if callable(declare):
        spec = declare()
    else:
        multiple = getattr(type(net), "size_multiple", None)
        if not isinstance(multiple, int) or multiple < 1:
            raise InterfaceError(f"{type(net).__name__} declares neither interface() nor an integer "
                                 "`size_multiple`; the export needs to know its inputs")
        spec = image_to_image("stylize", size_multiple=multiple)
    return replace(spec, task=task) if task else spec

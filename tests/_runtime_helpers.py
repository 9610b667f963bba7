"""Small ONNX generators, images and videos for the runtime tests and the runtime benchmark.

The models are built with `onnx.helper` and random weights; they follow the model contract of the export
layer (input `input` [N,3,H,W] NCHW in [-1,1], output `output` of the same shape, `metadata_props`) or, for
the NHWC variants, the layout of the official tf2onnx AnimeGANv2/v3 files (no metadata). The channel models and
the toy sampler carry an `interface` (runtime/interface.py) as the export layer writes it (`interface_metadata`).
"""
from __future__ import annotations

import fractions
import json
from pathlib import Path

import av
import numpy as np

# `onnx` is imported inside the functions below, not here: with protobuf 7, importing onnx before mindspore makes
# MindSpore's import fail, and collecting these tests must not break other test modules that import MindSpore.
OPSET = 17


def contract_metadata(size_multiple: int = 4, **overrides) -> dict[str, str]:
    """Metadata exactly as the export layer writes it (all values are strings)."""
    meta = {
        "family": "animeganv2", "task": "image2image", "layout": "NCHW", "input_range": "-1,1",
        "output_range": "-1,1", "channel_order": "RGB", "size_multiple": str(size_multiple), "style": "Toy",
        "source_checkpoint_sha256": "0" * 64, "config": json.dumps({"generator": {"width": "toy"}}),
        "producer": "tests/_runtime_helpers.py",
    }
    meta.update({k: str(v) for k, v in overrides.items()})
    return meta


class GraphBuilder:
    """Appends nodes and random initializers; every tensor gets a fresh unique name.

    norm: "reduce_mean" (the literal formula, as tf2onnx and our "primitive" export write layer norm) or
    "instance_norm" (Reshape → InstanceNormalization → Reshape, our exporter's default). half: compute in
    float16 between a Cast at each end, like `export/to_onnx.py --fp16`.
    """

    def __init__(self, seed: int = 0, norm: str = "reduce_mean", half: bool = False):
        self.nodes: list = []
        self.initializers: list = []
        self.rng = np.random.default_rng(seed)
        self.norm, self.half = norm, half
        self.float = np.float16 if half else np.float32
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, array: np.ndarray, prefix: str = "const") -> str:
        from onnx import numpy_helper

        name = self._name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def reflect_pad(self, x: str, top: int, left: int, bottom: int, right: int) -> str:
        pads = self.const(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64), "pads")
        return self.op("Pad", [x, pads], mode="reflect")

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, bias: bool = False) -> str:
        """TF-style padded conv: reflect pad k//2 (stride 1) or bottom/right by 1 (stride 2), then VALID."""
        if k > 1:
            x = self.reflect_pad(x, k // 2, k // 2, k // 2, k // 2) if stride == 1 else self.reflect_pad(x, 0, 0, 1, 1)
        fan_in = cin // groups * k * k
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (cout, cin // groups, k, k)).astype(self.float)
        inputs = [x, self.const(w, "w")]
        if bias:
            inputs.append(self.const(self.rng.normal(0, 0.1, cout).astype(self.float), "b"))
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], group=groups)

    def layer_norm(self, x: str, channels: int, eps: float = 1e-5) -> str:
        """Layer norm over (C,H,W) with per-channel affine, in either of the exporter's two spellings."""
        if self.norm == "instance_norm":
            flat = self.op("Reshape", [x, self.const(np.array([0, 1, -1], np.int64), "flat")])
            normed = self.op("InstanceNormalization", [flat, self.const(np.ones(1, self.float), "one"),
                                                       self.const(np.zeros(1, self.float), "zero")], epsilon=eps)
            normed = self.op("Reshape", [normed, self.op("Shape", [x])])
        else:
            mean = self.op("ReduceMean", [x], axes=[1, 2, 3], keepdims=1)
            centred = self.op("Sub", [x, mean])
            var = self.op("ReduceMean", [self.op("Mul", [centred, centred])], axes=[1, 2, 3], keepdims=1)
            std = self.op("Sqrt", [self.op("Add", [var, self.const(np.array(eps, self.float), "eps")])])
            normed = self.op("Div", [centred, std])
        gamma = (1.0 + self.rng.normal(0, 0.1, (1, channels, 1, 1))).astype(self.float)
        beta = self.rng.normal(0, 0.1, (1, channels, 1, 1)).astype(self.float)
        return self.op("Add", [self.op("Mul", [normed, self.const(gamma, "gamma")]), self.const(beta, "beta")])

    def lrelu(self, x: str) -> str:
        return self.op("LeakyRelu", [x], alpha=0.2)

    def conv_norm_lrelu(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1) -> str:
        return self.lrelu(self.layer_norm(self.conv(x, cin, cout, k, stride), cout))

    def upsample2x(self, x: str) -> str:
        """Bilinear x2 with TF1's 'asymmetric' coordinates, as AnimeGANv2 uses."""
        scales = self.const(np.array([1, 1, 2, 2], np.float32), "scales")  # float32 even in half graphs
        return self.op("Resize", [x, "", scales], mode="linear", coordinate_transformation_mode="asymmetric")

    def inverted_residual(self, x: str, cin: int, cout: int, expansion: int = 2) -> str:
        mid = cin * expansion
        y = self.conv_norm_lrelu(x, cin, mid, k=1)
        y = self.lrelu(self.layer_norm(self.conv(y, mid, mid, 3, groups=mid, bias=True), mid))
        y = self.layer_norm(self.conv(y, mid, cout, 1), cout)
        return self.op("Add", [x, y]) if cin == cout else y


def _save(builder: GraphBuilder, x_in: str, y_out: str, path: Path, layout: str, metadata: dict | None,
          batch: int | str) -> Path:
    """Wrap the NCHW body in the requested outer layout and write the model."""
    import onnx
    from onnx import TensorProto, helper

    nodes = list(builder.nodes)
    if builder.half:  # float32 at the interface, float16 inside
        nodes = [helper.make_node("Cast", [x_in + "_f32"], [x_in], to=TensorProto.FLOAT16), *nodes,
                 helper.make_node("Cast", [y_out], [y_out + "_f32"], to=TensorProto.FLOAT)]
        x_in, y_out = x_in + "_f32", y_out + "_f32"
    if layout == "NHWC":
        # The official tf2onnx files take [N,H,W,3]; emulate them with Transposes at both ends.
        in_shape = [batch, "height", "width", 3]
        first = helper.make_node("Transpose", ["input"], [x_in], perm=[0, 3, 1, 2])
        last = helper.make_node("Transpose", [y_out], ["output"], perm=[0, 2, 3, 1])
    else:
        in_shape, first = [batch, 3, "height", "width"], helper.make_node("Identity", ["input"], [x_in])
        last = helper.make_node("Identity", [y_out], ["output"])
    graph = helper.make_graph(
        [first, *nodes, last], "generator",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, in_shape)],
        builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="runtime-tests")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def build_toy_generator(path, seed: int = 0, channels: int = 8, layout: str = "NCHW", metadata: dict | None = None,
                        batch: int | str = "batch", norm: str = "reduce_mean", half: bool = False) -> Path:
    """AnimeGANv2-like toy: reflect Pad → Conv → LN(C,H,W) → LeakyReLU → stride-2 conv → Resize x2 → Conv
    → Tanh (each 3×3/7×7 conv followed by LN and LeakyReLU).

    With `metadata=None` and layout NCHW the contract metadata is attached; pass `{}` for none.
    """
    if metadata is None:
        metadata = contract_metadata(size_multiple=4) if layout == "NCHW" else {}
    b = GraphBuilder(seed, norm=norm, half=half)
    y = b.conv_norm_lrelu("x_nchw", 3, channels, k=7)
    y = b.conv_norm_lrelu(y, channels, channels, k=3, stride=2)
    y = b.upsample2x(y)
    y = b.conv_norm_lrelu(y, channels, channels, k=3)
    y = b.op("Tanh", [b.conv(y, channels, 3, 1)])
    return _save(b, "x_nchw", y, path, layout, metadata, batch)


def build_animeganv2_generator(path, width: float = 1.0, seed: int = 0, layout: str = "NCHW",
                               metadata: dict | None = None, batch: int | str = "batch",
                               norm: str = "reduce_mean") -> Path:
    """The AnimeGANv2 generator topology (TF G_net, blocks A–E) with random weights; width scales channels.

    At width 1.0 it has the official 2,143,552 parameters and the same compute as the real network, so it gives
    representative speed and memory figures before a trained export exists.
    """
    if metadata is None:
        metadata = contract_metadata(size_multiple=4) if layout == "NCHW" else {}
    c32, c64, c128, c256 = (max(1, int(round(c * width))) for c in (32, 64, 128, 256))
    b = GraphBuilder(seed, norm=norm)
    y = b.conv_norm_lrelu("x_nchw", 3, c32, k=7)                       # block A
    y = b.conv_norm_lrelu(y, c32, c64, stride=2)
    y = b.conv_norm_lrelu(y, c64, c64)
    y = b.conv_norm_lrelu(y, c64, c128, stride=2)                      # block B
    y = b.conv_norm_lrelu(y, c128, c128)
    y = b.conv_norm_lrelu(y, c128, c128)                               # block C
    y = b.inverted_residual(y, c128, c256)
    for _ in range(3):
        y = b.inverted_residual(y, c256, c256)
    y = b.conv_norm_lrelu(y, c256, c128)
    y = b.conv_norm_lrelu(b.upsample2x(y), c128, c128)                 # block D
    y = b.conv_norm_lrelu(y, c128, c128)
    y = b.conv_norm_lrelu(b.upsample2x(y), c128, c64)                  # block E
    y = b.conv_norm_lrelu(y, c64, c64)
    y = b.conv_norm_lrelu(y, c64, c32, k=7)
    y = b.op("Tanh", [b.conv(y, c32, 3, 1)])                           # out_layer
    return _save(b, "x_nchw", y, path, layout, metadata, batch)


def build_identity_model(path, layout: str = "NCHW", metadata: dict | None = None, batch: int | str = "batch",
                         flip_channels: bool = False) -> Path:
    """output = input (or its channels reversed): makes geometry, orientation and timing exactly checkable."""
    if metadata is None:
        metadata = contract_metadata(size_multiple=4) if layout == "NCHW" else {}
    b = GraphBuilder(0)
    if flip_channels:
        y = b.op("Slice", ["x_nchw", b.const(np.array([2], np.int64)), b.const(np.array([-4], np.int64)),
                           b.const(np.array([1], np.int64)), b.const(np.array([-1], np.int64))])
    else:
        y = b.op("Identity", ["x_nchw"])
    return _save(b, "x_nchw", y, path, layout, metadata, batch)


def interface_metadata(interface, **overrides) -> dict[str, str]:
    """Metadata as the export layer writes it for a network with an Interface: `task`, `interface` (JSON) and, for
    image models, the flat keys the runtime read before interfaces existed."""
    meta = {"task": interface.task, "interface": interface.to_json(), "family": "toy", "style": "Toy",
            "network": "G_ema", "producer": "tests/_runtime_helpers.py"}
    images = interface.inputs_of("image")
    if images:
        source, target = images[0], interface.outputs[0]
        meta.update({"layout": "NCHW", "channel_order": "RGB", "size_multiple": str(interface.size_multiple),
                     "input_range": "{:g},{:g}".format(*source.range),
                     "output_range": "{:g},{:g}".format(*target.range)})
    meta.update({k: str(v) for k, v in overrides.items()})
    return meta


def _write_model(builder: GraphBuilder, inputs: list, outputs: list, path, metadata: dict) -> Path:
    """inputs/outputs: (name, shape) of float32 graph tensors; nodes and weights from `builder`."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(builder.nodes, "toy",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="runtime-tests")
    model.ir_version = 8
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def build_channel_model(path, in_channels: int, out_channels: int, task: str = "stylize",
                        metadata: dict | None = None) -> Path:
    """A 1- or 3-channel image model whose output shows exactly what it was fed: 1→3 replicates the grey input
    into R, G and B; 3→1 returns the G channel; 1→1 and 3→3 are the identity. Size multiple 4."""
    from onnx import helper

    from runtime.interface import image_to_image

    b = GraphBuilder(0)
    if (in_channels, out_channels) == (1, 3):
        y = b.op("Concat", ["input", "input", "input"], axis=1)
    elif (in_channels, out_channels) == (3, 1):
        y = b.op("Slice", ["input", b.const(np.array([1], np.int64)), b.const(np.array([2], np.int64)),
                           b.const(np.array([1], np.int64))])
    else:
        y = b.op("Identity", ["input"])
    b.nodes.append(helper.make_node("Identity", [y], ["output"]))
    interface = image_to_image(task, in_channels=in_channels, out_channels=out_channels, size_multiple=4)
    return _write_model(b, [("input", ["batch", in_channels, "height", "width"])],
                        [("output", ["batch", out_channels, "height", "width"])], path,
                        interface_metadata(interface) if metadata is None else metadata)


TOY_TAG_GROUPS = (("hair", ("orange", "white", "aqua")), ("eye", ("black", "blue")))


def toy_sampler_interface(z_dim: int = 8, tags: bool = True, psi: bool = True, channels: int = 3, size: int = 8,
                          output_range: tuple[float, float] = (-1.0, 1.0)):
    from runtime.interface import Interface, Port

    inputs = [Port("z", "noise", ("batch", z_dim))]
    if tags:
        inputs.append(Port("tags", "onehot", ("batch", 5), groups=TOY_TAG_GROUPS))
    if psi:
        inputs.append(Port("truncation_psi", "scalar", (), default=0.7))
    return Interface("sample", tuple(inputs), (Port("image", "image", ("batch", channels, size, size),
                                                    range=output_range),))


def build_toy_sampler(path, seed: int = 0, z_dim: int = 8, tags: bool = True, psi: bool = True, channels: int = 3,
                      size: int = 8, output_range: tuple[float, float] = (-1.0, 1.0),
                      metadata: dict | None = None) -> Path:
    """ACGAN-like toy: Concat(z, tags) → Gemm → Mul(truncation_psi) → Reshape [N,C,size,size] → Tanh (→ scaled
    to `output_range`) → `image`; tags are hair (3 values) and eye (2 values). Without tags/psi those inputs and
    ops are left out."""
    from onnx import helper

    interface = toy_sampler_interface(z_dim, tags, psi, channels, size, output_range)
    b = GraphBuilder(seed)
    x = b.op("Concat", ["z", "tags"], axis=1) if tags else "z"
    features = z_dim + (5 if tags else 0)
    w = b.rng.normal(0.0, 1.5 / np.sqrt(features), (features, channels * size * size)).astype(np.float32)
    y = b.op("Gemm", [x, b.const(w, "w"), b.const(b.rng.normal(0, 0.1, channels * size * size).astype(np.float32),
                                                      "b")])
    if psi:
        y = b.op("Mul", [y, "truncation_psi"])
    y = b.op("Tanh", [b.op("Reshape", [y, b.const(np.array([-1, channels, size, size], np.int64), "shape")])])
    lo, hi = output_range
    if (lo, hi) != (-1.0, 1.0):
        y = b.op("Add", [b.op("Mul", [y, b.const(np.array((hi - lo) / 2, np.float32))]),
                         b.const(np.array((hi + lo) / 2, np.float32))])
    b.nodes.append(helper.make_node("Identity", [y], ["image"]))
    inputs = [("z", ["batch", z_dim])] + ([("tags", ["batch", 5])] if tags else []) + \
        ([("truncation_psi", [])] if psi else [])
    return _write_model(b, inputs, [("image", ["batch", channels, size, size])], path,
                        interface_metadata(interface) if metadata is None else metadata)


def count_parameters(path) -> int:
    """Trainable-parameter count of a built generator (weights, biases, LN gamma/beta)."""
    import onnx

    model = onnx.load(str(path))
    prefixes = ("w_", "b_", "gamma_", "beta_")
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.name.startswith(prefixes))


# ---------------------------------------------------------------------------------------------------------------
# Images and videos


def photo(height: int, width: int, name: str = "astronaut") -> np.ndarray:
    """A real photo from scikit-image resized to (height, width), RGB uint8."""
    from PIL import Image
    import skimage.data

    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC))


def pattern_frame(index: int, height: int, width: int) -> np.ndarray:
    """An orientation-revealing frame: gradients, a bright top-left block and a frame-index bar."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                      np.full_like(xx, (index * 37) % 256)], axis=-1).astype(np.uint8)
    frame[: height // 3, : width // 3] = 255
    return frame


def write_test_video(path, frame_times: list[float] | None = None, n_frames: int = 12, fps=24, size=(64, 48),
                     audio_codec: str | None = "aac", audio_seconds: float | None = None, rotation: int = 0,
                     time_base=fractions.Fraction(1, 90000), container_format: str | None = None,
                     bt709: bool = False) -> dict:
    """Write a small H.264 test video; `frame_times` (seconds) gives variable frame rate.

    Returns what was written: the frame times, the frames and the audio samples (float32 [channels, n]).
    """
    width, height = size
    if frame_times is None:
        frame_times = [i / float(fps) for i in range(n_frames)]
    out = av.open(str(path), "w", format=container_format)
    stream = out.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(100000))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    stream.options = {"crf": "18", "preset": "ultrafast"}
    if rotation:
        stream.set_display_rotation(rotation)
    if bt709:  # HD-style colour: BT.709 matrix, primaries and transfer, tagged in the stream
        stream.codec_context.colorspace = 1
        stream.codec_context.color_primaries = stream.codec_context.color_trc = 1
        stream.codec_context.color_range = 1
    audio = None
    sample_rate = 48000
    if audio_codec:
        audio = out.add_stream(audio_codec, rate=sample_rate, layout="stereo")
    frames = []
    for i, t in enumerate(frame_times):
        image = pattern_frame(i, height, width)
        frames.append(image)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if bt709:
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts, frame.time_base = int(round(t / time_base)), time_base
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    samples = None
    if audio is not None:
        seconds = audio_seconds if audio_seconds is not None else frame_times[-1] + 1.0 / fps
        n = int(round(seconds * sample_rate))
        t = np.arange(n) / sample_rate
        samples = (0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)])).astype(np.float32)
        fmt = audio.codec_context.format.name
        step = audio.codec_context.frame_size or 1024
        for pos in range(0, n, step):
            chunk = samples[:, pos:pos + step]
            if fmt == "fltp":
                aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
            else:  # s16 interleaved (pcm)
                inter = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
                aframe = av.AudioFrame.from_ndarray(inter, format="s16", layout="stereo")
            aframe.sample_rate, aframe.pts, aframe.time_base = sample_rate, pos, fractions.Fraction(1, sample_rate)
            for packet in audio.encode(aframe):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    out.close()
    return {"frame_times": frame_times, "frames": frames, "audio": samples, "sample_rate": sample_rate}


def read_video(path) -> dict:
    """Decode a whole video: frames (RGB uint8, as stored), their times in seconds, rotation, audio samples."""
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        frames, times, rotation = [], [], 0
        for frame in container.decode(vstream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.pts * frame.time_base))
            rotation = frame.rotation
    audio, audio_codec, sample_rate = None, None, None
    with av.open(str(path)) as container:
        if container.streams.audio:
            astream = container.streams.audio[0]
            audio_codec, sample_rate = astream.codec_context.name, astream.codec_context.sample_rate
            chunks = [f.to_ndarray().reshape(len(f.layout.channels), -1) if f.format.is_planar
                      else f.to_ndarray().reshape(-1, len(f.layout.channels)).T for f in container.decode(astream)]
            audio = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)
    return {"frames": frames, "times": times, "rotation": rotation, "audio": audio,
            "audio_codec": audio_codec, "sample_rate": sample_rate}

"""Video in and out: lazy, exactly indexed frame access through pims, and re-muxing/re-encoding through PyAV.

PyAV bundles its own libav, so nothing here needs the ffmpeg command-line tool.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pims
from tqdm import tqdm

from datasets.manganime.atomic import atomic_path
from datasets.manganime.errors import ManganimeError

# Decoding libraries raise many types for bad data; all of them mean "this file is not a readable video".
_DECODE_ERRORS = (av.FFmpegError, IndexError, ValueError, OSError, EOFError, RuntimeError)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _IndexedReader(pims.PyAVReaderIndexed):
    """pims' indexed PyAV reader, minus the noisy `__del__` failure when the constructor itself failed."""

    def __del__(self):
        if getattr(self, "_container", None) is not None:
            self._container.close()


class VideoFrames:
    """A video as a lazy sequence of RGB uint8 frames (H×W×3), indexed exactly by decode order.

    pims' PyAVReaderIndexed builds a packet table of contents once (one decode pass), then serves any frame by
    seeking to its packet, so random access is exact (timestamp-based readers can be off by a frame) and
    in-order access decodes each packet once.
    """

    def __init__(self, path):
        """Open `path` (ManganimeError with a one-line reason when it is missing or not a readable video)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise ManganimeError(f"{self.path}: video file not found")
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise ManganimeError(f"{self.path}: no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
            self._reader = _IndexedReader(str(self.path))
        except _DECODE_ERRORS as exc:
            raise ManganimeError(f"{self.path}: cannot read video ({_one_line(exc)})") from None
        if rate is None or rate <= 0:
            raise ManganimeError(f"{self.path}: video has no frame rate")
        self.fps = float(rate)
        if len(self._reader) == 0:
            raise ManganimeError(f"{self.path}: video has no frames")

    def __len__(self) -> int:
        return int(len(self._reader))

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(height, width, 3) of every frame."""
        return tuple(int(v) for v in self._reader.frame_shape)

    def __getitem__(self, index: int) -> np.ndarray:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        try:
            return np.asarray(self._reader[index % n])
        except _DECODE_ERRORS as exc:
            raise ManganimeError(f"{self.path}: cannot decode frame {index} ({_one_line(exc)})") from None

    def frames(self, start: int = 0, stop: int | None = None, desc: str | None = None):
        """Yield (index, frame) for start <= index < stop in order, with a progress bar when `desc` is given."""
        stop = len(self) if stop is None else min(stop, len(self))
        indices = range(max(0, start), stop)
        if desc is not None:
            indices = tqdm(indices, desc=desc, unit="frame", leave=False)
        for i in indices:
            yield i, self[i]


# ---------------------------------------------------------------------------------------------------------
# writing

@dataclass(frozen=True)
class ContainerSpec:
    """What a container accepts: its libav muxer, default encoders, and codecs that can be stream-copied."""
    muxer: str
    video_encoder: str
    audio_encoder: str
    video_copy: frozenset | None  # None: the container takes any codec
    audio_copy: frozenset | None


_MP4_VIDEO = frozenset({"h264", "hevc", "mpeg4", "av1", "vp9", "mjpeg"})
_MP4_AUDIO = frozenset({"aac", "mp3", "opus", "alac", "ac3", "eac3", "flac"})

CONTAINERS = {
    "mp4": ContainerSpec("mp4", "libx264", "aac", _MP4_VIDEO, _MP4_AUDIO),
    "m4v": ContainerSpec("mp4", "libx264", "aac", _MP4_VIDEO, _MP4_AUDIO),
    "mov": ContainerSpec("mov", "libx264", "aac", _MP4_VIDEO | {"prores", "png"}, _MP4_AUDIO | {"pcm_s16le"}),
    "mkv": ContainerSpec("matroska", "libx264", "aac", None, None),
    "webm": ContainerSpec("webm", "libvpx-vp9", "libopus", frozenset({"vp8", "vp9", "av1"}),
                          frozenset({"opus", "vorbis"})),
    "avi": ContainerSpec("avi", "mpeg4", "libmp3lame", frozenset({"mpeg4", "h264", "mjpeg", "msmpeg4v3"}),
                         frozenset({"mp3", "ac3", "pcm_s16le", "aac"})),
}


def container_for(path: Path) -> ContainerSpec:
    """The ContainerSpec that the file extension names (ManganimeError for unsupported extensions)."""
    ext = path.suffix.lower().lstrip(".")
    if ext not in CONTAINERS:
        raise ManganimeError(f"{path}: unsupported output format {ext!r} (choose from {', '.join(CONTAINERS)})")
    return CONTAINERS[ext]


def _can_copy(codec: str, allowed) -> bool:
    return allowed is None or codec in allowed


def transcode(src, dst, *, video_codec: str = "copy", size: int | None = None, crf: int = 18,
              keyframe_seconds: float = 1.0) -> int:
    """Write `src` to `dst` (format from its extension), keeping the audio; returns the video frames written.

    video_codec "copy" re-muxes the video packets untouched (fast, lossless); any encoder name (libx264,
    mpeg4, ...) re-encodes, optionally resized to size×size (bicubic, square pixels: the study's
    `scale=256:256,setsar=1:1`). Re-encoded video gets a keyframe every `keyframe_seconds`, so the labeling
    tool's random frame access decodes at most that much. Audio is stream-copied when the container accepts
    its codec, otherwise re-encoded with the container's default audio encoder. Written atomically.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ManganimeError(f"{src}: video file not found")
    if src.resolve() == dst.resolve():
        raise ManganimeError(f"{src}: output would overwrite the input; choose another format or --out")
    spec = container_for(dst)
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.video:
                raise ManganimeError(f"{src}: no video stream")
            with atomic_path(dst) as tmp:
                with av.open(str(tmp), "w", format=spec.muxer) as out:
                    return _copy_streams(inp, out, spec, src, video_codec, size, crf, keyframe_seconds)
    except _DECODE_ERRORS as exc:
        raise ManganimeError(f"{src} → {dst.name}: {_one_line(exc)}") from None


def _copy_streams(inp, out, spec: ContainerSpec, src: Path, video_codec: str, size, crf, keyframe_seconds) -> int:
    """Route every demuxed packet to a copier or an encoder for its output stream; returns video frames."""
    vin = inp.streams.video[0]
    ain = inp.streams.audio[0] if inp.streams.audio else None
    if video_codec == "copy":
        if size is not None:
            raise ManganimeError("resizing needs re-encoding: pass a video codec instead of 'copy'")
        if not _can_copy(vin.codec_context.name, spec.video_copy):
            raise ManganimeError(f"{src}: {vin.codec_context.name} video cannot be copied into .{spec.muxer}; "
                                 f"re-encode with --video-codec {spec.video_encoder}")
        routes = {vin: _StreamCopier(out, vin)}
    else:
        routes = {vin: _VideoEncoder(out, _video_encoder(out, vin, video_codec, size, crf, keyframe_seconds, src))}
    if ain is not None:
        copy_audio = _can_copy(ain.codec_context.name, spec.audio_copy)
        routes[ain] = (_StreamCopier(out, ain) if copy_audio
                       else _AudioEncoder(out, out.add_stream(spec.audio_encoder, rate=ain.rate)))
    video_route = routes[vin]
    ends: dict = {}  # stream → input time (s) where its last packet ends
    with tqdm(total=vin.frames or None, desc=src.name, unit="frame", leave=False) as bar:
        for packet in inp.demux(list(routes)):
            if packet.is_corrupt:
                raise ManganimeError(f"{src}: truncated or corrupt (damaged packet at "
                                     f"{float((packet.pts or 0) * packet.time_base):.2f} s)")
            if packet.pts is not None and packet.size:
                end = (packet.pts + (packet.duration or 0)) * packet.time_base
                ends[packet.stream] = max(ends.get(packet.stream, end), end)
            written = routes[packet.stream].feed(packet)
            if packet.stream is vin:
                bar.update(written)
        for route in routes.values():
            route.flush()
    if video_route.count == 0:
        raise ManganimeError(f"{src}: no video frames could be read")
    _check_complete(inp, vin, ends, src)
    return video_route.count


def _check_complete(inp, vin, ends: dict, src: Path) -> None:
    """Refuse a copy of a file that ends well before its header says (a cut download or copy): libav demuxes
    what is there without an error, so the output would be silently short. Time-based, like runtime/video.py:
    frame counts in headers include frames that edit lists hide. The video's own duration is used when the
    header has it; otherwise the container's, against whichever stream got further (audio may outlast video)."""
    rate = float(vin.average_rate or vin.guessed_rate or 25)
    if vin.duration and vin.time_base and vin in ends:
        reached, expected = float(ends[vin]), float(vin.duration * vin.time_base)
    elif inp.duration and ends:
        reached, expected = float(max(ends.values())), inp.duration / av.time_base
    else:
        return
    start = float(vin.start_time * vin.time_base) if vin.start_time and vin.time_base else 0.0
    if reached + 2.0 / rate < start + expected:
        raise ManganimeError(f"{src}: truncated or corrupt: its packets stop at {reached:.2f} s of "
                             f"{expected:.2f} s")


class _StreamCopier:
    """Re-muxes packets untouched into a stream created from the input stream's parameters."""

    def __init__(self, out, template):
        self.out, self.stream, self.count = out, out.add_stream_from_template(template), 0

    def feed(self, packet) -> int:
        if packet.size == 0:  # the demuxer's trailing flush packet carries no data
            return 0
        packet.stream = self.stream
        self.out.mux(packet)
        self.count += 1
        return 1

    def flush(self) -> None:
        pass


class _VideoEncoder:
    """Decodes, resizes and re-encodes video frames at a constant frame rate."""

    def __init__(self, out, stream):
        self.out, self.stream, self.count = out, stream, 0

    def feed(self, packet) -> int:
        frames = packet.decode()
        for frame in frames:
            self.out.mux(self.stream.encode(_prepare_frame(frame, self.stream, self.count)))
            self.count += 1
        return len(frames)

    def flush(self) -> None:
        self.out.mux(self.stream.encode(None))


class _AudioEncoder(_VideoEncoder):
    """Decodes and re-encodes audio; the encoder's own resampler converts sample format and frame size."""

    def feed(self, packet) -> int:
        for frame in packet.decode():
            frame.pts = None  # let the encoder re-time the resampled samples
            self.out.mux(self.stream.encode(frame))
        return 0


def _video_encoder(out, vin, codec: str, size, crf, keyframe_seconds, src: Path):
    rate = vin.average_rate or vin.guessed_rate or Fraction(24)
    width, height = (size, size) if size is not None else (vin.codec_context.width, vin.codec_context.height)
    if width % 2 or height % 2:
        # 4:2:0 chroma needs even dimensions; failing here beats an opaque encoder error later.
        raise ManganimeError(f"{src}: re-encoding needs even width and height, got {width}×{height}")
    try:
        vout = out.add_stream(codec, rate=rate)
    except (av.FFmpegError, ValueError) as exc:
        raise ManganimeError(f"unknown or unavailable video encoder {codec!r} ({_one_line(exc)})") from None
    vout.width, vout.height = width, height
    vout.pix_fmt = "yuv420p"
    vout.codec_context.time_base = 1 / Fraction(rate)
    vout.codec_context.gop_size = max(1, round(float(rate) * keyframe_seconds))
    if codec == "libx264":
        vout.options = {"crf": str(crf), "preset": "medium"}
    return vout


def _prepare_frame(frame, vout, index: int):
    """Resize/convert a decoded frame for the encoder and give it a constant-frame-rate timestamp."""
    frame = frame.reformat(width=vout.width, height=vout.height, format="yuv420p", interpolation="BICUBIC")
    # Re-encoding renumbers timestamps as 0, 1, 2, ... at the stream rate, so every decoded frame is kept
    # (the frame count, which tags and excludes depend on, does not change).
    frame.pts = index
    frame.time_base = vout.codec_context.time_base
    return frame

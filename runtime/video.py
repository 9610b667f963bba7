"""Video conversion: PyAV decode → queue → batched inference → queue → H.264 encode, with the audio copied.

Threads: a decoder thread demuxes and decodes (and forwards audio), the calling thread runs the model (onnxruntime
releases the GIL), an encoder thread encodes and muxes. Bounded queues keep memory flat and let decoding and
encoding overlap with inference, so the end-to-end rate stays close to the model-only rate.

Timing: every output frame gets its input frame's pts in the input stream's time base, so float frame rates and
variable frame rate survive unchanged; with --start the whole timeline (audio included) is shifted so the first
kept frame is at 0. Rotation: frames carrying display-matrix rotation are rotated upright before inference and
the output is written upright with no rotation metadata (plays correctly everywhere, model sees upright content).
Audio: packets are copied without re-encoding when the output container accepts the codec, else re-encoded to AAC.

`write_frames` encodes frames made in memory (a predicted clip) with the same H.264 stream settings.
"""
from __future__ import annotations

import contextlib
import io
import queue
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from tqdm import tqdm

from runtime.atomic import CheckedFile
from runtime.errors import ConversionError
from runtime.outputs import output_file
from runtime.stylize import Stylizer

# Output suffix → container format. H.264 + yuv420p fits all three; webm/avi would need other codecs.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class VideoOptions:
    """What to convert and how to encode it."""

    start: float | None = None     # seconds; keep frames at t ≥ start
    end: float | None = None       # seconds; keep frames at t < end
    batch: int = 1                 # frames per model call
    crf: int = 18                  # x264 constant rate factor (0 lossless … 51 worst)
    preset: str = "medium"         # x264 speed/size trade-off
    preview: bool = False          # write original | stylised side by side
    queue_size: int = 8            # frames buffered between the stages
    progress: bool = True

    def __post_init__(self):
        if self.preset not in X264_PRESETS:
            raise ConversionError(f"unknown x264 preset {self.preset!r}; choose from {', '.join(X264_PRESETS)}")
        if self.batch < 1 or self.queue_size < 1:
            raise ConversionError("--batch and the queue size must be at least 1")
        if not 0 <= self.crf <= 51:
            raise ConversionError(f"--crf {self.crf} is outside 0..51")
        if self.start is not None and self.start < 0:
            raise ConversionError(f"--start {self.start} is negative")
        if self.end is not None and self.end <= (self.start or 0):
            raise ConversionError(f"--end {self.end} must be after --start {self.start or 0}")


@dataclass
class VideoResult:
    """What was written."""

    output: Path
    frames: int
    seconds: float
    audio: str          # "copied <codec>", "re-encoded <codec> to aac" or "none"
    rotation: int       # degrees the frames were rotated to be upright


@dataclass
class _Frame:
    pts: int
    image: np.ndarray


@dataclass
class _Audio:
    payload: av.Packet | av.AudioFrame


_END = object()


@dataclass(frozen=True)
class _Colour:
    """The input's YUV matrix and tags. Frames are decoded to RGB with the input's own matrix and encoded back
    with the same one, tagged the same way, so players show the output's colours like the input's."""

    colorspace: int | None      # a swscale-supported matrix, or None: untagged (BT.601 arithmetic, no tag)
    primaries: int
    trc: int

    SUPPORTED = (1, 4, 5, 6, 7, 9)  # BT.709, FCC, BT.601 (BT470BG, SMPTE170M), SMPTE240M, BT.2020

    @classmethod
    def of(cls, frame: av.VideoFrame) -> "_Colour":
        space = int(frame.colorspace)
        return cls(space if space in cls.SUPPORTED else None, int(frame.color_primaries), int(frame.color_trc))


class _Stopped(Exception):
    """Another stage failed or the run was interrupted."""


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: threading.Event, producer: threading.Thread):
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if not producer.is_alive():
                try:
                    return q.get_nowait()
                except queue.Empty:
                    raise _Stopped from None


class _Stage(threading.Thread):
    """A thread that records its exception and raises the shared stop flag when it fails."""

    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self._target_fn, self.stop, self.error = target, stop, None

    def run(self):
        try:
            self._target_fn()
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc
            self.stop.set()


def _av_error(path: Path, exc: BaseException, doing: str) -> ConversionError:
    text = getattr(exc, "strerror", None) or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return ConversionError(f"cannot {doing} video {path}: corrupt, truncated or unsupported ({text})")


def resolve_output(input_path: Path, output: str | Path | None, preview: bool) -> Path:
    """OUT as given, or <OUT dir>/<stem>_anime.mp4 when OUT is a folder, or outputs/<stem>_anime.mp4."""
    name = f"{input_path.stem}_anime{'_preview' if preview else ''}.mp4"
    if output is None:
        return Path("outputs") / name
    output = Path(output)
    if output.is_dir() or str(output).endswith(("/", "\\")):
        return output / name
    return output


def check_video_paths(input_path: Path, output_path: Path) -> str:
    """Fail early on a missing input, an unsupported output type or output == input; returns the container."""
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise ConversionError(f"input not found: {input_path}")
    suffix = output_path.suffix.lower()
    if suffix not in CONTAINERS:
        raise ConversionError(f"unsupported output type {suffix or '(no extension)'!r} for {output_path}; "
                              f"supported: {', '.join(sorted(CONTAINERS))}")
    if output_path.resolve() == input_path.resolve():
        raise ConversionError(f"refusing to overwrite the input {input_path}; choose another --output")
    return CONTAINERS[suffix]


def _audio_plan(input_path: Path, in_audio, container_format: str) -> str:
    """'copy' when the output container takes the audio as it is, else 'encode' (to AAC). Decided before any frame
    is decoded, by copying the stream's first packet into an in-memory file of that container and closing it:
    some refusals (PCM in .mp4) only show when the trailer is written, so writing a header is not enough. (The
    video stream is always encoded to H.264, which every container in CONTAINERS takes.)"""
    probe = av.open(io.BytesIO(), "w", format=container_format)
    try:
        with av.open(str(input_path)) as source:
            stream = source.streams[in_audio.index]
            template = probe.add_stream_from_template(stream)
            probe.start_encoding()
            for packet in source.demux(stream):
                if packet.size and packet.dts is not None:
                    packet.stream = template
                    probe.mux(packet)
                    break
        probe.close()
        return "copy"
    except (av.FFmpegError, ValueError):
        return "encode"
    finally:
        with contextlib.suppress(av.FFmpegError, ValueError):
            probe.close()


# Channel count → the usual layout, for streams whose channels have no named order (raw PCM in Matroska says
# "2 channels"): the AAC encoder refuses an unordered layout.
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(layout) -> str:
    channels = layout.channels
    if any(c.name == "NONE" for c in channels) and len(channels) in _DEFAULT_LAYOUTS:
        return _DEFAULT_LAYOUTS[len(channels)]
    return layout.name


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply display-matrix rotation (degrees counter-clockwise, FFmpeg's convention) to the pixels."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def _even(image: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row/column when a side is odd."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def add_h264_stream(out, shape: tuple, rate, time_base: Fraction, crf: int, preset: str,
                    colour: _Colour | None = None):
    """The one H.264 (yuv420p, limited range) video stream every video this project writes uses, sized for
    frames of `shape` (odd sides padded by `_even`), tagged with the input's colours when `colour` knows them."""
    height, width = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2  # the sides `_even` pads frames to
    vout = out.add_stream("libx264", rate=rate)
    vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
    vout.time_base = time_base
    vout.codec_context.time_base = time_base
    vout.options = {"crf": str(crf), "preset": preset}
    vout.codec_context.color_range = 1  # MPEG (limited) range, what encode_rgb's reformat produces
    if colour is not None and colour.colorspace is not None:
        vout.codec_context.colorspace = colour.colorspace
        vout.codec_context.color_primaries = colour.primaries
        vout.codec_context.color_trc = colour.trc
    return vout


def encode_rgb(vout, image: np.ndarray, pts: int, time_base: Fraction, colorspace: int | None = None) -> list:
    """Encode one RGB uint8 frame into `vout` (converted with `colorspace`'s matrix; None: BT.601); returns the
    packets for the caller to mux (each caller checks its output file after muxing)."""
    frame = av.VideoFrame.from_ndarray(_even(image), format="rgb24").reformat(
        format="yuv420p", dst_colorspace=colorspace, dst_color_range="MPEG")
    frame.pts, frame.time_base = pts, time_base
    return vout.encode(frame)


def write_frames(path: str | Path, frames, fps: float = 24, crf: int = 18, preset: str = "medium",
                 progress: bool = False, total: int | None = None) -> int:
    """Encode RGB uint8 frames (an iterable of equal-size [H, W, 3] arrays) as an H.264 video at a constant `fps`,
    written atomically (nothing is left behind on failure); returns the frame count. Same stream settings as the
    video conversion (`add_h264_stream`, `encode_rgb`), untagged BT.601 colours, no audio."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise ConversionError(f"unsupported output type {suffix or '(no extension)'!r} for {path}; "
                              f"supported: {', '.join(sorted(CONTAINERS))}")
    VideoOptions(crf=crf, preset=preset)  # the same checks as the conversion's options
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ConversionError(f"frame rate {fps} must be positive")
    time_base = 1 / rate
    count, shape = 0, None
    with output_file(path) as tmp:
        # through a CheckedFile, as the conversion does: a full disk stops the clip at the first failed write
        with contextlib.closing(CheckedFile(tmp)) as sink:
            def mux(out, packets) -> None:
                for packet in packets:
                    out.mux(packet)
                    sink.check()

            try:
                with av.open(sink, "w", format=CONTAINERS[suffix]) as out:
                    vout = None
                    for image in tqdm(frames, total=total, unit="frame", desc=path.name, disable=not progress,
                                      file=sys.stderr, leave=False):
                        image = np.asarray(image)
                        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                            raise ConversionError(f"frame {count}: expected RGB uint8 [H, W, 3], got {image.dtype} "
                                                  f"{list(image.shape)}")
                        if vout is None:
                            shape = image.shape
                            vout = add_h264_stream(out, shape, rate, time_base, crf, preset)
                        elif image.shape != shape:
                            raise ConversionError(f"frame {count} is {image.shape[1]}x{image.shape[0]}, the first "
                                                  f"was {shape[1]}x{shape[0]}; a video has one frame size")
                        mux(out, encode_rgb(vout, image, count, time_base))
                        count += 1
                    if vout is None:
                        raise ConversionError(f"no frames to write to {path}")
                    mux(out, vout.encode(None))
                sink.check()  # closing wrote the trailer (an .mp4's index): the last chance for a write error
            except av.FFmpegError as exc:
                if sink.error is not None:  # libav failed because our file did: report the write error itself
                    raise ConversionError(f"cannot write {path}: {sink.error.strerror or sink.error}") from None
                raise ConversionError(f"cannot encode {path}: {exc}") from None
    return count


class VideoConverter:
    """Converts one video with a Stylizer; `run()` does the work and returns a VideoResult."""

    def __init__(self, stylizer: Stylizer, input_path: str | Path, output_path: str | Path,
                 options: VideoOptions = VideoOptions(), log: Callable[[str], None] | None = None):
        self.stylizer, self.options = stylizer, options
        self.input_path, self.output_path = Path(input_path), Path(output_path)
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self._check_paths()
        self.stop = threading.Event()
        self.decoded: queue.Queue = queue.Queue(maxsize=options.queue_size)
        self.encoded: queue.Queue = queue.Queue(maxsize=options.queue_size)
        self.frames_in = self.frames_out = 0
        self.rotation = 0
        self.colour: _Colour | None = None
        self.audio_end: Fraction | None = None   # input time where the last audio packet read ends
        self.audio_note = "none"

    # -- set-up ---------------------------------------------------------------------------------------------------
    def _check_paths(self) -> None:
        self.container_format = check_video_paths(self.input_path, self.output_path)

    def _open_input(self) -> None:
        try:
            self.container = av.open(str(self.input_path))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise _av_error(self.input_path, exc, "read") from None
        try:
            self._read_streams()
        except BaseException:
            self.container.close()
            raise

    def _read_streams(self) -> None:
        if not self.container.streams.video:
            raise ConversionError(f"{self.input_path} has no video stream")
        self.vstream = self.container.streams.video[0]
        self.vstream.thread_type = "AUTO"
        self.time_base: Fraction = self.vstream.time_base or Fraction(1, 90000)
        self.rate = self.vstream.average_rate or self.vstream.guessed_rate or Fraction(25)
        self.astream = self.container.streams.audio[0] if self.container.streams.audio else None
        self.audio_mode = _audio_plan(self.input_path, self.astream, self.container_format) \
            if self.astream else "none"
        if self.audio_mode == "encode":
            self.log(f"note: {self.astream.codec_context.name} audio cannot be copied into "
                     f"{self.output_path.suffix}; re-encoding it to AAC")
        self.duration = self._duration()
        if self.options.start is not None and self.duration and self.options.start >= self.duration:
            raise ConversionError(f"--start {self.options.start} is at or after the end of the video "
                                  f"({self.duration:.2f} s)")

    def _duration(self) -> float | None:
        """The video stream's duration, else the container's (Matroska reports the container's for both)."""
        if self.vstream.duration:
            return float(self.vstream.duration * self.time_base)
        if self.container.duration:
            return self.container.duration / av.time_base
        return None

    def expected_frames(self) -> int | None:
        """Frame count for the progress bar (exact from the header when no range is given)."""
        o = self.options
        if o.start is None and o.end is None and self.vstream.frames:
            return self.vstream.frames
        if not self.duration:
            return None
        span = min(o.end or self.duration, self.duration) - (o.start or 0.0)
        return max(0, round(span * float(self.rate)))

    # -- decoder thread -------------------------------------------------------------------------------------------
    def _decode(self) -> None:
        o, tb = self.options, self.time_base
        if o.start:
            self.container.seek(int(o.start / tb), stream=self.vstream, backward=True)
        origin = Fraction(0) if o.start is None else None   # seconds mapped to output time 0
        pending: list = []                                   # audio that arrived before the origin was known
        last_pts, last_in_pts, video_done, audio_done = None, None, False, self.astream is None
        last_end = None                                      # input time where the last kept frame ends
        frame_step = max(1, round(1 / (self.rate * tb)))
        streams = [self.vstream] + ([self.astream] if self.astream else [])
        try:
            for packet in self.container.demux(*streams):
                if packet.is_corrupt:
                    raise ConversionError(f"video {self.input_path} is truncated or corrupt: damaged packet at "
                                          f"{float((packet.pts or 0) * packet.time_base):.2f} s")
                if packet.stream is self.astream:
                    if not audio_done:
                        audio_done = self._audio_packet(packet, origin, pending)
                elif not video_done:
                    for frame in packet.decode():
                        in_pts = frame.pts
                        if in_pts is None:  # some raw streams carry no timestamps: assume the nominal rate
                            in_pts = 0 if last_in_pts is None else last_in_pts + frame_step
                        t = in_pts * tb
                        if o.start is not None and t < o.start - tb / 2:
                            continue
                        if o.end is not None and t >= o.end:
                            video_done = True
                            break
                        if origin is None:
                            origin = t
                            for item in pending:
                                self._audio_packet(item, origin, None)
                        pts = in_pts - round(origin / tb)
                        pts = pts if last_pts is None or pts > last_pts else last_pts + 1  # x264 needs increasing
                        self.rotation = frame.rotation or 0
                        if self.colour is None:
                            self.colour = _Colour.of(frame)
                        image = _upright(frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None),
                                         self.rotation)
                        _put(self.decoded, _Frame(pts, image), self.stop)
                        last_pts, last_in_pts = pts, in_pts
                        last_end = t + (frame.duration or frame_step) * tb
                        self.frames_in += 1
                if video_done and audio_done:
                    break
        except av.FFmpegError as exc:
            raise _av_error(self.input_path, exc, "decode") from None
        self._check_complete(last_end, reached_eof=not video_done)
        _put(self.decoded, _END, self.stop)

    def _audio_packet(self, packet: av.Packet, origin: Fraction | None, pending: list | None) -> bool:
        """Forward one audio packet (shifted to the output timeline); True once past --end."""
        if packet.size == 0 or packet.pts is None:
            return False
        t = packet.pts * packet.time_base
        if self.options.end is not None and t >= self.options.end:
            return True
        self.audio_end = max(self.audio_end or 0, t + (packet.duration or 0) * packet.time_base)
        if origin is None:
            pending.append(packet)
            return False
        if self.options.start is not None and t < origin:
            return False  # trimmed away; packets cannot be cut, so audio starts at the next packet boundary
        shift = round(origin / packet.time_base)
        if self.audio_mode == "copy":
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            _put(self.decoded, _Audio(packet), self.stop)
        else:
            for frame in packet.decode():
                if frame.pts is not None:
                    frame.pts -= round(origin / frame.time_base)
                _put(self.decoded, _Audio(frame), self.stop)
        return False

    def _check_complete(self, last_end: Fraction | None, reached_eof: bool) -> None:
        """Fail when the file ended well before its header said it would (a truncated download or copy).

        Time-based on purpose: header frame counts include frames that edit lists hide, so comparing counts
        would reject valid files."""
        if self.frames_in == 0:
            raise ConversionError(f"no video frames decoded from {self.input_path} in the selected range")
        if not reached_eof or not self.duration or last_end is None:
            return
        # A cut file ends every stream early; a valid one may have audio running past the video, so judge the
        # end of whichever stream got further (the reported duration may be the audio's).
        last_end = max(last_end, self.audio_end or 0)
        expected_end = min(self.options.end or self.duration, self.duration)
        if float(last_end) + 2.0 / float(self.rate) < expected_end:
            raise ConversionError(f"video {self.input_path} is truncated or corrupt: its frames stop at "
                                  f"{float(last_end):.2f} s of {self.duration:.2f} s")

    # -- encoder thread -------------------------------------------------------------------------------------------
    def _encode(self, path: Path) -> None:
        """Encode into `path` through a CheckedFile, so a full disk stops the run at the first failed write (libav
        alone would report it when closing the file, after converting every frame)."""
        try:
            self._sink = CheckedFile(path)
            out = av.open(self._sink, "w", format=self.container_format)
        except (av.FFmpegError, OSError) as exc:
            raise ConversionError(f"cannot write {self.output_path}: {getattr(exc, 'strerror', None) or exc}") \
                from None
        try:
            self._encode_into(out)
            out.close()  # writes the trailer (the index of an .mp4), the last chance for a write error
            self._sink.check()
        except OSError as exc:  # our write error, or libav's (av's OSError subclasses it)
            raise ConversionError(f"cannot write {self.output_path}: {exc.strerror or exc}") from None
        except av.FFmpegError as exc:
            raise ConversionError(f"cannot encode {self.output_path}: {exc}") from None
        finally:
            with contextlib.suppress(av.FFmpegError, OSError, ValueError):  # after a failure: just release it
                out.close()
            self._sink.close()

    def _mux(self, out, packets) -> None:
        """Mux encoded packets, stopping at once if the file could not be written."""
        for packet in packets:
            out.mux(packet)
            self._sink.check()

    def _encode_into(self, out) -> None:
        vout = aout = resampler = None
        pending_audio: list = []
        producer = self._inference_thread
        while True:
            item = _get(self.encoded, self.stop, producer)
            if item is _END:
                break
            if isinstance(item, _Audio):
                if vout is None:
                    pending_audio.append(item)  # streams must all exist before the header is written
                    continue
                self._write_audio(out, aout, resampler, item)
                continue
            if vout is None:
                first_shape = item.image.shape
                vout, aout, resampler = self._add_streams(out, item.image)
                for audio in pending_audio:
                    self._write_audio(out, aout, resampler, audio)
                pending_audio.clear()
            if item.image.shape != first_shape:
                raise ConversionError(f"the frame size changes mid-stream ({first_shape[:2]} → "
                                      f"{item.image.shape[:2]}); such videos are not supported")
            self._mux(out, encode_rgb(vout, item.image, item.pts, self.time_base, self.colour.colorspace))
            self.frames_out += 1
        if vout is None:
            return
        self._mux(out, vout.encode(None))
        if aout is not None and self.audio_mode == "encode":
            for frame in resampler.resample(None):  # drain the resampler, then the encoder
                self._mux(out, aout.encode(frame))
            self._mux(out, aout.encode(None))

    def _add_streams(self, out, first_image: np.ndarray):
        vout = add_h264_stream(out, first_image.shape, self.rate, self.time_base, self.options.crf,
                               self.options.preset, self.colour)
        aout = resampler = None
        if self.audio_mode == "copy":
            aout = out.add_stream_from_template(self.astream)
            self.audio_note = f"copied {self.astream.codec_context.name}"
        elif self.audio_mode == "encode":
            ctx = self.astream.codec_context
            layout = _named_layout(ctx.layout)
            aout = out.add_stream("aac", rate=ctx.sample_rate, layout=layout)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=ctx.sample_rate)
            self.audio_note = f"re-encoded {ctx.name} to aac"
        return vout, aout, resampler

    def _write_audio(self, out, aout, resampler, item: _Audio) -> None:
        if self.audio_mode == "copy":
            item.payload.stream = aout
            self._mux(out, [item.payload])
            return
        for frame in resampler.resample(item.payload):
            self._mux(out, aout.encode(frame))

    # -- main -----------------------------------------------------------------------------------------------------
    def _infer(self, bar: tqdm) -> None:
        batch: list[_Frame] = []

        def flush():
            outputs = self.stylizer.stylize_batch([f.image for f in batch])
            for f, out in zip(batch, outputs):
                image = np.concatenate([f.image, out], axis=1) if self.options.preview else out
                _put(self.encoded, _Frame(f.pts, image), self.stop)
            bar.update(len(batch))
            batch.clear()

        while True:
            item = _get(self.decoded, self.stop, self._decoder)
            if item is _END:
                break
            if isinstance(item, _Audio):
                _put(self.encoded, item, self.stop)
                continue
            batch.append(item)
            if len(batch) >= self.options.batch:
                flush()
        if batch:
            flush()
        _put(self.encoded, _END, self.stop)

    def _join(self, encoder: threading.Thread) -> None:
        """Wait for both worker threads, even when an interrupt arrives while waiting: the temp output is removed
        only after the encoder has let go of it."""
        try:
            encoder.join()
        except BaseException:
            self.stop.set()
            encoder.join()  # run_main ignores further stop signals while the first one unwinds
            raise
        finally:
            self.stop.set()  # the decoder may still be blocked on a full queue after a failure
            self._decoder.join()

    def run(self) -> VideoResult:
        """Convert the whole video; the output appears only when everything succeeded."""
        self._open_input()
        started = time.perf_counter()
        bar = tqdm(total=self.expected_frames(), unit="frame", desc=self.input_path.name,
                   disable=not self.options.progress, file=sys.stderr, dynamic_ncols=True)
        try:
            with output_file(self.output_path) as tmp:
                self._inference_thread = threading.current_thread()
                self._decoder = _Stage("decode", self._decode, self.stop)
                encoder = _Stage("encode", lambda: self._encode(tmp), self.stop)
                self._decoder.start()
                encoder.start()
                try:
                    self._infer(bar)
                except _Stopped:
                    pass  # a worker failed: its error is raised below
                except BaseException:  # an error here, or an interrupt (Ctrl-C, SIGTERM, SIGHUP via run_main)
                    self.stop.set()
                    raise
                finally:
                    self._join(encoder)
                for stage in (self._decoder, encoder):  # the decoder's error is usually the root cause
                    if stage.error is not None:
                        raise stage.error
                if self.frames_out != self.frames_in:
                    raise ConversionError(f"internal error: encoded {self.frames_out} of {self.frames_in} frames")
        finally:
            bar.close()
            self.container.close()
        return VideoResult(self.output_path, self.frames_out, time.perf_counter() - started, self.audio_note,
                           self.rotation)


"""Make the runtime's bundled sample clip and sample photo from pictures that ship with scikit-image.

    python datasets/demo_clip.py --overwrite         # rewrites runtime/assets/demo_clip.mp4 and demo_photo.jpg
    python datasets/demo_clip.py --overwrite --frame-preview docs/images/demo_frame.jpg   # also: one frame | model

The clip (7 s, 24 fps, 320x180, H.264 yuv420p) is five shots of five pictures, each a pan, zoom or tilt, joined by
hard cuts and one cross-fade, with a synthesized stereo AAC track (an arpeggiated chord per shot, a soft knock on
each cut). Everything is computed, nothing is downloaded, and the output is byte-for-byte reproducible:
single-threaded x264 in plain C (its assembly made the bytes depend on memory layout) and bit-exact muxing, so the
files do not depend on the core count or the output path.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python datasets/demo_clip.py`

import av  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from runtime.cli import ASSETS, DEMO_MODEL, finite_float, positive_int  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, output_file, refuse_existing  # noqa: E402

SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Shot:
    """One camera move over `picture` (a file of scikit-image's data folder): the crop box goes from `start` to
    `end` (fractions (left, top, width) of the picture; the height follows the output's aspect) over `seconds`;
    `fade_in` cross-fades from the previous shot instead of cutting. `chord_hz` is the shot's chord in the sound
    track."""

    picture: str
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    seconds: float
    chord_hz: tuple[float, float, float]
    fade_in: bool = False


SHOTS = [
    Shot("astronaut.png", (0.05, 0.08, 0.90), (0.28, 0.10, 0.50), 1.6, (261.63, 329.63, 392.00)),  # zoom in: face
    Shot("coffee.png", (0.02, 0.10, 0.70), (0.24, 0.10, 0.70), 1.3, (349.23, 440.00, 523.25)),     # pan: the cup
    Shot("chelsea.png", (0.30, 0.25, 0.40), (0.00, 0.00, 1.00), 1.4, (392.00, 493.88, 587.33)),    # zoom out: cat
    Shot("rocket.jpg", (0.38, 0.45, 0.42), (0.38, 0.00, 0.42), 1.4, (293.66, 349.23, 440.00)),     # tilt up
    Shot("motorcycle_left.png", (0.30, 0.10, 0.66), (0.08, 0.14, 0.70), 1.3, (261.63, 329.63, 392.00),
         fade_in=True),                                                                          # pan left
]
CROSSFADE_S = 0.4
# x264's assembly made the 320-px-wide clip depend on memory layout (measured: other bytes for another output path,
# in the first shot; widths 256 and 384 were stable); its plain C code is bit-exact, and ~10 s for this clip.
X264_PARAMS = "no-asm=1"


def _picture(name: str) -> Image.Image:
    """A picture of the scikit-image data folder by file name (no download: these ship inside the wheel)."""
    with Image.open(Path(skimage.data.data_dir) / name) as image:
        return image.convert("RGB")


def _shot_frame(picture: Image.Image, shot: Shot, progress: float, size: tuple[int, int]) -> np.ndarray:
    """One frame of a camera move: interpolate the crop box (eased for a gentle start/stop), resample to `size`."""
    eased = 0.5 - 0.5 * np.cos(np.pi * min(max(progress, 0.0), 1.0))
    left, top, width = (a + (b - a) * eased for a, b in zip(shot.start, shot.end))
    pw, ph = picture.size
    aspect = size[0] / size[1]
    box_w = min(width * pw, pw, ph * aspect)  # the box keeps the output's aspect and stays inside the picture
    box_h = box_w / aspect
    x0, y0 = min(left * pw, pw - box_w), min(top * ph, ph - box_h)
    return np.asarray(picture.resize(size, Image.Resampling.BICUBIC, box=(x0, y0, x0 + box_w, y0 + box_h)))


def shot_starts() -> list[float]:
    """Start time of each shot in seconds; the clip lasts sum(shot.seconds)."""
    return [float(t) for t in np.concatenate([[0.0], np.cumsum([shot.seconds for shot in SHOTS])[:-1]])]


def clip_seconds() -> float:
    return float(sum(shot.seconds for shot in SHOTS))


def render_frames(seconds: float, fps: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The frames of the first `seconds` of the shot sequence (it loops when longer). A shot with fade_in begins
    CROSSFADE_S early, over the end of the previous shot; every other shot starts with a hard cut."""
    pictures = {shot.picture: _picture(shot.picture) for shot in SHOTS}
    starts, total = shot_starts(), clip_seconds()
    frames = []
    for i in range(int(round(seconds * fps))):
        t = (i / fps) % total
        k = max(j for j, start in enumerate(starts) if start <= t + 1e-9)
        shot = SHOTS[k]
        frame = _shot_frame(pictures[shot.picture], shot, (t - starts[k]) / shot.seconds, size).astype(np.float32)
        if k + 1 < len(SHOTS) and SHOTS[k + 1].fade_in and t > starts[k + 1] - CROSSFADE_S:
            nxt = SHOTS[k + 1]
            alpha = (t - starts[k + 1] + CROSSFADE_S) / CROSSFADE_S
            into = _shot_frame(pictures[nxt.picture], nxt, 0.0, size).astype(np.float32)
            frame = frame * (1 - alpha) + into * alpha
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return frames


def render_audio(seconds: float) -> np.ndarray:
    """float32 [2, n] stereo for the first `seconds` (looping like the frames): per shot its chord, arpeggiated
    (a note every quarter second over a soft pad), and a short low knock on each hard cut; the right channel is
    slightly detuned for width."""
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    looped = t % clip_seconds()
    audio = np.zeros((2, n), np.float64)
    for shot, start in zip(SHOTS, shot_starts()):
        local = looped - start
        inside = (local >= 0) & (local < shot.seconds)
        pad = np.clip(local / 0.08, 0, 1) * np.clip((shot.seconds - local) / 0.2, 0, 1) * inside
        for j, hz in enumerate(shot.chord_hz):
            for channel, detune in ((0, 1.0), (1, 1.003)):
                audio[channel] += 0.25 * pad * np.sin(2 * np.pi * hz * detune * t + j) / (j + 1)
        for m, onset in enumerate(np.arange(0.0, shot.seconds - 0.05, 0.25)):
            since = local - onset
            pluck = np.where(since >= 0, np.exp(-np.maximum(since, 0) / 0.12), 0.0) * inside
            hz = 2 * shot.chord_hz[m % 3]
            audio[0] += 0.5 * pluck * np.sin(2 * np.pi * hz * t)
            audio[1] += 0.5 * pluck * np.sin(2 * np.pi * hz * 1.002 * t)
        if start > 0 and not shot.fade_in:
            since = np.maximum(local, 0)
            knock = (local >= 0) * np.exp(-since / 0.04) * np.sin(2 * np.pi * 70 * since)
            audio += 0.8 * knock
    return (0.4 * audio / np.abs(audio).max()).astype(np.float32)


def write_clip(path: Path, frames: list[np.ndarray], audio: np.ndarray, fps: int, crf: int) -> None:
    """H.264 yuv420p + AAC in MP4, deterministic (one x264 thread without assembly, bit-exact flags, no timestamps
    in metadata)."""
    height, width = frames[0].shape[:2]
    with output_file(path) as tmp:
        with av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"crf": str(crf), "preset": "slow", "threads": "1", "x264-params": X264_PARAMS}
            video.codec_context.flags |= av.codec.context.Flags.bitexact
            sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            sound.codec_context.bit_rate = 96000
            sound.codec_context.flags |= av.codec.context.Flags.bitexact
            for i, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
            step = sound.codec_context.frame_size or 1024
            for pos in range(0, audio.shape[1], step):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, pos:pos + step]), format="fltp",
                                                   layout="stereo")
                chunk.sample_rate, chunk.pts, chunk.time_base = SAMPLE_RATE, pos, Fraction(1, SAMPLE_RATE)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))


def write_photo(path: Path, side: int) -> None:
    """The sample photo: astronaut() at side×side, JPEG quality 90."""
    image = _picture("astronaut.png").resize((side, side), Image.Resampling.LANCZOS)
    with output_file(path) as tmp:
        image.save(tmp, format="JPEG", quality=90)


def write_frame_preview(path: Path, clip: Path, seconds: float, model: Path = DEMO_MODEL) -> None:
    """One frame of `clip` (decoded, as the converter sees it) beside the demo model's rendering of it, as JPEG."""
    from runtime.session import Generator
    from runtime.stylize import Stylizer

    with av.open(str(clip)) as container:
        frames = [f for f in container.decode(video=0) if f.time is not None and f.time >= seconds - 1e-6]
        if not frames:
            raise ConversionError(f"{clip} has no frame at {seconds} s")
        image = frames[0].to_ndarray(format="rgb24")
    styled = Stylizer(Generator(model)).stylize(image)
    with output_file(path) as tmp:
        Image.fromarray(np.concatenate([image, styled], axis=1)).save(tmp, format="JPEG", quality=88)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be even and at least 16 (yuv420p)")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=ASSETS, help="where to write (default: runtime/assets)")
    parser.add_argument("--seconds", type=finite_float, default=clip_seconds(),
                        help=f"clip length (default {clip_seconds():g}: each shot once; longer loops them)")
    parser.add_argument("--fps", type=positive_int, default=24, help="frame rate (default 24)")
    parser.add_argument("--size", type=_size, default=(320, 180), help="WIDTHxHEIGHT (default 320x180)")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality (default 20)")
    parser.add_argument("--photo-side", type=positive_int, default=512, help="sample photo size (default 512)")
    parser.add_argument("--frame-preview", type=Path, default=None,
                        help="also write one frame of the clip | the demo model's rendering of it (JPEG) here")
    parser.add_argument("--frame-at", type=finite_float, default=2.2,
                        help="time of that frame in seconds (default 2.2)")
    add_overwrite_argument(parser)  # the bundled files exist: regenerating them in place needs --overwrite
    args = parser.parse_args(argv)
    if not 0.5 <= args.seconds <= 60:
        raise ConversionError(f"--seconds {args.seconds} is outside 0.5..60")
    clip, photo = args.out_dir / "demo_clip.mp4", args.out_dir / "demo_photo.jpg"
    refuse_existing([clip, photo] + ([args.frame_preview] if args.frame_preview is not None else []), args.overwrite)
    write_clip(clip, render_frames(args.seconds, args.fps, args.size), render_audio(args.seconds), args.fps, args.crf)
    write_photo(photo, args.photo_side)
    written = [clip, photo]
    if args.frame_preview is not None:
        write_frame_preview(args.frame_preview, clip, args.frame_at)
        written.append(args.frame_preview)
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    run_main(main)

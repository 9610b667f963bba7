"""Make the runtime's bundled sample clip and sample photo from pictures that ship with scikit-image.

    python datasets/demo_clip.py                     # writes runtime/assets/demo_clip.mp4 and demo_photo.jpg

The clip is a slow pan and zoom across astronaut(), coffee() and chelsea() with cross-fades (3 s, 24 fps, 256x144,
H.264 yuv420p) and a synthesized stereo AAC track (a soft chord per picture). Everything is computed, nothing is
downloaded, and the output is byte-for-byte reproducible: single-threaded x264 and bit-exact muxing, so the
files do not depend on the machine's core count.
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python datasets/demo_clip.py`

import av  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from runtime.cli import ASSETS, finite_float, positive_int  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, output_file, refuse_existing  # noqa: E402

SAMPLE_RATE = 48000
# (picture, start box, end box) with boxes as fractions (left, top, width) of the picture; height follows 16:9.
SHOTS = [
    ("astronaut", (0.05, 0.10, 0.90), (0.25, 0.12, 0.60)),    # zoom in towards the face
    ("coffee", (0.00, 0.05, 0.80), (0.20, 0.15, 0.78)),       # pan right across the cup
    ("chelsea", (0.00, 0.00, 1.00), (0.15, 0.10, 0.72)),      # zoom in on the cat
]
CHORDS_HZ = [(261.63, 329.63, 392.00), (349.23, 440.00, 523.25), (392.00, 493.88, 587.33)]  # C, F, G major
CROSSFADE_S = 0.25


def _picture(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def _shot_frame(picture: Image.Image, start: tuple, end: tuple, progress: float, size: tuple[int, int]) -> np.ndarray:
    """One frame of a pan/zoom: interpolate the crop box, resample it to `size` (eased for a gentle start/stop)."""
    eased = 0.5 - 0.5 * np.cos(np.pi * progress)
    left, top, width = (a + (b - a) * eased for a, b in zip(start, end))
    pw, ph = picture.size
    aspect = size[0] / size[1]
    box_w = min(width * pw, pw, ph * aspect)  # the box keeps the output's aspect and stays inside the picture
    box_h = box_w / aspect
    x0, y0 = min(left * pw, pw - box_w), min(top * ph, ph - box_h)
    return np.asarray(picture.resize(size, Image.Resampling.BICUBIC, box=(x0, y0, x0 + box_w, y0 + box_h)))


def render_frames(seconds: float, fps: int, size: tuple[int, int]) -> list[np.ndarray]:
    """All frames: each shot takes an equal share of the clip; neighbouring shots cross-fade."""
    pictures = [_picture(name) for name, _, _ in SHOTS]
    n_frames = int(round(seconds * fps))
    shot_len = seconds / len(SHOTS)
    frames = []
    for i in range(n_frames):
        t = i / fps
        shot = min(int(t // shot_len), len(SHOTS) - 1)
        local = (t - shot * shot_len) / shot_len
        frame = _shot_frame(pictures[shot], SHOTS[shot][1], SHOTS[shot][2], local, size).astype(np.float32)
        into_next = t - (shot + 1) * shot_len + CROSSFADE_S
        if shot + 1 < len(SHOTS) and into_next > 0:
            alpha = into_next / (2 * CROSSFADE_S)
            nxt = _shot_frame(pictures[shot + 1], SHOTS[shot + 1][1], SHOTS[shot + 1][2], 0.0, size)
            frame = frame * (1 - alpha) + nxt.astype(np.float32) * alpha
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return frames


def render_audio(seconds: float) -> np.ndarray:
    """float32 [2, n] stereo: one chord per shot with soft attack/release; right channel slightly detuned."""
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    shot_len = seconds / len(SHOTS)
    audio = np.zeros((2, n), np.float64)
    for k, chord in enumerate(CHORDS_HZ[:len(SHOTS)]):
        local = t - k * shot_len
        envelope = np.clip(local / 0.05, 0, 1) * np.clip((shot_len - local) / 0.15, 0, 1)
        for j, hz in enumerate(chord):
            audio[0] += envelope * np.sin(2 * np.pi * hz * t) / (j + 2)
            audio[1] += envelope * np.sin(2 * np.pi * hz * 1.003 * t + j) / (j + 2)
    return (0.4 * audio / np.abs(audio).max()).astype(np.float32)


def write_clip(path: Path, frames: list[np.ndarray], audio: np.ndarray, fps: int, crf: int) -> None:
    """H.264 yuv420p + AAC in MP4, deterministic (one x264 thread, bit-exact flags, no timestamps in metadata)."""
    height, width = frames[0].shape[:2]
    with output_file(path) as tmp:
        with av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"crf": str(crf), "preset": "slow", "threads": "1"}
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
    image = _picture("astronaut").resize((side, side), Image.Resampling.LANCZOS)
    with output_file(path) as tmp:
        image.save(tmp, format="JPEG", quality=90)


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
    parser.add_argument("--seconds", type=finite_float, default=3.0, help="clip length (default 3)")
    parser.add_argument("--fps", type=positive_int, default=24, help="frame rate (default 24)")
    parser.add_argument("--size", type=_size, default=(256, 144), help="WIDTHxHEIGHT (default 256x144)")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality (default 20)")
    parser.add_argument("--photo-side", type=positive_int, default=512, help="sample photo size (default 512)")
    add_overwrite_argument(parser)  # the bundled files exist: regenerating them in place needs --overwrite
    args = parser.parse_args(argv)
    if not 0.5 <= args.seconds <= 60:
        raise ConversionError(f"--seconds {args.seconds} is outside 0.5..60")
    clip, photo = args.out_dir / "demo_clip.mp4", args.out_dir / "demo_photo.jpg"
    refuse_existing([clip, photo], args.overwrite)
    write_clip(clip, render_frames(args.seconds, args.fps, args.size), render_audio(args.seconds), args.fps, args.crf)
    write_photo(photo, args.photo_side)
    for path in (clip, photo):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    run_main(main)

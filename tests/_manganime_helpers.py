"""Generated data for the manga → anime tooling tests: small PyAV videos and manga page scans.

Episodes are made of scenes with clearly different colour mixes (hard cuts between them) and gentle motion
inside each scene (a square sliding one pixel per frame), optionally with a distinctive "intro" or "outro"
segment inserted at a known frame index.
"""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from PIL import Image

SIZE = 64
FPS = 24
# Colour mixes pointing in clearly different directions of RGB space, so a cut between two scenes has a
# frame cosine well below 0.8 (a pure brightness change would not be a cut for the cosine measure).
SCENE_COLOURS = [(200, 40, 40), (40, 190, 50), (40, 60, 210), (180, 170, 20), (30, 170, 180)]


def scene_frames(colour, count: int, size: int = SIZE, seed: int = 0) -> list[np.ndarray]:
    """`count` frames of one scene: a flat colour with a faint gradient and a square moving 1 px per frame."""
    base = np.empty((size, size, 3), np.float64)
    ramp = np.linspace(-12, 12, size)[None, :, None]
    base[:] = np.asarray(colour, np.float64)[None, None, :] + ramp
    square = np.clip(255 - np.asarray(colour) * 0.6, 0, 255)
    frames = []
    for i in range(count):
        frame = base.copy()
        x = (seed * 7 + i) % (size - 12)
        frame[20:32, x:x + 12] = square
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def marker_frames(count: int, size: int = SIZE, seed: int = 1) -> list[np.ndarray]:
    """Distinctive frames for an intro/outro: each a different coloured checkerboard, unlike its neighbours."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        cell = 4 + 2 * (i % 4)
        yy, xx = np.mgrid[0:size, 0:size]
        board = ((yy // cell + xx // cell + i) % 2).astype(bool)
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        frame = np.where(board[:, :, None], a, b).astype(np.uint8)
        frame[: size // 4, : size // 4] = (i * 37) % 256  # a per-frame corner block, so no two frames match
        frames.append(frame)
    return frames


def write_video(path, frames, fps: int = FPS, codec: str = "libx264", audio: bool = False) -> Path:
    """Encode RGB uint8 frames with PyAV (optionally with a 16 kHz mono PCM sine track) and return the path."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"crf": "12"}  # near-lossless: the tests compare frames by content
        sound = out.add_stream("pcm_s16le", rate=16000, layout="mono") if audio else None
        samples_per_frame, t = 16000 // fps, 0
        for frame in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            if sound is not None:
                wave = (np.sin(2 * np.pi * 440 * np.arange(t, t + samples_per_frame) / 16000) * 8000)
                chunk = av.AudioFrame.from_ndarray(wave.astype(np.int16)[None], format="s16", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, t
                t += samples_per_frame
                out.mux(sound.encode(chunk))
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def episode_frames(scene_lengths, insert_at: int | None = None, marker_count: int = 8, seed: int = 0):
    """Scenes of the given lengths (hard cuts between them), with marker frames inserted at `insert_at`.

    Returns (frames, cut_indices, markers): the cut indices are the first frames of scenes 2, 3, ... in the
    final frame numbering (only meaningful without markers, which bring cuts of their own).
    """
    frames, cuts = [], []
    for k, length in enumerate(scene_lengths):
        if k:
            cuts.append(len(frames))
        frames += scene_frames(SCENE_COLOURS[(k + seed) % len(SCENE_COLOURS)], length, seed=seed + k)
    markers = marker_frames(marker_count, seed=seed + 1) if insert_at is not None else []
    if insert_at is not None:
        frames[insert_at:insert_at] = markers
    return frames, cuts, markers


def write_page(path, level: int, size=(60, 80), border=(0, 0, 0, 0), colour=None, mode: str = "RGB") -> Path:
    """A fake manga scan: a flat page of grey `level` (or `colour`) inside a black border of
    [top, bottom, left, right] pixels, so a correct crop leaves a perfectly flat page."""
    height, width = size
    top, bottom, left, right = border
    page = np.zeros((height, width, 3), np.uint8)
    page[top:height - bottom, left:width - right] = colour if colour is not None else (level, level, level)
    Image.fromarray(page).convert(mode).save(path)
    return Path(path)


def write_json(path, data) -> Path:
    path = Path(path)
    path.write_text(json.dumps(data, indent=2))
    return path

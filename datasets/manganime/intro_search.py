"""Finding an episode's intro or outro: the frame closest to a representative still, near the start or end."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from datasets.manganime.errors import ManganimeError
from datasets.manganime.similarity import generalized_cosine
from datasets.manganime.video_io import VideoFrames

SEARCH_MINUTES = 3.0  # the study's DURATION (its comment says five minutes; the value is three)


@dataclass(frozen=True)
class Match:
    """The best frame of a search, its score, the true cosine, and the clamped exclude range around it."""
    frame: int
    score: float
    cosine: float
    exclude: tuple[int, int]


def search_window(n_frames: int, fps: float, kind: str, minutes: float = SEARCH_MINUTES) -> range:
    """Frames searched: the first `minutes` of the episode for an intro, the last ones for an outro."""
    if minutes <= 0:
        raise ManganimeError(f"search window must be positive, got {minutes} minutes")
    length = min(n_frames, max(1, round(minutes * 60 * fps)))
    windows = {"intro": range(0, length), "outro": range(n_frames - length, n_frames)}
    if kind not in windows:
        raise ManganimeError(f"search type must be one of {', '.join(windows)}, got {kind!r}")
    return windows[kind]


def exclude_range(best: int, left: int, right: int, n_frames: int) -> tuple[int, int]:
    """[best-left, best+right] clamped to the video (the study clamped only the upper end, and one too far)."""
    return max(0, best - left), min(best + right, n_frames - 1)


def fit_reference(reference: np.ndarray, frame_shape) -> np.ndarray:
    """The reference still at the video's frame size.

    A still of another size (typically a screenshot of the raw episode) is resized bicubically to the whole
    frame, the same squash that `anime` applies to every frame, so its pixels line up with the video's.
    """
    height, width = frame_shape[:2]
    if reference.shape[:2] == (height, width):
        return reference
    return np.asarray(Image.fromarray(reference).resize((width, height), Image.BICUBIC))


def find_reference(video: VideoFrames, reference: np.ndarray, kind: str, left: int, right: int,
                   minutes: float = SEARCH_MINUTES) -> Match:
    """Scan the intro/outro window of `video` for the frame most similar to `reference` (H×W×3 uint8)."""
    reference = fit_reference(reference, video.frame_shape)
    window = search_window(len(video), video.fps, kind, minutes)
    best, best_score = window.start, -np.inf
    for i, frame in video.frames(window.start, window.stop, desc=f"{video.path.name} {kind}"):
        score = generalized_cosine(reference, frame)
        if score > best_score:
            best, best_score = i, score
    norm = float(np.linalg.norm(np.asarray(reference, dtype=np.float64)))
    return Match(frame=best, score=best_score, cosine=best_score / norm if norm else 0.0,
                 exclude=exclude_range(best, left, right, len(video)))

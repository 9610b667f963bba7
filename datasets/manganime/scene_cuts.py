"""Scene changes ("chunks"): where adjacent frames' similarity (the study's cosine by default) drops below a
threshold."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from datasets.manganime.errors import ManganimeError
from datasets.manganime.similarity import SIMILARITY_MEASURES

CUT_THRESHOLD = 0.8  # the study's CUTOFF
CUT_MEASURE = "cosine"  # the study's measure; "centered" also sees cuts between similarly coloured shots
_BLOCK = 48  # frames decoded per step of a walk; in-order decoding is far cheaper than seeking per frame


def check_cut_settings(threshold: float, measure: str) -> None:
    """Reject a cut threshold outside (0, 1] or an unknown similarity measure."""
    if not 0.0 < threshold <= 1.0:
        raise ManganimeError(f"cut threshold must be in (0, 1], got {threshold}")
    if measure not in SIMILARITY_MEASURES:
        raise ManganimeError(f"cut measure must be one of {', '.join(SIMILARITY_MEASURES)}, got {measure!r}")


class SceneCuts:
    """Cut detection over any frame sequence (len + indexing), computed on demand and remembered.

    A cut at index c means frame c starts a new chunk: similarity(frame[c-1], frame[c]) < threshold. The
    labeling tool walks to the next/previous cut lazily; the `chunks` command asks for all of them.
    """

    def __init__(self, frames, threshold: float = CUT_THRESHOLD, measure: str = CUT_MEASURE):
        check_cut_settings(threshold, measure)
        self.frames = frames
        self.threshold = threshold
        self.measure = SIMILARITY_MEASURES[measure]
        # _similarity[c - 1] holds cos(frame[c-1], frame[c]); NaN = not computed yet.
        self._similarity = np.full(max(len(frames) - 1, 0), np.nan)

    def _fill(self, first: int, stop: int, progress: str | None = None) -> None:
        """Compute the similarities at boundaries first <= c < stop that are still unknown, decoding in order."""
        first, stop = max(first, 1), min(stop, len(self.frames))
        todo = [c for c in range(first, stop) if np.isnan(self._similarity[c - 1])]
        if not todo:
            return
        previous_index, previous = None, None
        for c in tqdm(todo, desc=progress, unit="frame", leave=False, disable=progress is None):
            if previous_index != c - 1:
                previous = self.frames[c - 1]
            current = self.frames[c]
            self._similarity[c - 1] = self.measure(previous, current)
            previous_index, previous = c, current

    def similarity(self, c: int) -> float:
        """similarity(frame[c-1], frame[c]) for 1 <= c < len(frames)."""
        if not 1 <= c < len(self.frames):
            raise IndexError(f"boundary {c} out of range")
        self._fill(c, c + 1)
        return float(self._similarity[c - 1])

    def all_cuts(self, progress: str | None = None) -> list[int]:
        """Every cut of the sequence, in order (decodes the whole sequence once)."""
        self._fill(1, len(self.frames), progress)
        return [int(c) + 1 for c in np.flatnonzero(self._similarity < self.threshold)]

    def next_cut(self, frame: int) -> int | None:
        """The first cut after `frame` (the start of the next chunk), or None when there is none."""
        for first in range(frame + 1, len(self.frames), _BLOCK):
            stop = first + _BLOCK
            self._fill(first, stop)
            hits = np.flatnonzero(self._similarity[first - 1:stop - 1] < self.threshold)
            if hits.size:
                return first + int(hits[0])
        return None

    def previous_cut(self, frame: int) -> int | None:
        """The last cut before `frame` (the start of its chunk, or of the previous one when `frame` starts a
        chunk), or None when there is none. Never wraps around to the end of the video."""
        stop = min(frame, len(self.frames))
        while stop > 1:
            first = max(1, stop - _BLOCK)
            self._fill(first, stop)
            hits = np.flatnonzero(self._similarity[first - 1:stop - 1] < self.threshold)
            if hits.size:
                return first + int(hits[-1])
            stop = first
        return None


def chunk_ranges(cuts: list[int], n_frames: int) -> list[tuple[int, int]]:
    """Inclusive [first, last] frame ranges of the chunks that `cuts` split n_frames into."""
    starts = [0, *cuts]
    ends = [c - 1 for c in cuts] + [n_frames - 1]
    return list(zip(starts, ends))

"""The study's tag file `<episode>.json`: one entry per manga page, holding the last kept frame of that page.

Untagged pages hold the sentinel len(kept frames). Because the anime follows the manga in order, one tag
labels every frame since the previous tag: frame f belongs to the first tagged page whose tag is >= f
(the study's `bisect_left(tags, f)`); untagged pages between two tags simply get no frames, and frames
after the last tag are unlabelled.
"""
from __future__ import annotations

import bisect
from pathlib import Path

from datasets.manganime.atomic import read_json, write_json_atomic
from datasets.manganime.errors import ManganimeError


class TagError(ManganimeError):
    """A tag that would break the page order, or a tag file that does not fit its episode."""


class TagFile:
    """The tags of one episode, saved atomically after every change so a killed session loses nothing."""

    def __init__(self, path, n_frames: int, n_pages: int, tags: list[int] | None = None):
        if n_frames <= 0 or n_pages <= 0:
            raise TagError(f"{path}: an episode needs frames and pages (got {n_frames} frames, {n_pages} pages)")
        self.path = Path(path)
        self.n_frames = n_frames
        self.n_pages = n_pages
        self.tags = list(tags) if tags is not None else [n_frames] * n_pages
        self._undo: list[tuple[int, int]] = []
        self._lookup: tuple[list[int], list[int]] | None = None  # (tagged pages, their frames), rebuilt on change

    @classmethod
    def open(cls, path, n_frames: int, n_pages: int) -> "TagFile":
        """Load `path` (checking it fits the episode), or start an all-untagged file when it does not exist."""
        path = Path(path)
        if not path.exists():
            return cls(path, n_frames, n_pages)
        tags = read_json(path, "tag file")
        if not isinstance(tags, list) or any(isinstance(t, bool) or not isinstance(t, int) for t in tags):
            raise TagError(f"{path}: a tag file must be a list of frame numbers")
        if len(tags) != n_pages:
            raise TagError(f"{path}: {len(tags)} entries but the episode has {n_pages} pages "
                           f"(did 'pages' in config.json change?)")
        bad = [t for t in tags if not 0 <= t <= n_frames]
        if bad:
            raise TagError(f"{path}: frame {bad[0]} is outside the episode's {n_frames} kept frames "
                           f"(did the exclude ranges change?)")
        real = [t for t in tags if t < n_frames]
        # The study's files may repeat a frame (a page with no frames); only a decrease breaks the order.
        if any(b < a for a, b in zip(real, real[1:])):
            raise TagError(f"{path}: tagged frames decrease from one page to a later one: {real}")
        return cls(path, n_frames, n_pages, tags)

    def is_tagged(self, page: int) -> bool:
        return self.tags[page] < self.n_frames

    def tagged_pages(self) -> list[int]:
        return [p for p in range(self.n_pages) if self.is_tagged(p)]

    def page_of(self, frame: int) -> int | None:
        """The page that kept frame `frame` belongs to, or None when it is after the last tag."""
        if self._lookup is None:  # the export asks once per frame: don't rescan every page each time
            pages = self.tagged_pages()
            self._lookup = pages, [self.tags[p] for p in pages]
        pages, frames = self._lookup
        i = bisect.bisect_left(frames, frame)
        return pages[i] if i < len(pages) else None

    def labelled_frames(self) -> int:
        """How many kept frames (0 .. last tag) have a page."""
        pages = self.tagged_pages()
        return self.tags[pages[-1]] + 1 if pages else 0

    def tag(self, page: int, frame: int) -> None:
        """Pair `page` with `frame` as its last frame; refused (TagError) when it breaks the page order."""
        if not 0 <= page < self.n_pages:
            raise TagError(f"page {page} is outside this episode's pages 0..{self.n_pages - 1}")
        if not 0 <= frame < self.n_frames:
            raise TagError(f"frame {frame} is outside this episode's frames 0..{self.n_frames - 1}")
        before = [p for p in self.tagged_pages() if p < page]
        after = [p for p in self.tagged_pages() if p > page]
        if before and frame <= self.tags[before[-1]]:
            raise TagError(f"frame {frame} must come after frame {self.tags[before[-1]]}, the last frame of "
                           f"page {before[-1]}: pages follow the video in order")
        if after and frame >= self.tags[after[0]]:
            raise TagError(f"frame {frame} must come before frame {self.tags[after[0]]}, the last frame of "
                           f"page {after[0]}: pages follow the video in order")
        previous = self.tags[page]
        self._store(page, frame)
        self._undo.append((page, previous))

    def undo(self) -> int:
        """Revert the most recent tag of this session; returns its page."""
        if not self._undo:
            raise TagError("nothing to undo")
        page, value = self._undo[-1]
        self._store(page, value)
        self._undo.pop()
        return page

    def _store(self, page: int, value: int) -> None:
        """Set one entry and save; if the save fails, memory is put back so it always matches the file."""
        previous, self.tags[page] = self.tags[page], value
        try:
            self.save()
        except BaseException:
            self.tags[page] = previous
            self._lookup = None
            raise

    def save(self) -> None:
        """Write the tags atomically (after every change, so a killed session loses nothing)."""
        self._lookup = None
        write_json_atomic(self.path, self.tags)

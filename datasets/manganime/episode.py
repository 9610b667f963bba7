"""An episode as the labeling tool and the dataset export see it: kept frames, its manga pages, its tags."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.manganime.config import AnimeConfig, EpisodeConfig, load_anime_config
from datasets.manganime.errors import ManganimeError
from datasets.manganime.files import list_pages, list_videos, require_dir
from datasets.manganime.tags import TagFile
from datasets.manganime.video_io import VideoFrames


class KeptFrames:
    """A video minus its exclude ranges, indexed by kept-frame number (what tags count)."""

    def __init__(self, video: VideoFrames, exclude):
        keep = np.ones(len(video), dtype=bool)
        for first, last in exclude:
            keep[first:last + 1] = False  # ranges past the end of the video are clamped by the slice
        self.video = video
        self.raw = np.flatnonzero(keep)
        if self.raw.size == 0:
            raise ManganimeError(f"{video.path}: the exclude ranges remove every frame")

    def __len__(self) -> int:
        return int(self.raw.size)

    def raw_index(self, kept: int) -> int:
        """The video frame number of kept frame `kept`."""
        return int(self.raw[kept])

    def __getitem__(self, kept: int) -> np.ndarray:
        return self.video[self.raw_index(kept)]


@dataclass
class Episode:
    """Everything about one episode; build it with `load_episode`."""
    name: str
    config: EpisodeConfig
    frames: KeptFrames
    manga_dir: Path
    first_page: int
    pages: list[Path]
    tags: TagFile

    @property
    def fps(self) -> float:
        return self.frames.video.fps


def episode_names(anime_dir) -> list[str]:
    """The episodes of an anime folder: its video files' stems, natural-sorted."""
    return [p.stem for p in list_videos(anime_dir)]


def _video_path(anime_dir: Path, name: str) -> Path:
    matches = [p for p in list_videos(anime_dir) if p.stem == name]
    if not matches:
        raise ManganimeError(f"{anime_dir}: no video for episode {name!r}")
    if len(matches) > 1:
        raise ManganimeError(f"{anime_dir}: several videos for episode {name!r}: "
                             f"{', '.join(p.name for p in matches)}")
    return matches[0]


def load_episode(anime_dir, manga_root, name: str, config: AnimeConfig | None = None) -> Episode:
    """Open episode `name` of `anime_dir`: its video minus excludes, its manga page slice, its tag file."""
    anime_dir, manga_root = require_dir(anime_dir), require_dir(manga_root)
    config = config or load_anime_config(anime_dir, required=True)
    entry = config.episode(name)
    if entry.manga is None:
        raise ManganimeError(f"{config.path}: episode {name!r} has no 'manga' folder (e.g. \"glt/vol1\")")
    manga_dir = require_dir(manga_root / entry.manga)
    all_pages = list_pages(manga_dir)
    if not all_pages:
        raise ManganimeError(f"{manga_dir}: no page images (run `preprocess.py manga` first)")
    first, last = entry.pages if entry.pages is not None else (0, len(all_pages) - 1)
    if last >= len(all_pages):
        raise ManganimeError(f"{config.path}: episode {name!r} pages [{first}, {last}] but {manga_dir} has "
                             f"{len(all_pages)} pages")
    pages = all_pages[first:last + 1]
    frames = KeptFrames(VideoFrames(_video_path(anime_dir, name)), entry.exclude)
    tags = TagFile.open(anime_dir / f"{name}.json", len(frames), len(pages))
    return Episode(name=name, config=entry, frames=frames, manga_dir=manga_dir, first_page=first,
                   pages=pages, tags=tags)

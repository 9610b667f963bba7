"""Listing the media files of a folder in the order people number them (ep2 before ep10)."""
from __future__ import annotations

import re
from pathlib import Path

from datasets.image_io import IMAGE_EXTENSIONS
from datasets.manganime.errors import ManganimeError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".ts", ".flv", ".wmv", ".mpg"})

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers numerically: `2.png` < `10.png`, `ep2` < `ep10`."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def require_dir(path) -> Path:
    """Return `path` as a Path, or raise ManganimeError when it is not an existing directory."""
    path = Path(path)
    if not path.is_dir():
        raise ManganimeError(f"{path}: not a directory")
    return path


def list_media(folder, extensions) -> list[Path]:
    """Files directly inside `folder` whose extension is in `extensions`, natural-sorted; hidden files skipped."""
    folder = require_dir(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions]
    return sorted(files, key=lambda p: natural_key(p.name))


def list_videos(folder) -> list[Path]:
    """The video files of `folder`, natural-sorted."""
    return list_media(folder, VIDEO_EXTENSIONS)


def list_pages(folder) -> list[Path]:
    """The image files of `folder` (manga pages), natural-sorted."""
    return list_media(folder, IMAGE_EXTENSIONS)


def default_output_dir(source: Path) -> Path:
    """The study's convention: the same path with its `data` folder replaced by `preprocess`.

    `data/manga/glt/vol1` → `preprocess/manga/glt/vol1`. Raises ManganimeError when the path has no `data`
    component, so the caller asks for an explicit --out instead of guessing.
    """
    parts = source.resolve().parts
    if "data" not in parts:
        raise ManganimeError(f"{source}: no 'data' folder in the path to map to 'preprocess'; pass --out")
    i = len(parts) - 1 - parts[::-1].index("data")  # the innermost `data` is the dataset root
    return Path(*parts[:i], "preprocess", *parts[i + 1:])

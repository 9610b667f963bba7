"""Renaming a folder's episodes or pages to 0, 1, 2, ... in natural order, without ever losing a file.

The study renamed everything to `.temp` and then to the final names, taking one extension for all files.
Here each file keeps its own extension, the whole plan is checked before anything moves (a target name held
by a file outside the set is refused), and a failure half-way moves the files back.
"""
from __future__ import annotations

import fnmatch
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from datasets.manganime.errors import ManganimeError
from datasets.manganime.files import VIDEO_EXTENSIONS, list_pages, list_videos, natural_key, require_dir


@dataclass(frozen=True)
class Rename:
    source: Path
    target: Path


def select_files(folder: Path, pattern: str | None = None) -> list[Path]:
    """Files to renumber: those matching `pattern`, else the videos, else (no videos) the images."""
    if pattern is not None:
        files = [p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, pattern)]
        return sorted(files, key=lambda p: natural_key(p.name))
    return list_videos(folder) or list_pages(folder)


def plan_reindex(folder, pattern: str | None = None) -> list[Rename]:
    """The renames that number the selected files 0..n-1; identity renames are left out."""
    folder = require_dir(folder)
    files = select_files(folder, pattern)
    if not files:
        raise ManganimeError(f"{folder}: no files to index")
    plan = [Rename(p, folder / f"{i}{p.suffix}") for i, p in enumerate(files)]
    moving = {p.name for p in files}
    for r in plan:
        if r.target.exists() and r.target.name not in moving:
            raise ManganimeError(f"{r.target}: already exists and is not one of the files being indexed; "
                                 f"move it away or narrow --pattern")
    tag_files = [p.with_suffix(".json").name for p in files
                 if p.suffix.lower() in VIDEO_EXTENSIONS and p.with_suffix(".json").exists()]
    if tag_files:
        raise ManganimeError(f"{folder}: tag file(s) {', '.join(tag_files)} are named after the current "
                             f"episodes; index before labeling")
    return [r for r in plan if r.source != r.target]


def apply_reindex(plan: list[Rename]) -> None:
    """Carry out `plan` in two phases through unique temporary names, rolling back on any failure."""
    token = uuid.uuid4().hex[:8]
    staged: list[tuple[Rename, Path]] = []
    done: list[tuple[Rename, Path]] = []
    try:
        for i, r in enumerate(plan):
            temp = r.source.with_name(f".reindex-{token}-{i}{r.source.suffix}")
            os.rename(r.source, temp)
            staged.append((r, temp))
        for r, temp in staged:
            if r.target.exists():  # a file appeared since planning; never overwrite it
                raise ManganimeError(f"{r.target}: appeared while indexing")
            os.rename(temp, r.target)
            done.append((r, temp))
    except (OSError, ManganimeError) as exc:
        for r, temp in reversed(done):
            os.rename(r.target, temp)
        for r, temp in reversed(staged):
            os.rename(temp, r.source)
        if isinstance(exc, ManganimeError):
            raise
        raise ManganimeError(f"indexing failed and was rolled back ({exc})") from None

"""Atomic writes: a temp file in the destination folder, then os.replace, so a crash never leaves half a file.

Images go through datasets.image_io.write_image_atomic; this module covers JSON and files written by
other libraries (videos, zip archives) through `atomic_path`.
"""
from __future__ import annotations

import json
from pathlib import Path

from datasets.atomic import atomic_path as _atomic_path
from datasets.manganime.errors import ManganimeError


def atomic_path(path, suffix: str = ""):
    """datasets.atomic.atomic_path, with a missing output folder reported as a one-line ManganimeError."""
    if not Path(path).parent.is_dir():
        raise ManganimeError(f"{path}: output folder does not exist")
    return _atomic_path(path, suffix)


def write_json_atomic(path, data) -> None:
    """Write `data` as indented JSON (sorted keys, like the study's config files) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path, what: str = "JSON file"):
    """Read a JSON file, turning a missing or malformed file into a one-line ManganimeError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManganimeError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManganimeError(f"{path}: cannot read {what} ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManganimeError(f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None

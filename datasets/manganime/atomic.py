"""The manganime tools' atomic outputs: `runtime.atomic`'s one mechanism, failures as one-line ManganimeErrors.

Images go through datasets.image_io.write_image_atomic; this module covers JSON and files written by
other libraries (videos, zip archives) through `atomic_path`.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from datasets.manganime.errors import ManganimeError
from runtime.atomic import atomic_path as _atomic_path


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """runtime.atomic.atomic_path (the temp keeps the suffix), with an OSError — a missing output folder, a failed
    write or rename — reported as a one-line ManganimeError naming `path`."""
    try:
        with _atomic_path(path) as tmp:
            yield tmp
    except OSError as exc:
        raise ManganimeError(f"{path}: cannot write ({exc.strerror or exc})") from None


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

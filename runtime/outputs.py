"""The runtime's output boundary: output folders and atomic output files, failures as one-line ConversionErrors."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from runtime.atomic import atomic_path
from runtime.errors import ConversionError


def prepare_output_dir(directory: str | os.PathLike) -> Path:
    """Create the output folder (and parents) or fail with one clear line."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConversionError(f"cannot create output folder {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK):
        raise ConversionError(f"output folder {directory} is not writable")
    return directory


@contextlib.contextmanager
def output_file(path: str | os.PathLike) -> Iterator[Path]:
    """`runtime.atomic.atomic_path` for a runtime output: the folder is created first, and an OSError (from the
    temp file, the writer or the final rename) becomes a ConversionError naming `path`."""
    path = Path(path)
    prepare_output_dir(path.parent)
    try:
        with atomic_path(path) as tmp:
            yield tmp
    except OSError as exc:
        raise ConversionError(f"cannot write {path}: {exc.strerror or exc}") from None


def refuse_existing(paths, overwrite: bool) -> None:
    """The overwrite policy of every CLI that writes results (like ffmpeg's -n / -y): an existing output is an
    error naming it, unless the user passed --overwrite. Checked before any work, for every planned output."""
    if overwrite:
        return
    for path in map(Path, paths):
        if path.exists():
            raise ConversionError(f"{path} exists; pass --overwrite to replace it")


def add_overwrite_argument(parser) -> None:
    """--overwrite, for CLIs whose outputs would replace existing files."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (default: refuse, naming the file)")

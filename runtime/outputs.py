"""The output boundary of every CLI: output folders, atomic output files (failures as one-line ConversionErrors),
and the overwrite policy.

Overwrite policy (like ffmpeg's -n / -y): a command that writes results refuses to replace any file that already
exists, naming it, unless the user passes --overwrite; it checks every planned output before doing any work, so a
refusal costs nothing and writes nothing. Inputs are never overwritten, --overwrite or not. Name parts the user
gives (photo2anime's --suffix) cannot hold path separators, so every output stays inside its output folder.
"""
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
    """The overwrite policy of every CLI that writes results (see the module docstring): an existing output is an
    error naming it (and how many more exist), unless `overwrite`. A folder where a file would go is an error
    either way (--overwrite replaces files, it does not delete folders). Call it with every planned output,
    before any work."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_dir():
            raise ConversionError(f"output {path} is a folder; choose another output name")
    if overwrite:
        return
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing:
        more = f" (and {len(existing) - 1} more output(s))" if len(existing) > 1 else ""
        raise ConversionError(f"{existing[0]} exists{more}; pass --overwrite to replace it")


def add_overwrite_argument(parser, *aliases: str) -> None:
    """--overwrite (and `aliases`, e.g. a tool's older --force), for CLIs whose outputs would replace files."""
    parser.add_argument("--overwrite", *aliases, dest="overwrite", action="store_true",
                        help="replace output files that already exist (default: refuse, naming the file)")


def check_name_part(value: str, option: str) -> str:
    """A piece of a file name the user chose (`--suffix`): no path separator, no NUL, so outputs cannot be
    written outside their folder."""
    separators = {"/", os.sep, os.altsep or "/", "\\", "\0"}
    if any(sep in value for sep in separators):
        raise ConversionError(f"{option} {value!r} must not contain a path separator (or NUL): it is part of a "
                              f"file name")
    return value

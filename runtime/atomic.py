"""Atomic output files: write a temp file beside the target, `os.replace` it into place only on success."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from runtime.errors import ConversionError

# mkstemp creates 0600 files; outputs should get the usual permissions. Read the umask once (setting it is the only
# way to read it, so do it at import time, before any threads exist).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def prepare_output_dir(directory: Path) -> Path:
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
def atomic_path(final: Path):
    """Yield a temp path in the same folder as `final`; move it to `final` when the block succeeds.

    The temp file keeps `final`'s suffix so that writers which pick a format by extension still work; it is
    hidden (leading dot) and removed on any failure, so a crash never leaves a half-written output behind.
    """
    final = Path(final)
    prepare_output_dir(final.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent)
    except OSError as exc:
        raise ConversionError(f"cannot write to {final.parent}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        try:
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, final)
        except OSError as exc:
            raise ConversionError(f"cannot write {final}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(final: Path, data: bytes) -> Path:
    """Write `data` to `final` through `atomic_path` (placeholder until the atomic helpers are unified)."""
    with atomic_path(Path(final)) as tmp:
        Path(tmp).write_bytes(data)
    return Path(final)

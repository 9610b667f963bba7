"""The project's one atomic-write mechanism: write a temp file beside the target, `os.replace` it into place only
on success, remove it on any failure. Readers never see half a file and a failed write leaves any older file intact.

Every layer (runtime, datasets, MindSpore checkpoints, ONNX export) writes through here. Failures are plain
`OSError`s; each layer turns them into its own one-line error at its boundary, naming the path.

Signals: the cleanup runs for every exception, KeyboardInterrupt included; `runtime.errors.run_main` turns
SIGTERM and SIGHUP into one, so a stopped CLI leaves no temp file either. Files a writer derives from the temp
name (MindSpore's `save_checkpoint` writes `<temp stem>.tmp` and renames it) are removed with it.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Longest part of the target's name copied into the temp name: keeps temp names under NAME_MAX (255 bytes) even
# for long (or multi-byte) target names.
_NAME_PART = 64


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc/self/status, kernel >= 4.7).

    The fallback (set and restore) briefly changes the umask, which another thread creating a file at that
    moment would see; it is only taken where /proc does not report the umask.
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = False) -> Iterator[Path]:
    """Yield a temp path in `path`'s folder; when the block succeeds it replaces `path`, on any error it is removed.

    The temp file is hidden (leading dot) and keeps `path`'s suffix, so writers that pick a format by extension
    (PIL, PyAV, zipfile, MindSpore) can write it directly; it exists (empty) when yielded and writers may replace
    it. The final file gets the usual permissions, 0o666 & ~umask (mkstemp's private 0o600, or whatever mode the
    writer left, would otherwise survive the rename).

    `make_parents`: create missing parent folders; otherwise a missing folder is a FileNotFoundError.
    Raises OSError (never a layer-specific type) for a folder that cannot be created or written and for a
    failed rename; errors raised in the block propagate unchanged.
    """
    path = Path(path)
    parent = path.parent
    if make_parents:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "output folder does not exist", str(parent))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem[:_NAME_PART]}.", suffix=f".tmp{path.suffix[:_NAME_PART]}",
                                    dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        remove_temp(tmp, path.suffix[:_NAME_PART])
        raise


def remove_temp(tmp: Path, suffix: str = "") -> None:
    """Remove the temp file `tmp` and any file a writer made from its unique name: mkstemp's random part makes
    `<hidden stem>.<random>` ours alone, so `<that>.*` (MindSpore's `.tmp`) is ours too."""
    unique = tmp.name[: len(tmp.name) - len(f".tmp{suffix}")]
    for leftover in [tmp, *tmp.parent.glob(glob.escape(unique) + ".*")]:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(leftover)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, make_parents: bool = False) -> Path:
    """Write `data` to `path` atomically (see `atomic_path`); returns `path`."""
    path = Path(path)
    with atomic_path(path, make_parents=make_parents) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      make_parents: bool = False) -> Path:
    """Write `text` to `path` atomically (see `atomic_path`); returns `path`."""
    path = Path(path)
    with atomic_path(path, make_parents=make_parents) as tmp:
        tmp.write_text(text, encoding=encoding)
    return path


class CheckedFile(io.RawIOBase):
    """A binary file for writers that report write errors late: libav buffers its output and only says the disk
    was full when the file is closed, after every frame was converted. Handed to such a writer (`av.open(file,
    "w", ...)`), this records the first failed write; the caller calls `check()` after each unit of work and so
    stops at the first error. Writes are complete or fail (short writes are retried), seeks are allowed."""

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self._file = open(path, "wb", buffering=0)
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.error is not None:
            raise self.error
        view = memoryview(data).cast("B")
        try:
            while view:
                written = self._file.write(view)
                if not written:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
        except OSError as exc:
            self.error = exc
            raise
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def check(self) -> None:
        """Raise the first write error (an OSError), if any."""
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()

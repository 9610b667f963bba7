"""The project's one atomic-write mechanism: write a temp file beside the target, `os.replace` it into place only
on success, remove it on any failure. Readers never see half a file and a failed write leaves any older file intact.

Every layer (runtime, datasets, MindSpore checkpoints, ONNX export) writes through here. Failures are plain
`OSError`s; each layer turns them into its own one-line error at its boundary, naming the path.
"""
from __future__ import annotations

import contextlib
import errno
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
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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

"""Atomic outputs for every tool outside the runtime: write a temp file beside the target, then `os.replace`.

Readers never see half a file, and a crash or an error leaves any older file intact. (`runtime/` keeps its own
copy so that it installs without this package.)
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix: str = "", make_parents: bool = False):
    """Yield a temporary path beside `path`; on success it replaces `path`, on any error it is removed.

    `suffix` lets writers that pick a format from the extension (MindSpore checkpoints, PyAV, zipfile) see it.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary shareable files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text: str, make_parents: bool = True) -> None:
    with atomic_path(path, make_parents=make_parents) as tmp:
        tmp.write_text(text, encoding="utf-8")

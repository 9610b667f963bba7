"""Writing MindSpore checkpoints atomically (ms.save_checkpoint writes the file itself, so write beside and rename)."""
from __future__ import annotations

from pathlib import Path

import mindspore as ms

from datasets.atomic import atomic_path


def save_checkpoint_atomic(obj, path, make_parents: bool = True) -> Path:
    """`obj`: a Cell, or a list of {"name", "data"} entries, as ms.save_checkpoint takes."""
    path = Path(path)
    with atomic_path(path, suffix=".ckpt", make_parents=make_parents) as tmp:
        ms.save_checkpoint(obj, str(tmp))
    return path

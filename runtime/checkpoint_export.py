"""A MindSpore checkpoint given where the runtime expects an ONNX model: exported once, cached beside it.

The runtime never imports MindSpore, so a `.ckpt` (the MindSpore AnimeGANv2 port's `--video_ckpt_file_name
netG_28.ckpt`, or one of our runs' checkpoints) is turned into ONNX by `export/to_onnx.py` in a separate process,
which recognises the network from the checkpoint and proves parity before it writes anything. The result is cached
as `<checkpoint name>.onnx` beside the checkpoint; the export records the checkpoint's SHA-256 in the model's
metadata (`source_checkpoint_sha256`), and a cache whose SHA-256 differs from the checkpoint's is exported again.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Callable

from runtime.errors import ConversionError

ROOT = Path(__file__).resolve().parents[1]
EXPORT_SCRIPT = ROOT / "export" / "to_onnx.py"
CHECKPOINT_SUFFIX = ".ckpt"


def is_checkpoint(path: Path) -> bool:
    return Path(path).suffix.lower() == CHECKPOINT_SUFFIX


def cache_path(ckpt: Path) -> Path:
    """`X.ckpt` → `X.ckpt.onnx` (a name no user file is likely to have, so no file of theirs is replaced)."""
    return ckpt.with_name(ckpt.name + ".onnx")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def exported_from(model: Path) -> str | None:
    """The `source_checkpoint_sha256` an exported model records, or None (unreadable, or no such entry)."""
    from runtime.session import make_session

    try:
        session = make_session(model)
    except ConversionError:
        return None
    return session.get_modelmeta().custom_metadata_map.get("source_checkpoint_sha256") or None


def _failure(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1][len("error:"):].strip()
    if any("No module named 'mindspore'" in line for line in lines):
        return ("MindSpore is not installed here (pip install -r requirements.txt); or export it where it is and "
                "pass the .onnx")
    return lines[-1] if lines else "no output"


def onnx_model_for(path: str | Path, log: Callable[[str], None] | None = None) -> Path:
    """`path` itself for an ONNX model; for a MindSpore `.ckpt`, its exported ONNX model (the cache when it was
    exported from this very checkpoint, else a fresh export). ConversionError when the export fails."""
    log = log or (lambda message: print(message, file=sys.stderr))
    path = Path(path)
    if not is_checkpoint(path):
        return path
    if not path.is_file():
        raise ConversionError(f"checkpoint not found: {path}")
    cache = cache_path(path)
    digest = file_sha256(path)
    if cache.is_file() and exported_from(cache) == digest:
        log(f"note: using {cache}, exported earlier from {path.name} (same SHA-256)")
        return cache
    command = [sys.executable, str(EXPORT_SCRIPT), "--ckpt", str(path), "--output", str(cache), "--quiet"]
    log(f"note: {path.name} is a MindSpore checkpoint; the runtime runs ONNX, so it is exported once, in a "
        f"separate process ({' '.join(['python', 'export/to_onnx.py', *command[2:]])}), and cached as {cache} "
        f"for later runs")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise ConversionError(f"cannot export {path.name} to ONNX: {_failure(done.stderr)}")
    return cache

"""MindSpore checkpoints: written atomically, and generator weights read back with exact checks.

Generator weights come from either file the trainer writes:
- `RUN_DIR/generator.ckpt` (or one from import_weights.py): names exactly as in the network (`block_a.0.conv.weight`);
- a full training checkpoint (`checkpoints/step_*.ckpt`): every network and optimiser, the generator's parameters
  prefixed `G/` (the family's `networks()` key).
Anything but an exact match (missing key, extra key, wrong shape) is refused, naming the first offending key: a
partly loaded generator would run (and export) random weights without any other sign. Export, MindSpore
inference and the trainer's resume all load through here.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import mindspore as ms
from mindspore import nn

from runtime.atomic import atomic_path
from runtime.errors import UserError


class CheckpointError(UserError):
    """The checkpoint is missing, unreadable, or does not match the network (message names the key)."""


def save_checkpoint_atomic(obj, path, make_parents: bool = True) -> Path:
    """The MindSpore checkpoint writer: `obj` (a Cell, or a list of {"name", "data"} entries, as ms.save_checkpoint
    takes) to `path`, through the one atomic mechanism (ms.save_checkpoint writes the file itself, so it writes
    the temp file, which is then renamed). CheckpointError, naming the path, when it cannot be written.

    `path` must end in .ckpt: MindSpore appends that suffix to any other name, so the temp file it was given would
    stay empty and the checkpoint would land elsewhere.
    """
    path = Path(path)
    if path.suffix != ".ckpt":
        raise CheckpointError(f"{path}: a MindSpore checkpoint name must end in .ckpt")
    try:
        with atomic_path(path, make_parents=make_parents) as tmp:
            ms.save_checkpoint(obj, str(tmp))
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    return path


GENERATOR_PREFIX = "G"  # the family's networks() key for the generator


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path: str | Path) -> dict:
    """Name → Parameter of a MindSpore checkpoint; CheckpointError for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        params = ms.load_checkpoint(str(path))
    except Exception as e:  # MindSpore raises ValueError/RuntimeError with multi-line text for corrupt files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from None
    if not params:
        raise CheckpointError(f"checkpoint {path} holds no parameters")
    return params


def params_under(params: dict, prefix: str) -> dict:
    """The entries of a training checkpoint saved under `prefix` (`G/block_a.0.conv.weight`), prefix removed."""
    head = prefix + "/"
    return {k[len(head):]: v for k, v in params.items() if k.startswith(head)}


def generator_params(params: dict) -> dict:
    """The generator's parameters: a training checkpoint's `G/...` entries (prefix removed), else all."""
    return params_under(params, GENERATOR_PREFIX) or dict(params)


def load_exact(net: nn.Cell, params: dict, where: str) -> None:
    """Load `params` into `net` only if names and shapes match exactly; else CheckpointError "`where`: ..."."""
    expected = {p.name: p for p in net.get_parameters()}
    missing = sorted(set(expected) - set(params))
    if missing:
        raise CheckpointError(f"{where}: parameter '{missing[0]}' is missing ({len(missing)} missing in all)")
    extra = sorted(set(params) - set(expected))
    if extra:
        raise CheckpointError(f"{where}: unexpected parameter '{extra[0]}' ({len(extra)} unexpected in all)")
    for name, p in expected.items():
        got = tuple(params[name].shape)
        if got != tuple(p.shape):
            raise CheckpointError(f"{where}: parameter '{name}' has shape {list(got)} in the checkpoint but "
                                  f"{list(p.shape)} in the network")
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    if not_loaded:
        raise CheckpointError(f"{where}: parameter '{not_loaded[0]}' was not loaded")


def load_generator_weights(net: nn.Cell, path: str | Path) -> str:
    """Load `path` into `net` after checking names and shapes exactly; returns the file's SHA-256."""
    path = Path(path)
    load_exact(net, generator_params(read_checkpoint(path)),
               f"checkpoint {path.name} does not match the generator (does it belong to this config?)")
    return file_sha256(path)

"""Loading generator weights for export, from either checkpoint the trainer writes.

- `RUN_DIR/generator.ckpt`: parameter names exactly as in the network (`block_a.0.conv.weight`);
- a full training checkpoint (`checkpoints/step_*.ckpt`): every network and optimiser, the generator's parameters
  prefixed `G/` (the family's `networks()` key).

Anything but an exact match (missing key, extra key, wrong shape) is refused, naming the first offending key: a
partly loaded generator would export random weights that still pass the parity check.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import mindspore as ms
from mindspore import nn

from export.errors import CheckpointError

GENERATOR_PREFIX = "G/"


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


def generator_params(params: dict) -> dict:
    """The generator's parameters: a training checkpoint's `G/...` entries (prefix removed), else all."""
    if any(k.startswith(GENERATOR_PREFIX) for k in params):
        return {k[len(GENERATOR_PREFIX):]: v for k, v in params.items() if k.startswith(GENERATOR_PREFIX)}
    return dict(params)


def load_generator_weights(net: nn.Cell, path: str | Path) -> str:
    """Load `path` into `net` after checking names and shapes exactly; returns the file's SHA-256."""
    path = Path(path)
    params = generator_params(read_checkpoint(path))
    expected = {p.name: p for p in net.get_parameters()}
    where = f"checkpoint {path.name} does not match the generator"
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
    return file_sha256(path)

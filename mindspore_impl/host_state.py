"""Host-side training state (history pools, NumPy RNG states, running means) saved beside a checkpoint.

A family's `host_state()` is a tree of dicts (str keys), lists, numbers, strings, booleans, None and NumPy arrays.
It is written as one `.npz`: every array under its own key, the rest of the tree as JSON with `{"__array__": key}`
placeholders. NumPy's bit-generator states are dicts of Python ints, so they round-trip exactly (JSON keeps big
ints). Reading never unpickles (`allow_pickle=False`): a state file cannot run code.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from runtime.atomic import write_bytes_atomic
from runtime.errors import UserError

_TREE_KEY = "__tree__"
_ARRAY = "__array__"


class HostStateError(UserError, ValueError):
    """A state tree holds something that cannot be saved, or a state file is unreadable."""


def _flatten(node, arrays: dict, path: str):
    if isinstance(node, np.ndarray):
        if node.dtype == object:
            raise HostStateError(f"host state {path or '<root>'}: object arrays cannot be saved")
        key = f"a{len(arrays)}"
        arrays[key] = node
        return {_ARRAY: key}
    if isinstance(node, np.generic):
        return node.item()
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not isinstance(k, str) or k == _ARRAY:
                raise HostStateError(f"host state {path or '<root>'}: key {k!r} must be a string other than {_ARRAY}")
            out[k] = _flatten(v, arrays, f"{path}.{k}" if path else k)
        return out
    if isinstance(node, (list, tuple)):
        return [_flatten(v, arrays, f"{path}[{i}]") for i, v in enumerate(node)]
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise HostStateError(f"host state {path or '<root>'}: cannot save a {type(node).__name__}")


def _unflatten(node, arrays):
    if isinstance(node, dict):
        if set(node) == {_ARRAY}:
            return arrays[node[_ARRAY]]
        return {k: _unflatten(v, arrays) for k, v in node.items()}
    if isinstance(node, list):
        return [_unflatten(v, arrays) for v in node]
    return node


def encode(tree) -> bytes:
    """The .npz bytes of a state tree (tuples come back as lists)."""
    arrays: dict[str, np.ndarray] = {}
    meta = json.dumps(_flatten(tree, arrays, ""))
    buffer = io.BytesIO()
    np.savez(buffer, **{_TREE_KEY: np.array(meta)}, **arrays)
    return buffer.getvalue()


def save(path: str | Path, tree) -> Path:
    """Write `tree` atomically to `path` (.npz)."""
    return write_bytes_atomic(path, encode(tree))


def load(path: str | Path):
    """Read a tree written by `save`; HostStateError for a missing, truncated or foreign file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise HostStateError(f"host state file {path.name} is missing") from None
    except (OSError, ValueError) as exc:  # zipfile/npz errors for damaged files
        raise HostStateError(f"cannot read host state {path.name}: {exc}") from None
    if _TREE_KEY not in arrays:
        raise HostStateError(f"{path.name} is not a host state file (no {_TREE_KEY} entry)")
    try:
        return _unflatten(json.loads(str(arrays.pop(_TREE_KEY))), arrays)
    except (json.JSONDecodeError, KeyError) as exc:
        raise HostStateError(f"cannot read host state {path.name}: {exc}") from None

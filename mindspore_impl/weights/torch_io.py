"""Reading PyTorch `.pt` / `.pth` state dicts as NumPy arrays, with torch as an optional dependency."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from mindspore_impl.weights.base import WeightImportError

# Keys under which training scripts commonly nest the state dict inside a checkpoint dict.
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "generator", "netG", "G", "params")
# nn.DataParallel / DistributedDataParallel save every key with this prefix.
DATA_PARALLEL_PREFIX = "module."


def _is_state_dict(obj, torch) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj, torch, origin: str) -> dict:
    """Return the {name: tensor} dict inside `obj`: itself, or one level down under a WRAPPER_KEYS key."""
    if _is_state_dict(obj, torch):
        return obj
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if _is_state_dict(obj.get(key), torch):
                return obj[key]
        keys = ", ".join(repr(k) for k in list(obj)[:6])
        raise WeightImportError(f"{origin}: no state dict found (top-level keys: {keys or 'none'}; "
                                f"expected tensors, or a dict under one of {', '.join(WRAPPER_KEYS)})")
    raise WeightImportError(f"{origin}: expected a state dict, got a {type(obj).__name__}")


def read_torch_state_dict(path) -> Dict[str, np.ndarray]:
    """Read a PyTorch state dict file as {key: float32 array}.

    Accepts a bare state dict or a checkpoint dict wrapping one (`state_dict`, `model`, ...), strips a
    DataParallel `module.` prefix, and loads with `weights_only=True` (no arbitrary code from the file).
    Raises WeightImportError when torch is missing or the file is absent, corrupt or truncated.
    """
    path = Path(path)
    try:
        import torch
    except ImportError:
        raise WeightImportError("reading PyTorch .pt/.pth files needs PyTorch, which is not installed "
                                "(pip install torch; the CPU wheel is enough)") from None
    if not path.is_file():
        raise WeightImportError(f"{path}: file not found")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle/EOF errors of every kind for damaged or foreign files
        msg = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise WeightImportError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__}: {msg})") from None
    state = unwrap_state_dict(obj, torch, str(path))
    if all(k.startswith(DATA_PARALLEL_PREFIX) for k in state):
        state = {k[len(DATA_PARALLEL_PREFIX):]: v for k, v in state.items()}
    out = {}
    for key, tensor in state.items():
        # Half/bfloat16 files exist; NumPy has no bfloat16, so widen in torch first. Integer tensors keep
        # their dtype so the rename check can reject them by name.
        t = tensor.detach().cpu()
        out[key] = (t.float() if t.is_floating_point() else t).numpy()
    return out

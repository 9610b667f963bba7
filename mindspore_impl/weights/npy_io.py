"""Reading pickled `.npy` weight files (e.g. tensorflow-vgg's `vgg19.npy`) without running code from them.

`np.load(allow_pickle=True)` unpickles whatever the file says, and a pickle can name any callable (`os.system`),
so a crafted weights file would run code. Such files only hold an object array wrapping plain containers
(dict / list / tuple / str / numbers) of NumPy arrays, so the unpickler here admits exactly the globals that
rebuild an ndarray and refuses every other one, naming it.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mindspore_impl.weights.base import WeightImportError


def _array_reconstruct():
    """NumPy's pickle entry point for arrays (`numpy._core` in NumPy 2, `numpy.core` before)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# (module, name) as written in the pickle → the object it may resolve to. Both NumPy spellings are accepted,
# since files written by either NumPy major version (or Python 2) exist.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _array_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _array_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside _ALLOWED_GLOBALS (`args[0]`: its dotted name)."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers of ndarrays; any other global (function, class) is refused before it is touched."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None


def load_pickled_npy(path) -> object:
    """The object stored in a `.npy` file of object dtype (as `np.save(path, obj)` writes it), unpickled with
    only NumPy array reconstruction allowed. A 0-d object array (a saved dict) is unwrapped to its item.

    Raises WeightImportError, one line naming the path, for a missing, non-.npy or damaged file, and for a
    pickle that names any other global (the message names that global; nothing from the file has run).
    """
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise WeightImportError(f"{path}: file not found") from None
    except OSError as exc:
        raise WeightImportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                _, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        except ValueError as exc:
            raise WeightImportError(f"{path}: not a .npy file ({exc})") from None
        if not dtype.hasobject:
            raise WeightImportError(f"{path}: holds a plain {dtype} array, not a pickled weights dict")
        try:
            # latin1: arrays pickled by Python 2 store their bytes as str (numpy's own np.load uses it too)
            obj = _ArraysOnlyUnpickler(fh, encoding="latin1").load()
        except _ForbiddenGlobal as exc:
            raise WeightImportError(f"{path}: refusing to load: the pickle asks for forbidden global {exc.args[0]}, "
                                    "which a weights file never needs (it could run code)") from None
        except Exception as exc:  # EOF, struct, value errors of every kind for truncated or foreign data
            raise WeightImportError(f"{path}: damaged pickle ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    return obj

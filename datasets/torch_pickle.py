"""Read pickled PyTorch tensors as NumPy arrays without PyTorch and without running code from the file.

The Anime-Generation study keeps its tags as a pickle of torch tensors (`tags.pickle`). A plain `pickle.load`
would need torch installed and would run whatever callable the file names (`os.system` included), so this
reader unpickles with an allow-list: the handful of globals torch's tensor pickling uses are mapped to NumPy
stand-ins, every other global is refused by name before anything from the file runs.

What torch writes, and what is rebuilt from it:
- a tensor reduces to `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`
  (torch 0.4 and later; `_rebuild_tensor(storage, offset, size, stride)` before);
- `pickle.dump` of a tensor stores its storage as `torch.storage._load_from_bytes(b)`, where `b` is the storage
  in torch's *legacy* save format: five pickles (magic number, protocol 1001, system info, the storage as a
  persistent id `('storage', torch.FloatStorage, key, location, numel, view)`, the list of keys), then each
  storage as an int64 element count followed by its raw little-endian bytes;
- `torch.save` files are that legacy format as a whole (torch < 1.6) or a zip archive with `<dir>/data.pkl`
  (persistent ids `('storage', type, key, location, numel)`) and the raw bytes in `<dir>/data/<key>`.
All three are read here. Containers (dict, list, tuple, `collections.OrderedDict`) and NumPy arrays (for pickles
written by NumPy code) are allowed too.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from runtime.errors import UserError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# torch.save writes its legacy files with pickle protocol 2, so they start with these bytes
_LEGACY_HEAD = pickle.dumps(LEGACY_MAGIC, protocol=2)

# torch storage class names → NumPy dtypes (little-endian, as torch writes on every platform it runs on)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class TorchPickleError(UserError, ValueError):
    """The file is not a readable pickle of tensors, or it names a global this reader refuses."""


class _ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (`args[0]`: its dotted name)."""


class _StorageType:
    """Stand-in for a `torch.<X>Storage` class referenced by a persistent id."""

    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    """A tensor view `(offset, size, stride)` of a 1-D storage array, copied; bounds checked first, because a
    crafted file could otherwise make `as_strided` read outside the storage."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise pickle.UnpicklingError("tensor storage is not a storage")
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(offset)
    if len(size) != len(stride) or min(size, default=1) < 0 or min(stride, default=0) < 0 or offset < 0:
        raise pickle.UnpicklingError(f"bad tensor geometry size={size} stride={stride} offset={offset}")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= len(storage):
        raise pickle.UnpicklingError(f"tensor of size {size} reaches element {last} of a {len(storage)}-element "
                                     "storage")
    base = storage[offset:]
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(base, size, tuple(s * item for s in stride)).copy()


def _rebuild_or_defer(storage, *args):
    """`_rebuild_tensor_v2`: at once over a storage array, or later (`_resolve`) over a storage whose bytes come
    after the object pickle (legacy format)."""
    if isinstance(storage, _Placeholder):
        return _PendingTensor(storage, args)
    return _rebuild_tensor(storage, *args)


def _allowed_globals() -> dict:
    reconstruct = _numpy_reconstruct()
    allowed = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_or_defer,
        ("torch._utils", "_rebuild_tensor"): _rebuild_or_defer,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    allowed.update({("torch", name): _StorageType(name) for name in STORAGE_DTYPES})
    return allowed


class _Unpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; persistent ids (torch storages) go to `storage_of(pid)`."""

    def __init__(self, file, storage_of=None):
        super().__init__(file, encoding="latin1")  # Python 2 era pickles store bytes as str
        self._storage_of = storage_of

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid):
        if self._storage_of is None:
            raise pickle.UnpicklingError("unexpected persistent id outside a torch storage file")
        return self._storage_of(pid)


def _storage_id(pid) -> tuple[_StorageType, str, int]:
    """(type, key, numel) of a persistent id `('storage', type, key, location, numel[, view])`."""
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
        raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]}")
    if len(pid) > 5 and pid[5] is not None:
        raise pickle.UnpicklingError("storage views (torch < 0.4 files) are not supported")
    return pid[1], str(pid[2]), int(pid[4])


def _read_exactly(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError(f"data ends {n - len(data)} bytes early")
    return data


class _Placeholder:
    """A storage whose bytes come after the object pickle (legacy format); replaced by `_resolve`."""

    def __init__(self, key: str):
        self.key = key


class _PendingTensor:
    """A tensor over a storage placeholder, rebuilt once the storage bytes have been read."""

    def __init__(self, storage: _Placeholder, args):
        self.storage, self.args = storage, args


def _resolve(obj, storages: dict):
    """Replace storage placeholders (and tensors over them) in a container tree by arrays."""
    if isinstance(obj, _Placeholder):
        return storages[obj.key]
    if isinstance(obj, _PendingTensor):
        return _rebuild_tensor(storages[obj.storage.key], *obj.args)
    if isinstance(obj, dict):  # OrderedDict included: its type is kept
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, storages) for v in obj)
    return obj


def _read_legacy(f):
    """An object in torch's legacy save format (see the module docstring), storages and tensors as arrays."""
    if _Unpickler(f).load() != LEGACY_MAGIC or _Unpickler(f).load() != LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("not a torch legacy-format file")
    info = _Unpickler(f).load()
    if isinstance(info, dict) and info.get("little_endian") is False:
        raise pickle.UnpicklingError("big-endian torch files are not supported")
    wanted: dict[str, _StorageType] = {}

    def storage_of(pid):
        kind, key, _ = _storage_id(pid)
        wanted.setdefault(key, kind)
        return _Placeholder(key)

    obj = _Unpickler(f, storage_of).load()
    storages = {}
    for key in map(str, _Unpickler(f).load()):
        if key not in wanted:
            raise pickle.UnpicklingError(f"storage {key} is listed but never used")
        (count,) = struct.unpack("<q", _read_exactly(f, 8))
        if count < 0:
            raise pickle.UnpicklingError(f"storage {key} has a negative size")
        dtype = wanted[key].dtype
        storages[key] = np.frombuffer(_read_exactly(f, count * dtype.itemsize), dtype).copy()
    missing = sorted(set(wanted) - set(storages))
    if missing:
        raise pickle.UnpicklingError(f"storage {missing[0]} is used but its data is missing")
    return _resolve(obj, storages)


def _load_from_bytes(data: bytes):
    """`torch.storage._load_from_bytes`: a storage pickled inside a plain pickle, in the legacy format."""
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("storage payload is not bytes")
    return _read_legacy(io.BytesIO(data))


_ALLOWED = _allowed_globals()


def _read_zip(path: Path):
    """A torch.save zip archive (torch >= 1.6): `<dir>/data.pkl` plus raw storages in `<dir>/data/<key>`."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise pickle.UnpicklingError("zip file without exactly one <dir>/data.pkl (not a torch.save file)")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise pickle.UnpicklingError("big-endian torch files are not supported")
        cache: dict[str, np.ndarray] = {}

        def storage_of(pid):
            kind, key, numel = _storage_id(pid)
            if key not in cache:
                member = f"{prefix}data/{key}"
                if member not in names:
                    raise pickle.UnpicklingError(f"storage {key} is missing from the archive")
                data = archive.read(member)
                if len(data) < numel * kind.dtype.itemsize:
                    raise pickle.UnpicklingError(f"storage {key} is truncated")
                cache[key] = np.frombuffer(data[: numel * kind.dtype.itemsize], kind.dtype).copy()
            return cache[key]

        with archive.open(pickles[0]) as f:
            return _Unpickler(io.BytesIO(f.read()), storage_of).load()


def load_torch_pickle(path) -> object:
    """The object in `path` — a `pickle.dump` of (containers of) torch tensors or NumPy arrays, or a `torch.save`
    file of either format — with every tensor as a NumPy array. Never imports torch, never runs code from the file.

    Raises TorchPickleError, one line naming the path: missing or unreadable file, damaged data, or a pickle that
    names a global outside the allow-list (the message names it; nothing from the file has run).
    """
    path = Path(path)
    if not path.is_file():
        raise TorchPickleError(f"{path}: file not found")
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with open(path, "rb") as f:
            legacy = f.read(len(_LEGACY_HEAD)) == _LEGACY_HEAD
            f.seek(0)
            return _read_legacy(f) if legacy else _Unpickler(f).load()
    except _ForbiddenGlobal as exc:
        raise TorchPickleError(f"{path}: refusing to load: the pickle asks for {exc.args[0]}, which a file of "
                               "tensors never needs (it could run code)") from None
    except OSError as exc:
        raise TorchPickleError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # EOF, struct, value, unpickling errors of every kind for damaged or foreign data
        msg = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise TorchPickleError(f"{path}: not a readable pickle of tensors ({type(exc).__name__}: {msg})") from None


# ---------------------------------------------------------------------------------------------------- writing
class _TorchGlobal:
    """A global of torch's pickling (`torch._utils._rebuild_tensor_v2`, ...), named without importing torch."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce checks that the function is callable; never called
        raise TypeError(f"{self.module}.{self.name} is only a name to pickle")


_REBUILD = _TorchGlobal("torch._utils", "_rebuild_tensor_v2")
_LOAD_FROM_BYTES = _TorchGlobal("torch.storage", "_load_from_bytes")
_STORAGE_NAMES = {np.dtype(v): k for k, v in STORAGE_DTYPES.items()}


class _Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can name _TorchGlobal objects
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, persistent=None, protocol: int = 2):
        super().__init__(file, protocol=protocol)
        self._persistent = persistent

    def _save_torch_global(self, obj: _TorchGlobal):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    dispatch[_TorchGlobal] = _save_torch_global

    def persistent_id(self, obj):
        return self._persistent(obj) if self._persistent is not None else None


class _StorageRef:
    """A storage inside a legacy-format payload: written as its persistent id."""

    def __init__(self, array: np.ndarray):
        self.array = array


def _storage_bytes(array: np.ndarray) -> bytes:
    """`array` (1-D) as torch's legacy `torch.save(storage)` bytes, which `_load_from_bytes` reads."""
    out = io.BytesIO()
    for header in (LEGACY_MAGIC, LEGACY_PROTOCOL,
                   {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, out, protocol=2)
    storage_type = _TorchGlobal("torch", _STORAGE_NAMES[array.dtype])

    def persistent(obj):
        if isinstance(obj, _StorageRef):
            return ("storage", storage_type, "0", "cpu", obj.array.size, None)
        return None

    _Pickler(out, persistent).dump(_StorageRef(array))
    pickle.dump(["0"], out, protocol=2)
    out.write(struct.pack("<q", array.size))
    out.write(array.tobytes())
    return out.getvalue()


class _Tensor:
    """Pickles as a contiguous torch tensor holding `array`."""

    def __init__(self, array: np.ndarray):
        dtype = np.dtype(array.dtype).newbyteorder("<")
        if dtype not in _STORAGE_NAMES:
            raise TorchPickleError(f"no torch storage type for dtype {array.dtype}")
        self.array = np.ascontiguousarray(array, dtype)

    def __reduce__(self):
        a = self.array
        strides = tuple(s // a.itemsize for s in a.strides)
        storage = _Storage(a.reshape(-1))
        return _REBUILD, (storage, 0, tuple(a.shape), strides, False, collections.OrderedDict())


class _Storage:
    def __init__(self, array: np.ndarray):
        self.array = array

    def __reduce__(self):
        return _LOAD_FROM_BYTES, (_storage_bytes(self.array),)


def _as_tensors(obj):
    if isinstance(obj, np.ndarray):
        return _Tensor(obj)
    if isinstance(obj, dict):
        return type(obj)((k, _as_tensors(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_as_tensors(v) for v in obj)
    return obj


def dumps_torch_pickle(obj) -> bytes:
    """What `pickle.dumps(obj)` gives when `obj`'s NumPy arrays are torch tensors: a pickle that torch-era code
    (the study's `pickle.load` of tags.pickle) reads back as tensors, written without torch. Containers may be
    dicts, lists, tuples; leaves arrays, numbers, strings."""
    out = io.BytesIO()
    _Pickler(out, protocol=3).dump(_as_tensors(obj))  # 3: bytes as BINBYTES (2 would need _codecs.encode)
    return out.getvalue()

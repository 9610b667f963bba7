"""NVlabs stylegan2-ada-pytorch network pickles (`network-snapshot-*.pkl`) → our StyleGAN2 G_ema, G or D.

    python mindspore_impl/import_weights.py --family stylegan2 --input network-snapshot.pkl --output G.ckpt
    python mindspore_impl/import_weights.py --family stylegan2 --network D --input ... --output D.ckpt

A snapshot is a plain pickle of {G, D, G_ema, augment_pipe, training_set_kwargs} whose networks are NVlabs
"persistent" objects: each is rebuilt by `torch_utils.persistence._reconstruct_persistent_obj(meta)`, which
executes the module source embedded in `meta` (and imports `torch_utils` and `dnnlib`). Nothing of that runs here:
the unpickler below admits exactly the globals such a file needs and gives them inert meanings:
- the persistent-object hook returns the object's pickled state (`_parameters`, `_buffers`, `_modules`,
  `_init_kwargs`, ...) and its class name; the embedded source is ignored;
- `dnnlib.util.EasyDict` becomes a dict, `collections.OrderedDict` stays itself, NumPy scalars and dtypes are
  rebuilt by NumPy (NVlabs stores `weight_gain` as np.float64);
- tensors are rebuilt by torch's own `_rebuild_tensor_v2`, from storages whose bytes are read with
  `torch.load(weights_only=True)` (torch's own `_load_from_bytes` would unpickle them without restriction).
Every other global (a function that could run a command, any class) is refused, naming it, before it is touched.
TensorFlow-era pickles (legacy.py's conversion path) are refused too.

The state-dict names equal ours (models/stylegan2.py keeps NVlabs' attribute paths), so the checked table is an
identity that drops the FIR-filter buffers, which must hold the [1,3,3,1] filter our layers build in. The network's
constructor arguments (`_init_kwargs`) become the `generator:` / `discriminator:` sections of the YAML written
beside the checkpoint; arguments this port does not support (other architectures or filters) are refused by name,
and NVlabs' float16 settings (num_fp16_res, fp16_channels_last) are ignored: everything here runs in float32.
"""
from __future__ import annotations

import collections
import functools
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import numpy as np

from mindspore_impl.weights.base import Importer, RenameTable, WeightImportError, register

NETWORKS = ("G_ema", "G", "D")
DEFAULT_NETWORK = "G_ema"


@dataclass
class PersistentObject:
    """What an NVlabs persistent object pickles: its class name and its `__dict__` (never its code)."""

    class_name: str
    state: dict


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("malformed NVlabs persistent object")
    return PersistentObject(str(meta.get("class_name")), meta["state"])


class _EasyDict(dict):
    """Stands in for `dnnlib.util.EasyDict` (a dict with attribute access), which pickles as a dict subclass."""


def _torch_globals() -> dict:
    try:
        import torch
        from torch._utils import _rebuild_tensor_v2
    except ImportError:
        raise WeightImportError("reading NVlabs pickles needs PyTorch for the tensors (pip install torch; the CPU "
                                "wheel is enough); NVlabs' own code is not needed") from None

    def load_storage(data: bytes):
        return torch.load(io.BytesIO(data), weights_only=True)

    def rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
        return data

    numpy_core = np.core.multiarray if hasattr(np, "core") else None
    allowed = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): load_storage,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        if numpy_core is not None:
            allowed[(module, "scalar")] = numpy_core.scalar
    return allowed


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class NetworkUnpickler(pickle.Unpickler):
    """Unpickles NVlabs snapshots into plain containers, PersistentObjects and torch tensors; refuses any other
    global before resolving it."""

    def __init__(self, file):
        super().__init__(file)
        self.allowed = _torch_globals()

    def find_class(self, module: str, name: str):
        if module.startswith("dnnlib.tflib"):
            raise _ForbiddenGlobal(f"{module}.{name} (a TensorFlow-era pickle, which this importer does not read)")
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None


@functools.lru_cache(maxsize=2)
def _load(path: str, mtime: float):
    with open(path, "rb") as f:
        return NetworkUnpickler(f).load()


def load_snapshot(path) -> dict:
    """The snapshot's top-level dict (networks as PersistentObjects); WeightImportError, naming the path, for a
    missing, damaged or foreign file and for a pickle that asks for a forbidden global (nothing of it has run)."""
    path = Path(path)
    if not path.is_file():
        raise WeightImportError(f"{path}: file not found")
    try:
        data = _load(str(path.resolve()), path.stat().st_mtime)
    except _ForbiddenGlobal as exc:
        raise WeightImportError(f"{path}: refusing to load: the pickle asks for forbidden global {exc.args[0]}; an "
                                "NVlabs network pickle never needs it (it could run code)") from None
    except WeightImportError:
        raise
    except Exception as exc:  # truncated or foreign data: EOF, struct, unpickling errors of every kind
        raise WeightImportError(f"{path}: not a readable NVlabs network pickle ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:160]})") from None
    if not isinstance(data, dict) or not any(isinstance(data.get(k), PersistentObject) for k in NETWORKS):
        keys = list(data)[:6] if isinstance(data, dict) else type(data).__name__
        raise WeightImportError(f"{path}: not an NVlabs network snapshot (expected G, D, G_ema; found {keys})")
    return data


def state_dict(obj: PersistentObject, prefix: str = "") -> Dict[str, np.ndarray]:
    """torch `state_dict()` of a pickled module tree: each module's parameters, then its persistent buffers, then
    its children, as float32 NumPy arrays."""
    state = obj.state
    out: Dict[str, np.ndarray] = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is None or (group == "_buffers" and name in skip):
                continue
            out[prefix + name] = tensor.detach().cpu().float().numpy() if tensor.is_floating_point() \
                else tensor.detach().cpu().numpy()
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentObject):
            out.update(state_dict(child, f"{prefix}{name}."))
        elif child is not None:
            raise WeightImportError(f"module {prefix}{name} is not an NVlabs persistent object "
                                    f"({type(child).__name__})")
    return out


def network_of(path, network: str) -> PersistentObject:
    data = load_snapshot(path)
    obj = data.get(network)
    if not isinstance(obj, PersistentObject):
        held = [k for k in NETWORKS if isinstance(data.get(k), PersistentObject)]
        raise WeightImportError(f"{path}: holds no network {network!r} (it holds {', '.join(held)})")
    expected = "Discriminator" if network == "D" else "Generator"
    if obj.class_name != expected:
        raise WeightImportError(f"{path}: {network} is an NVlabs {obj.class_name}, expected {expected}")
    if obj.state.get("_init_args"):
        raise WeightImportError(f"{path}: {network} was built with positional arguments; expected keyword ones")
    return obj


# ------------------------------------------------------------------------------------------------ configs

_IGNORED = {"num_fp16_res", "fp16_channels_last", "channels_last"}  # float16 settings: we run float32


def _take(kwargs: dict, defaults: dict, where: str) -> dict:
    """kwargs restricted to the supported keys (with NVlabs' defaults); other non-default keys are refused."""
    out = dict(defaults)
    for key, value in (kwargs or {}).items():
        if key in _IGNORED:
            continue
        if key not in defaults:
            raise WeightImportError(f"{where}.{key} = {value!r} is not supported by this StyleGAN2 port")
        out[key] = value
    return out


def generator_section(kwargs: dict) -> dict:
    top = _take({k: v for k, v in kwargs.items() if k not in ("mapping_kwargs", "synthesis_kwargs")},
                {"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 256, "img_channels": 3}, "G")
    mapping = _take(kwargs.get("mapping_kwargs"), {"num_layers": 8, "lr_multiplier": 0.01, "w_avg_beta": 0.995,
                                                   "activation": "lrelu", "embed_features": None,
                                                   "layer_features": None}, "G.mapping_kwargs")
    synthesis = _take(kwargs.get("synthesis_kwargs"), {"channel_base": 32768, "channel_max": 512, "conv_clamp": None,
                                                       "architecture": "skip", "resample_filter": [1, 3, 3, 1],
                                                       "use_noise": True, "kernel_size": 3,
                                                       "activation": "lrelu"}, "G.synthesis_kwargs")
    _require(mapping, {"activation": "lrelu", "embed_features": None, "layer_features": None}, "G.mapping_kwargs")
    _require(synthesis, {"architecture": "skip", "resample_filter": [1, 3, 3, 1], "use_noise": True,
                         "kernel_size": 3, "activation": "lrelu"}, "G.synthesis_kwargs")
    return {"name": "stylegan2_generator", **top, "mapping_layers": int(mapping["num_layers"]),
            "mapping_lr_multiplier": float(mapping["lr_multiplier"]), "w_avg_beta": float(mapping["w_avg_beta"]),
            "channel_base": int(synthesis["channel_base"]), "channel_max": int(synthesis["channel_max"]),
            "conv_clamp": synthesis["conv_clamp"], "architecture": "skip"}


def discriminator_section(kwargs: dict) -> dict:
    top = _take({k: v for k, v in kwargs.items() if k not in ("block_kwargs", "mapping_kwargs", "epilogue_kwargs")},
                {"c_dim": 0, "img_resolution": 256, "img_channels": 3, "architecture": "resnet",
                 "channel_base": 32768, "channel_max": 512, "conv_clamp": None, "cmap_dim": None}, "D")
    block = _take(kwargs.get("block_kwargs"), {"freeze_layers": 0, "activation": "lrelu",
                                               "resample_filter": [1, 3, 3, 1]}, "D.block_kwargs")
    _require(block, {"activation": "lrelu", "resample_filter": [1, 3, 3, 1]}, "D.block_kwargs")
    mapping = _take(kwargs.get("mapping_kwargs"), {"num_layers": 8}, "D.mapping_kwargs")
    epilogue = _take(kwargs.get("epilogue_kwargs"), {"mbstd_group_size": 4, "mbstd_num_channels": 1},
                     "D.epilogue_kwargs")
    if top["architecture"] not in ("resnet", "orig"):
        raise WeightImportError(f"D.architecture = {top['architecture']!r} is not supported (resnet or orig)")
    return {"name": "stylegan2_discriminator", **top, "mbstd_group_size": epilogue["mbstd_group_size"],
            "mbstd_num_channels": int(epilogue["mbstd_num_channels"]), "mapping_layers": int(mapping["num_layers"])}


def _require(values: dict, supported: dict, where: str) -> None:
    for key, value in supported.items():
        if (list(values[key]) if isinstance(values[key], tuple) else values[key]) != value:
            raise WeightImportError(f"{where}.{key} = {values[key]!r} is not supported by this port (only {value!r})")


# ------------------------------------------------------------------------------------------------ importers

FIR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32) / 64  # setup_filter([1, 3, 3, 1])

# NVlabs names = ours; drop the FIR buffers (checked in read()). {x} is one dotted segment.
STYLEGAN2_G_TABLE = RenameTable([
    ("synthesis.{b}.resample_filter", None),
    ("synthesis.{b}.{layer}.resample_filter", None),
    ("mapping.{p}", "mapping.{p}"),
    ("mapping.{layer}.{p}", "mapping.{layer}.{p}"),
    ("synthesis.{b}.{p}", "synthesis.{b}.{p}"),
    ("synthesis.{b}.{layer}.{p}", "synthesis.{b}.{layer}.{p}"),
    ("synthesis.{b}.{layer}.affine.{p}", "synthesis.{b}.{layer}.affine.{p}"),
])
STYLEGAN2_D_TABLE = RenameTable([
    ("{b}.resample_filter", None),
    ("{b}.{layer}.resample_filter", None),
    ("{b}.{layer}.{p}", "{b}.{layer}.{p}"),
])


def read_info(network: str):
    def info(path) -> dict:
        obj = network_of(path, network)
        kwargs = obj.state.get("_init_kwargs") or {}
        section = discriminator_section(kwargs) if network == "D" else generator_section(kwargs)
        return {"section": section, "network": network}

    return info


def read(network: str):
    def tensors(path) -> Dict[str, np.ndarray]:
        out = state_dict(network_of(path, network))
        for key, value in out.items():
            if key.endswith("resample_filter") and not (value.shape == FIR.shape and np.allclose(value, FIR)):
                raise WeightImportError(f"{path}: {key} is not the [1,3,3,1] filter this port builds in")
        return out

    return tensors


def build(info: dict):
    from mindspore_impl.models.stylegan2 import stylegan2_discriminator, stylegan2_generator

    values = {k: v for k, v in info["section"].items() if k != "name"}
    return (stylegan2_discriminator if info["network"] == "D" else stylegan2_generator)(**values)


def config_for(info: dict) -> dict:
    """The YAML written beside the checkpoint: the family and the imported network's section."""
    key = "discriminator" if info["network"] == "D" else "generator"
    return {"family": "stylegan2", key: info["section"]}


for _network in NETWORKS:
    register(Importer(
        family="stylegan2",
        source=f"NVlabs stylegan2-ada-pytorch network pickle ({_network})",
        read=read(_network),
        table=STYLEGAN2_D_TABLE if _network == "D" else STYLEGAN2_G_TABLE,
        build_target=build,
        config="(written beside the checkpoint)",
        config_note="built from the pickle's constructor arguments",
        network=_network,
        read_info=read_info(_network),
        config_for=config_for,
        default=_network == DEFAULT_NETWORK,
    ))

"""YAML experiment configs: sections whose keys are constructor / dataclass arguments.

A config file looks like

    base: _base.yaml                 # optional; merged first (path relative to this file)
    family: animeganv2               # a registered training family
    generator: {name: animeganv2_generator, width: 1.0}   # keys = the factory's arguments
    discriminator: {name: animeganv2_discriminator}
    loss: {...}  optim: {...}  data: {...}   # keys = the family's dataclass fields
    train: {...}                      # keys = TrainConfig fields (mindspore_impl/trainer.py)

Unknown keys anywhere are an error that names the key; `--set train.batch_size=2` overrides a value (parsed as
YAML, so numbers, booleans and lists work). Values are checked against the annotation of the dataclass field or
factory argument they set (`check_value`): `optim.init_lr=abc`, `generator.width=abc` or `train.jit=maybe` are
errors naming the key, ints are accepted (and converted) for floats, floats must be finite, `Optional[X]` takes
null, tuples and lists take YAML lists of the right length and element types. The resolved config is what gets
saved into every run directory.
"""
from __future__ import annotations

import collections.abc
import copy
import dataclasses
import inspect
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Union

import yaml

from runtime.atomic import write_text_atomic
from runtime.errors import UserError


class ConfigError(UserError, ValueError):
    """A config problem the user can fix; the message names the offending key."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float (YAML 1.1 insists on `1.0e-3`, a trap for learning rates)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+][0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str):
    return yaml.load(text, Loader=_Loader)


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> dict:
    """Read a config (following `base:` chains) and apply `key.sub=value` overrides."""
    path = Path(path)
    cfg = _read_yaml(path)
    chain = [path.resolve()]
    while "base" in cfg:
        base_path = (chain[-1].parent / cfg.pop("base")).resolve()
        if base_path in chain:
            raise ConfigError(f"config base cycle at {base_path}")
        chain.append(base_path)
        cfg = _deep_merge(_read_yaml(base_path), cfg)
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def apply_override(cfg: dict, item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got '{item}'")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    try:
        value = parse_yaml(raw)
    except yaml.YAMLError:
        value = raw
    node = cfg
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{p}' is not a section")
    node[parts[-1]] = value


def check_keys(values: dict, accepted: Iterable[str], where: str) -> None:
    accepted = set(accepted)
    for k in values:
        if k not in accepted:
            raise ConfigError(f"unknown config key '{where}.{k}' (accepted: {', '.join(sorted(accepted))})")


def section(cfg: dict, name: str) -> dict:
    value = cfg.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"config section '{name}' must be a mapping")
    return value


def build_dataclass(cls, values: dict, where: str):
    """Instantiate a config dataclass from a YAML section: unknown keys and values that do not fit the field's
    annotation are errors naming `where.key`; the dataclass's own `__post_init__` checks come after."""
    fields = {f.name for f in dataclasses.fields(cls)}
    check_keys(values, fields, where)
    hints = _type_hints(cls)
    checked = {k: check_value(v, hints.get(k, Any), f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def factory_kwargs(values: dict, factory, where: str) -> dict:
    """The arguments of a network section (all keys but `name`), checked by name against the factory's signature
    and by value against its annotations (unannotated arguments take anything)."""
    params = _signature(factory).parameters
    kwargs = {k: v for k, v in values.items() if k != "name"}
    check_keys(kwargs, params, where)
    return {k: check_value(v, params[k].annotation, f"{where}.{k}") for k, v in kwargs.items()}


# ------------------------------------------------------------------------------------------------ value checks
def _type_hints(obj) -> dict:
    """Resolved annotations (they are strings under `from __future__ import annotations`); {} if they cannot be
    resolved, which leaves the values unchecked rather than refusing a valid config."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # NameError for names only imported under TYPE_CHECKING, and the like
        return {}


def _signature(factory) -> inspect.Signature:
    try:
        return inspect.signature(factory, eval_str=True)
    except Exception:  # unresolvable string annotations: check names only (strings are not checked as types)
        return inspect.signature(factory)


class _Mismatch(ConfigError):
    """A value does not fit its annotation; `key` is the (possibly indexed) key it was found at."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


_NONE = type(None)
_SEQUENCES = (tuple, list, collections.abc.Sequence)


def describe_type(annotation) -> str:
    """Words for an annotation in error messages: 'a number', 'an integer or null', 'a list of 2 values'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        words = [describe_type(a) for a in args if a is not _NONE]
        return " or ".join(words + (["null"] if _NONE in args else []))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}
    if annotation in words:
        return words[annotation]
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values"
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def check_value(value, annotation, key: str):
    """`value` checked against `annotation` and converted to it (int → float, list → tuple); ConfigError
    "`key`: expected ..., got ..." otherwise. Annotations this does not know (classes, callables, Any, none)
    accept anything: the constructor still checks those."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)

    def refuse(detail: str | None = None):
        raise _Mismatch(key, f"{key}: expected {detail or describe_type(annotation)}, got {value!r}"
                             f"{'' if value is None else f' ({type(value).__name__})'}")

    if annotation in (Any, inspect.Parameter.empty, object):
        return value
    if origin in (Union, types.UnionType):
        if value is None:
            return None if _NONE in args else refuse()
        for option in (a for a in args if a is not _NONE):
            try:
                return check_value(value, option, key)
            except _Mismatch as exc:
                if exc.key != key:  # an element of a list is wrong: that message is the precise one
                    raise
        refuse()
    if origin is Literal:
        return value if value in args else refuse()
    if annotation is bool:
        return value if isinstance(value, bool) else refuse()
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else refuse()
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            refuse()
        if not math.isfinite(value):
            refuse("a finite number")
        return float(value)
    if annotation is str:
        return value if isinstance(value, str) else refuse()
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            refuse()
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                refuse(f"{len(args)} values")
            items = [check_value(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        elif args:
            items = [check_value(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
        else:
            items = list(value)
        return items if (annotation is list or origin is list) else tuple(items)
    if annotation is dict or origin is dict:
        return value if isinstance(value, dict) else refuse()
    return value


def check_image_size(cfg: dict, networks: dict) -> None:
    """`data.image_size` (the training side, in families that have the key) must be a multiple of each network's
    `size_multiple`, or training fails deep inside a loss on mismatched shapes. `networks`: {section: Cell}."""
    size = section(cfg, "data").get("image_size")
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"data.image_size: expected a positive integer, got {size!r}")
    for name, net in networks.items():
        multiple = int(getattr(net, "size_multiple", 1) or 1)
        if size % multiple:
            lower, upper = size - size % multiple, size - size % multiple + multiple
            raise ConfigError(f"data.image_size={size} is not a multiple of {multiple}, the size multiple of the "
                              f"{name} ({type(net).__name__}); use {lower or upper} or {upper}")


def dump_yaml(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


def save_resolved(cfg: dict, run_dir: str | os.PathLike) -> Path:
    """Write the resolved config as RUN_DIR/config.yaml (atomically, creating RUN_DIR)."""
    return write_text_atomic(Path(run_dir) / "config.yaml", dump_yaml(cfg), make_parents=True)


def add_config_args(parser, required: bool = True, config_help: str = "YAML config (see configs/)") -> None:
    """The two flags every config-driven CLI shares (`required=False` where the command can tell the config from
    elsewhere, e.g. from its checkpoint)."""
    parser.add_argument("--config", required=required, default=None, help=config_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=2 (repeatable)")

"""YAML experiment configs: sections whose keys are constructor / dataclass arguments.

A config file looks like

    base: _base.yaml                 # optional; merged first (path relative to this file)
    family: animeganv2               # a registered training family
    generator: {name: animeganv2_generator, width: 1.0}   # keys = the factory's arguments
    discriminator: {name: animeganv2_discriminator}
    loss: {...}  optim: {...}  data: {...}   # keys = the family's dataclass fields
    train: {...}                      # keys = TrainConfig fields (mindspore_impl/trainer.py)

Unknown keys anywhere are an error that names the key; `--set train.batch_size=2` overrides a value (parsed as
YAML, so numbers, booleans and lists work). The resolved config is what gets saved into every run directory.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import re
from pathlib import Path
from typing import Iterable

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
    """Instantiate a config dataclass from a YAML section, rejecting unknown keys by name."""
    fields = {f.name for f in dataclasses.fields(cls)}
    check_keys(values, fields, where)
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def factory_kwargs(values: dict, factory, where: str) -> dict:
    """Split a network section into (name, kwargs) checked against the factory's signature."""
    params = inspect.signature(factory).parameters
    kwargs = {k: v for k, v in values.items() if k != "name"}
    check_keys(kwargs, params, where)
    return kwargs


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

"""The machinery every weight importer shares: checked rename tables and the importer registry.

A *rename table* is an ordered list of rules in the style of stylegan3's `legacy.py`, each
`(source template, target template)` or `(source template, target template, transform)`: `{name}` stands for
one dotted segment (`block_c`, `3`), everything else is literal, and the first rule whose source template
matches a key decides its target name. The optional transform is a function on the array (an HWIO → OIHW
transpose, a channel flip, `+ 1` for a gain stored as an offset), applied before the shape check, as legacy.py
pairs each name with a value function. A target of `None` marks tensors deliberately left unused (a
classifier head, BatchNorm's `num_batches_tracked`): they are accepted and dropped. Because each rule names its
placeholders on both sides, a table also runs backwards (target → source), which is how a missing tensor is
reported by the name it has in the source file.

`apply_table` is strict on purpose: an imported network that silently kept one random layer looks almost
right, so every source tensor must be used exactly once or be dropped by a rule, every target parameter filled,
and every shape equal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from mindspore_impl.registry import Registry
from runtime.errors import UserError

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class WeightImportError(UserError):
    """Weights cannot be imported (unreadable file, missing/unexpected tensor, shape mismatch); names the key."""


def _compile(template: str) -> re.Pattern:
    """`block_{x}.{i}.1.weight` → a full-match regex with one named group per placeholder (one dotted segment)."""
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos:m.start()]))
        parts.append(f"(?P<{m.group(1)}>[^.]+)")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts))


Transform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Rule:
    source: str  # template of the key in the source file, e.g. "{blk}.{i}.2.weight"
    target: Optional[str]  # template of our parameter name, e.g. "{blk}.{i}.norm.gamma"; None: drop the tensor
    transform: Optional[Transform] = None  # applied to the source array before the shape check

    def __post_init__(self):
        if self.target is None:
            if self.transform is not None:
                raise ValueError(f"rule {self.source!r} drops its tensor, so it cannot have a transform")
        elif set(_PLACEHOLDER.findall(self.source)) != set(_PLACEHOLDER.findall(self.target)):
            raise ValueError(f"rule {self.source!r} -> {self.target!r}: both sides need the same placeholders")


class RenameTable:
    """An ordered list of Rules, usable in both directions.

    `rules`: tuples `(source, target)` or `(source, target, transform)`; target None drops matching tensors.
    """

    def __init__(self, rules: Sequence[Tuple]):
        self.rules = [Rule(*rule) for rule in rules]
        self._forward = [(_compile(r.source), r) for r in self.rules]
        self._backward = [(_compile(r.target), r) for r in self.rules if r.target is not None]

    def match(self, source_key: str) -> Optional[Tuple[Optional[str], Optional[Transform]]]:
        """(our parameter name or None when the rule drops it, transform) for a source key; None: no rule."""
        for pattern, rule in self._forward:
            m = pattern.fullmatch(source_key)
            if m:
                target = None if rule.target is None else rule.target.format(**m.groupdict())
                return target, rule.transform
        return None

    def target_of(self, source_key: str) -> Optional[str]:
        """Our parameter name for a source key, or None when no rule matches or the matching rule drops it."""
        found = self.match(source_key)
        return None if found is None else found[0]

    def source_of(self, target_key: str) -> Optional[str]:
        """The source key a target parameter is read from, or None when no rule produces it."""
        for pattern, rule in self._backward:
            m = pattern.fullmatch(target_key)
            if m:
                return rule.source.format(**m.groupdict())
        return None


def apply_table(source: Mapping[str, np.ndarray], table: RenameTable, target_shapes: Mapping[str, tuple],
                origin: str) -> Dict[str, np.ndarray]:
    """Rename (and transform) `source` onto `target_shapes`' names; raise WeightImportError naming the first
    offending key.

    Checks, in order: every source key matches a rule (else "unexpected"); tensors of dropping rules are
    skipped; the others land on a parameter the network has (else "unexpected"), no two on the same parameter,
    hold finite floating-point values, and have the parameter's shape after the rule's transform; finally every
    parameter of the network received a tensor (else "missing", named by its source key). Values come back as
    float32.
    """
    out: Dict[str, np.ndarray] = {}
    used_by: Dict[str, str] = {}
    for key, value in source.items():
        found = table.match(key)
        if found is None:
            raise WeightImportError(f"{origin}: unexpected tensor {key!r} (matches no rule)")
        target, transform = found
        if target is None:
            continue  # deliberately unused by the network
        if target not in target_shapes:
            raise WeightImportError(f"{origin}: unexpected tensor {key!r} (would become {target!r}, which the "
                                    f"network lacks)")
        if target in used_by:
            raise WeightImportError(f"{origin}: tensors {used_by[target]!r} and {key!r} both map to {target!r}")
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.floating):
            raise WeightImportError(f"{origin}: tensor {key!r} has dtype {arr.dtype}, expected floating point")
        if not np.all(np.isfinite(arr)):
            raise WeightImportError(f"{origin}: tensor {key!r} contains NaN or infinite values")
        expected = tuple(target_shapes[target])
        if transform is not None:
            converted = np.asarray(transform(arr))
            if tuple(converted.shape) != expected:
                raise WeightImportError(f"{origin}: tensor {key!r} -> {target!r} has shape {tuple(converted.shape)} "
                                        f"after conversion (source shape {tuple(arr.shape)}), expected {expected}")
            arr = converted
        elif tuple(arr.shape) != expected:
            raise WeightImportError(f"{origin}: tensor {key!r} has shape {tuple(arr.shape)}, but {target!r} "
                                    f"expects {expected}")
        used_by[target] = key
        out[target] = arr.astype(np.float32)
    missing = [t for t in target_shapes if t not in out]
    if missing:
        src = table.source_of(missing[0])
        name = f"{src!r} (for {missing[0]!r})" if src else f"for {missing[0]!r} (no rule produces it)"
        raise WeightImportError(f"{origin}: missing tensor {name}; {len(missing)} missing in all")
    return out


@dataclass(frozen=True)
class Importer:
    """How one family's published weights of one network become our checkpoint of that network.

    read: path → {source key: array}; table: source → our names; build_target: the network (its parameter
    names and shapes are the target); config: the YAML whose numerics reproduce the source implementation;
    network: which of the family's networks this is (`G` by default; `D`, `G_ema`, ... for the others).
    name: the registry key, when the family's network already has an importer from another source (the
    MindSpore AnimeGANv2 port's generator beside the PyTorch port's); by default the key is derived (see `key`).
    For sources whose file says how to build the network (NVlabs pickles carry their constructor arguments):
    `read_info(path) -> dict` is called first, then `build_target(info)`, and `config_for(info) -> dict` is written
    as a YAML config beside the checkpoint.
    For architectures that come in sizes (a U-Net's depth, a ResNet's block count): `build_for_config(cfg)` builds
    the network a config describes (`import_weights.py --config`), and `table_for(net)` gives the rename table of
    that network (its layer indices follow from its structure); `table` is then the table of the default build.
    """

    family: str
    source: str  # human description of where the weights come from
    read: Callable[[str], Dict[str, np.ndarray]]
    table: RenameTable
    build_target: Callable[..., object]
    config: str
    config_note: str = ""
    network: str = "G"
    read_info: Callable[[str], dict] | None = None
    config_for: Callable[[dict], dict] | None = None
    name: str = ""
    build_for_config: Callable[[dict], object] | None = None
    table_for: Callable[[object], RenameTable] | None = None
    default: bool | None = None  # imported when no network is named; None: the one named G (StyleGAN2: G_ema)

    def table_of(self, net) -> RenameTable:
        """The rename table for `net` (the target built for this import)."""
        return self.table_for(net) if self.table_for is not None else self.table

    @property
    def is_default(self) -> bool:
        return self.network == "G" if self.default is None else self.default

    @property
    def key(self) -> str:
        """Its name in IMPORTERS: `name` when given, else the family for its default network and
        `family:NETWORK` for the others."""
        if self.name:
            return self.name
        return self.family if self.is_default else f"{self.family}:{self.network}"


# Importers by `Importer.key` (each module of this package registers its own, so a new family adds a module).
IMPORTERS = Registry("weight importer")


def register(importer: Importer) -> Importer:
    IMPORTERS.register(importer.key)(importer)
    return importer


def find_importer(family: str, network: str | None = None) -> Importer:
    """The importer of `network` (default: the family's default network, usually G) of `family`; RegistryError
    lists the choices."""
    key = family if network is None else f"{family}:{network}"
    if key not in IMPORTERS and family in IMPORTERS and IMPORTERS.get(family).network == network:
        key = family  # the default network named explicitly
    if key not in IMPORTERS and family in IMPORTERS:
        default = IMPORTERS.get(family).network  # what --network may be left out for (G, or e.g. G_A)
        others = sorted(k.split(":", 1)[1] for k in IMPORTERS.names() if k.startswith(f"{family}:"))
        names = [default] + [n for n in others if n != default]
        raise WeightImportError(f"family '{family}' has no importer for network '{network}' "
                                f"(it imports: {', '.join(names)})")
    return IMPORTERS.get(key)

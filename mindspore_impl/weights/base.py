"""The machinery every weight importer shares: checked rename tables and the importer registry.

A *rename table* is an ordered list of `(source template, target template)` rules in the style of stylegan3's
`legacy.py`: `{name}` stands for one dotted segment (`block_c`, `3`), everything else is literal, and the first
rule whose source template matches a key decides its target name. Because each rule names its placeholders on
both sides, a table also runs backwards (target → source), which is how a missing tensor is reported by the
name it has in the source file.

`apply_table` is strict on purpose: an imported network that silently kept one random layer looks almost
right, so every source tensor must be used exactly once, every target parameter filled, and every shape equal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Sequence, Tuple

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


@dataclass(frozen=True)
class Rule:
    source: str  # template of the key in the source file, e.g. "{blk}.{i}.2.weight"
    target: str  # template of our parameter name, e.g. "{blk}.{i}.norm.gamma"

    def __post_init__(self):
        if set(_PLACEHOLDER.findall(self.source)) != set(_PLACEHOLDER.findall(self.target)):
            raise ValueError(f"rule {self.source!r} -> {self.target!r}: both sides need the same placeholders")


class RenameTable:
    """An ordered list of Rules, usable in both directions."""

    def __init__(self, rules: Sequence[Tuple[str, str]]):
        self.rules = [Rule(s, t) for s, t in rules]
        self._forward = [(_compile(r.source), r.target) for r in self.rules]
        self._backward = [(_compile(r.target), r.source) for r in self.rules]

    @staticmethod
    def _apply(compiled, key: str):
        for pattern, template in compiled:
            m = pattern.fullmatch(key)
            if m:
                return template.format(**m.groupdict())
        return None

    def target_of(self, source_key: str):
        """Our parameter name for a source key, or None when no rule matches."""
        return self._apply(self._forward, source_key)

    def source_of(self, target_key: str):
        """The source key a target parameter is read from, or None when no rule produces it."""
        return self._apply(self._backward, target_key)


def apply_table(source: Mapping[str, np.ndarray], table: RenameTable, target_shapes: Mapping[str, tuple],
                origin: str) -> Dict[str, np.ndarray]:
    """Rename `source` onto `target_shapes`' names; raise WeightImportError naming the first offending key.

    Checks, in order: every source key matches a rule and lands on a parameter the network has (else
    "unexpected"), no two source keys land on the same parameter, shapes are equal, and every parameter of the
    network received a tensor (else "missing", named by its source key). Values come back as float32.
    """
    out: Dict[str, np.ndarray] = {}
    used_by: Dict[str, str] = {}
    for key, value in source.items():
        target = table.target_of(key)
        if target is None or target not in target_shapes:
            where = "matches no rule" if target is None else f"would become {target!r}, which the network lacks"
            raise WeightImportError(f"{origin}: unexpected tensor {key!r} ({where})")
        if target in used_by:
            raise WeightImportError(f"{origin}: tensors {used_by[target]!r} and {key!r} both map to {target!r}")
        arr = np.asarray(value)
        expected = tuple(target_shapes[target])
        if tuple(arr.shape) != expected:
            raise WeightImportError(f"{origin}: tensor {key!r} has shape {tuple(arr.shape)}, but {target!r} "
                                    f"expects {expected}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise WeightImportError(f"{origin}: tensor {key!r} has dtype {arr.dtype}, expected floating point")
        if not np.all(np.isfinite(arr)):
            raise WeightImportError(f"{origin}: tensor {key!r} contains NaN or infinite values")
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
    """How one family's published weights become our generator checkpoint.

    read: path → {source key: array}; table: source → our names; build_target: the network (its parameter
    names and shapes are the target); config: the YAML whose numerics reproduce the source implementation.
    """

    family: str
    source: str  # human description of where the weights come from
    read: Callable[[str], Dict[str, np.ndarray]]
    table: RenameTable
    build_target: Callable[[], object]
    config: str
    config_note: str = ""


# Family name → its Importer (each module of this package registers its own, so a new family adds a module).
IMPORTERS = Registry("weight importer")

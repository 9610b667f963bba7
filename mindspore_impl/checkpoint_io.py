"""MindSpore checkpoints: written atomically, and network weights read back with exact checks.

A network's weights come from either kind of file the trainer writes:
- a plain checkpoint (`RUN_DIR/generator.ckpt`, `RUN_DIR/<name>.ckpt`, or one from import_weights.py): names exactly
  as in the network (`block_a.0.conv.weight`), plus string entries `__network__`/`__family__` saying which network
  of which family it holds (files from elsewhere may lack them);
- a full training checkpoint (`checkpoints/step_*.ckpt`): every network and optimiser, each network's parameters
  prefixed by its `networks()` key (`G/`, `G_ema/`, `D/`, `opt_G/`...).
`select_network` picks the requested network and refuses the wrong one by name: a StyleGAN2 run holds `G` and
`G_ema` with the same shapes, so only the name tells them apart. Anything but an exact match of names and shapes is
refused too, naming the first offending key: a partly loaded network would run (and export) random weights without
any other sign. Export, MindSpore inference and the trainer's resume all load through here.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import mindspore as ms
from mindspore import nn

from runtime.atomic import atomic_path
from runtime.checkpoint_export import file_sha256  # noqa: F401  (the one implementation; the runtime needs it too)
from runtime.errors import UserError


class CheckpointError(UserError):
    """The checkpoint is missing, unreadable, or does not match the network (message names the key)."""


META_PREFIX = "__"  # string entries such as __network__ describe the file; they are not parameters


def save_checkpoint_atomic(obj, path, make_parents: bool = True, meta: dict | None = None) -> Path:
    """The MindSpore checkpoint writer: `obj` (a Cell, or a list of {"name", "data"} entries, as ms.save_checkpoint
    takes) to `path`, through the one atomic mechanism (ms.save_checkpoint writes the file itself, so it writes
    the temp file, which is then renamed). `meta` {key: str} is stored as `__key__` string entries (which network
    the file holds, of which family). CheckpointError, naming the path, when it cannot be written.

    `path` must end in .ckpt: MindSpore appends that suffix to any other name, so the temp file it was given would
    stay empty and the checkpoint would land elsewhere.
    """
    path = Path(path)
    if path.suffix != ".ckpt":
        raise CheckpointError(f"{path}: a MindSpore checkpoint name must end in .ckpt")
    extra = {f"{META_PREFIX}{k}{META_PREFIX}": str(v) for k, v in (meta or {}).items()} or None
    try:
        # ms.save_checkpoint writes `<temp stem>.tmp` and renames it onto the temp: atomic_path removes that
        # file too when the write fails or is interrupted.
        with atomic_path(path, make_parents=make_parents) as tmp, _quiet_mindspore_save_errors():
            ms.save_checkpoint(obj, str(tmp), append_dict=extra)
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    return path


class _DropSaveFailure(logging.Filter):
    """MindSpore logs a CRITICAL line of its own before re-raising a failed save; the error is reported
    once, as one line, by whoever catches it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to save the checkpoint file")


@contextlib.contextmanager
def _quiet_mindspore_save_errors():
    try:
        from mindspore.log import _get_logger  # private, so looked up defensively: without it the log just shows

        logger = _get_logger()
    except (ImportError, AttributeError):
        yield
        return
    drop = _DropSaveFailure()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def read_checkpoint(path: str | Path, with_meta: bool = False):
    """Name → Parameter of a MindSpore checkpoint (and, with_meta, its {key: str} entries such as `network`);
    CheckpointError for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        params = ms.load_checkpoint(str(path))
    except Exception as e:  # MindSpore raises ValueError/RuntimeError with multi-line text for corrupt files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from None
    meta = {k.strip("_"): v for k, v in params.items() if isinstance(v, str) and k.startswith(META_PREFIX)}
    params = {k: v for k, v in params.items() if not isinstance(v, str)}
    if not params:
        raise CheckpointError(f"checkpoint {path} holds no parameters")
    return (params, meta) if with_meta else params


def params_under(params: dict, prefix: str) -> dict:
    """The entries of a training checkpoint saved under `prefix` (`G/block_a.0.conv.weight`), prefix removed."""
    head = prefix + "/"
    return {k[len(head):]: v for k, v in params.items() if k.startswith(head)}


def select_network(params: dict, meta: dict, name: str | None, exports: list[str], origin: str
                   ) -> tuple[str, dict]:
    """(network name, its parameters) from a checkpoint's contents.

    `name`: the network asked for (`--network`), or None for the file's own (`__network__`) or else the first of
    `exports` (the family's default). A training checkpoint must hold `name/...` entries; a plain checkpoint that
    says it holds another network is refused; a name the family does not export is refused with the list.
    """
    if name is not None and name not in exports:
        raise CheckpointError(f"network '{name}' is not one this config exports (choose from: {', '.join(exports)})")
    prefixes = sorted({k.split("/", 1)[0] for k in params if "/" in k})
    if prefixes:  # a training checkpoint: every network under its prefix
        chosen = name or exports[0]
        sub = params_under(params, chosen)
        if not sub:
            held = [p for p in prefixes if not p.startswith("opt_")]
            raise CheckpointError(f"{origin} holds no network '{chosen}' (it holds: {', '.join(held)})")
        return chosen, sub
    stored = meta.get("network")
    if name is not None and stored is not None and stored != name:
        raise CheckpointError(f"{origin} holds network '{stored}', not '{name}'; pass the checkpoint of '{name}' "
                              f"or --network {stored}")
    chosen = name or stored or exports[0]
    if chosen not in exports:
        raise CheckpointError(f"{origin} holds network '{chosen}', which this config does not export "
                              f"(it exports: {', '.join(exports)})")
    return chosen, dict(params)


def state_of(cell: nn.Cell) -> dict:
    """name → Parameter of a network (its attribute paths, `block_a.0.conv.weight`, whatever the parameters'
    own graph names are) or of an optimiser (its parameters' names). Checkpoints are written and read with these."""
    return dict(cell.parameters_and_names())


def rename_for_graph(net: nn.Cell, prefix: str) -> None:
    """Give `net`'s parameters the graph names `<prefix>.<path>`.

    MindSpore refuses a graph holding two parameters of one name, and a family's networks often share paths (a
    CycleGAN's two generators, StyleGAN's G and G_ema, a toy G and D both with `body.0.conv.weight`). Checkpoints
    keep the paths (`state_of`), so files do not depend on this.
    """
    for path, param in net.parameters_and_names():
        param.name = f"{prefix}.{path}"


def adapt_checkpoint(net: nn.Cell, params: dict, where: str) -> dict:
    """`params` keyed as `state_of(net)`: files from another implementation that names the same tensors otherwise
    (the MindSpore AnimeGANv2 port's training wrapper) are translated by the network's own declared
    `adapt_checkpoint(params, where) -> params`, which checks them strictly; other networks take them as they are."""
    adapt = getattr(net, "adapt_checkpoint", None)
    return adapt(params, where) if callable(adapt) else params


def load_exact(net: nn.Cell, params: dict, where: str) -> None:
    """Load `params` (keyed as `state_of(net)`, after the network's `adapt_checkpoint`, if it declares one) into
    `net` only if names and shapes match exactly; else CheckpointError "`where`: ..." naming the first offending
    key. Every loader goes through here: export, MindSpore inference, resume."""
    params = adapt_checkpoint(net, params, where)
    expected = state_of(net)
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
    by_graph_name = {expected[name].name: value for name, value in params.items()}
    not_loaded, _ = ms.load_param_into_net(net, by_graph_name, strict_load=True)
    if not_loaded:
        raise CheckpointError(f"{where}: parameter '{not_loaded[0]}' was not loaded")


def load_network_weights(net: nn.Cell, path: str | Path, name: str | None = None,
                         exports: tuple[str, ...] | list[str] = ("G",)) -> tuple[str, str]:
    """Load network `name` (see select_network) of checkpoint `path` into `net` after checking names and shapes
    exactly; returns (the network's name, the file's SHA-256)."""
    path = Path(path)
    params, meta = read_checkpoint(path, with_meta=True)
    chosen, params = select_network(params, meta, name, list(exports), path.name)
    load_exact(net, params, f"checkpoint {path.name} does not match network {chosen} (does it belong to this "
                            f"config?)")
    return chosen, file_sha256(path)

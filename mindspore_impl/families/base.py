"""The small protocol every training family implements, and the sample-grid helpers they share.

A family is a class registered in `FAMILIES` under the config's `family:` name. It declares, as class attributes,
the config sections it reads (`sections`) and the networks it exports (`exports`); its instance builds networks,
optimisers, data and the phase schedule from a config. The shared trainer (`mindspore_impl/trainer.py`) drives it;
the export CLI and MindSpore inference build exported networks from the declaration alone, without data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence

import numpy as np
from mindspore import nn

# Value of `Family.sections` for a network section: its keys are checked against the registered factory's
# arguments by `registry.build_network`, not against a dataclass.
NETWORK = "network"
# Sections every config may have, whatever the family.
COMMON_SECTIONS = ("family", "train", "export")


@dataclass(frozen=True)
class ExportNetwork:
    """How to build one network the family exports, from the config alone.

    section: the config section whose `name:` and arguments build it;
    overrides: constructor arguments computed from that section's values (CycleGAN's G_B is G_A with its in and out
        channels swapped);
    task: the runtime task when it differs from the one the network declares (a pix2pix U-Net colourises here).
    """

    section: str = "generator"
    overrides: Callable[[dict], dict] | None = None
    task: str | None = None

    def constructor_overrides(self, values: Mapping) -> dict:
        return dict(self.overrides(dict(values))) if self.overrides else {}


DEFAULT_EXPORTS = {"G": ExportNetwork("generator")}


class Family:
    """What the shared Trainer needs from a model family.

    Class attributes:
        sections: {config section: its dataclass, or NETWORK}; the config may hold these plus COMMON_SECTIONS, and
            any other top-level key is an error naming it.
        exports: {network name: ExportNetwork}, the first is exported by default. Names are keys of `networks()`
            (`G`, `G_ema`, `G_A`, ...), and the trainer writes their plain checkpoints.
    Attributes an instance sets: `data` (with `steps_per_epoch(global_batch)` and
    `batch(epoch, step, batch_size) -> dict of NCHW float32 arrays`); `generator` by convention.
    """

    sections: Mapping[str, object] = {}
    exports: Mapping[str, ExportNetwork] = DEFAULT_EXPORTS
    generator: nn.Cell
    data = None

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        """The whole config, before anything is built: no unknown section or key, every value fitting its field's
        or factory argument's annotation (and the dataclasses' own checks). ConfigError naming the key. A network
        section that is absent is left to whoever builds it (the trainer needs all, export only its own)."""
        from mindspore_impl.config import build_dataclass, check_keys, section
        from mindspore_impl.trainer import TrainConfig

        check_keys(cfg, (*COMMON_SECTIONS, *cls.sections), "config")
        for name, kind in cls.sections.items():
            if kind == NETWORK:
                if section(cfg, name):  # export-only configs may leave out the networks they do not export
                    check_network_section(cfg, name)
            else:
                build_dataclass(kind, section(cfg, name), name)
        build_dataclass(TrainConfig, section(cfg, "train"), "train")

    @classmethod
    def export_names(cls) -> List[str]:
        return list(cls.exports)

    def networks(self) -> Dict[str, nn.Cell]:
        """Networks saved in checkpoints, by short name (their parameters are prefixed `name/`)."""
        raise NotImplementedError

    def optimizers(self) -> Dict[str, nn.Optimizer]:
        raise NotImplementedError

    def phases(self) -> list:
        """The schedule: a list of trainer.Phase."""
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        """An HxWx3 uint8 picture of what the model does now (e.g. input | output rows)."""
        raise NotImplementedError

    def host_state(self) -> dict:
        """State outside the networks that a resumed run needs to continue exactly (history pools, NumPy RNG
        states, ...), as a tree for `mindspore_impl/host_state.py`. Networks and optimisers are saved anyway."""
        return {}

    def load_host_state(self, state: dict) -> None:
        """Restore what `host_state()` returned (called on resume, before the first step)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no host state but the checkpoint holds {sorted(state)}")

    def set_train(self, mode: bool = True) -> None:
        for net in self.networks().values():
            net.set_train(mode)


def family_class(cfg: dict) -> type:
    """The registered Family class named by the config's `family:` key."""
    from mindspore_impl.config import ConfigError
    from mindspore_impl.registry import FAMILIES
    import mindspore_impl.families  # noqa: F401  (registers the families)

    if "family" not in cfg:
        raise ConfigError("config has no 'family' key (one of: " + ", ".join(FAMILIES.names()) + ")")
    return FAMILIES.get(cfg["family"])


def check_network_section(cfg: dict, key: str) -> None:
    """A network section's `name` and arguments, checked as `registry.build_network` checks them, without
    building the network."""
    from mindspore_impl.config import ConfigError, factory_kwargs, section
    from mindspore_impl.registry import MODELS
    import mindspore_impl.models  # noqa: F401  (registers the factories)

    values = section(cfg, key)
    if "name" not in values:
        raise ConfigError(f"config section '{key}' needs a 'name' (one of: {', '.join(MODELS.names())})")
    factory_kwargs(values, MODELS.get(values["name"]), key)


def validate_config(cfg: dict) -> dict:
    """Check a loaded config as a whole (see Family.check_config) before a CLI does any work with it; a config
    without `family:` (one written for imported weights) has its `generator:` section checked. Returns `cfg`."""
    from mindspore_impl.config import section

    if "family" in cfg:
        family_class(cfg).check_config(cfg)
    elif section(cfg, "generator"):
        check_network_section(cfg, "generator")
    return cfg


def export_networks(cfg: dict) -> Mapping[str, ExportNetwork]:
    """What the config's family exports; a config without `family:` (e.g. one for imported weights) exports
    its `generator:` section as `G`."""
    return family_class(cfg).exports if "family" in cfg else DEFAULT_EXPORTS


@dataclass
class LoadedNetwork:
    """An exported network built from a config and loaded from a checkpoint."""

    name: str  # its networks() key: G, G_ema, G_A, ...
    net: nn.Cell
    sha256: str  # of the checkpoint file
    export: ExportNetwork


def build_exported(cfg: dict, name: str) -> nn.Cell:
    """Network `name` of the config's family, built from its section (no weights loaded)."""
    from mindspore_impl.config import ConfigError, section
    from mindspore_impl.registry import build_network

    exports = export_networks(cfg)
    if name not in exports:
        raise ConfigError(f"network '{name}' is not one this config exports (choose from: {', '.join(exports)})")
    spec = exports[name]
    return build_network(cfg, spec.section, **spec.constructor_overrides(section(cfg, spec.section)))


def load_exported(cfg: dict, ckpt: str | Path, name: str | None = None) -> LoadedNetwork:
    """The exported network `name` (default: the checkpoint's own, else the family's first export) with the
    weights of `ckpt`, a plain or a training checkpoint; CheckpointError when the file holds another network or
    does not match exactly. Export and MindSpore inference both load through here."""
    from mindspore_impl.checkpoint_io import file_sha256, load_exact, read_checkpoint, select_network

    ckpt = Path(ckpt)
    exports = export_networks(cfg)
    params, meta = read_checkpoint(ckpt, with_meta=True)
    chosen, params = select_network(params, meta, name, list(exports), ckpt.name)
    net = build_exported(cfg, chosen)
    load_exact(net, params, f"checkpoint {ckpt.name} does not match network {chosen} of this config (does it "
                            f"belong to it?)")
    return LoadedNetwork(chosen, net, file_sha256(ckpt), exports[chosen])


def to_uint8(chw: np.ndarray) -> np.ndarray:
    """CHW float in [-1, 1] → HWC uint8 (greyscale replicated to RGB)."""
    x = np.clip((np.asarray(chw, np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    x = np.transpose(x, (1, 2, 0))
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return x


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2) -> np.ndarray:
    """Tile equally sized HWC uint8 images row by row with a white gutter."""
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            grid[y:y + h, x:x + w] = img
    return grid

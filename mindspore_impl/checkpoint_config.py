"""The config a checkpoint belongs to, for commands given a checkpoint but no --config.

The MindSpore AnimeGANv2 port's commands take only a checkpoint (`--ckpt_file_name`, `--video_ckpt_file_name`), and
its scripts always build its own network; so do ours when the checkpoint's parameter names are the port's
generator's (in either of its namings, `weights/animeganv2_mindspore_port.py`): they use
configs/animeganv2/mindspore_port.yaml, with the width read from the file. A checkpoint our trainer wrote is
recognised by the run directory around it (`RUN_DIR/config.yaml` beside `RUN_DIR/generator.ckpt`, or above
`RUN_DIR/checkpoints/step_*.ckpt`). Anything else asks for --config.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mindspore_impl.checkpoint_io import CheckpointError, read_checkpoint
from mindspore_impl.config import load_config

ROOT = Path(__file__).resolve().parents[1]
PORT_CONFIG = ROOT / "configs" / "animeganv2" / "mindspore_port.yaml"
# The port's released files name their style: animeganv2_generator_{Hayao,Paprika,Shinkai}.ckpt
_RELEASED_NAME = re.compile(r"animeganv2_generator_(?P<style>[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class ResolvedConfig:
    cfg: dict
    path: Path  # the YAML it was read from
    note: str = ""  # how it was chosen, for the user ("" when --config was given)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_config_of(ckpt: Path) -> Path | None:
    """RUN_DIR/config.yaml for a checkpoint inside a run directory our trainer wrote, else None."""
    for folder in (ckpt.parent, ckpt.parent.parent):
        candidate = folder / "config.yaml"
        if candidate.is_file():
            return candidate
    return None


def resolve_config(config: str | Path | None, ckpt: str | Path, overrides: Iterable[str] = ()) -> ResolvedConfig:
    """The config to build `ckpt`'s network with: `config` when given, else the one its names or its run
    directory imply; CheckpointError when neither tells."""
    overrides = list(overrides)
    if config is not None:
        return ResolvedConfig(load_config(config, overrides), Path(config))
    from mindspore_impl.weights.animeganv2_mindspore_port import generator_channels, is_port_generator

    ckpt = Path(ckpt)
    params = read_checkpoint(ckpt)
    if is_port_generator(params):
        channels = generator_channels({k: tuple(v.shape) for k, v in params.items()})
        implied = [f"generator.channels={channels}"]
        released = _RELEASED_NAME.fullmatch(ckpt.stem)
        if released:
            implied.append(f"export.style={released.group('style')}")
        note = (f"{ckpt.name} holds the MindSpore port's generator (channels {channels}): using "
                f"{_display(PORT_CONFIG)}")
        return ResolvedConfig(load_config(PORT_CONFIG, implied + overrides), PORT_CONFIG, note)
    run_config = run_config_of(ckpt)
    if run_config is not None:
        return ResolvedConfig(load_config(run_config, overrides), run_config,
                              f"using {run_config}, the config of the run {ckpt.name} belongs to")
    raise CheckpointError(f"{ckpt.name}: its parameter names are not the MindSpore port's generator's and no "
                          f"run config.yaml is beside it; pass --config")

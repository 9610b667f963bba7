"""A training run's folder: what is in it, when a new run may use it, and what a resumed run may change.

- A fresh run into a folder that already holds a run is refused: it would overwrite `generator.ckpt`, mix its
  checkpoints, `latest.json` and `losses.csv` with the old ones, and leave neither run resumable. `--resume`
  continues the old run; `--overwrite` deletes it first (`clear_run`: the resume pointer goes first and the rest
  is moved aside before it is deleted, so an interrupted clear never leaves a half-deleted run that resumes).
- A resumed run compares its config with the run's saved `config.yaml` before anything is rewritten: settings in
  `RESUMABLE_CHANGES` may change and are reported; any other change alters the data order (batch size, seed, the
  data, the number of devices) or the networks and optimisers the checkpoint holds, and is refused, naming it.
- The loop-position files (`latest.json`, `step_*.json`) are read with one-line errors for corrupt content.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Iterable, Sequence

from runtime.errors import UserError

# Files and folders the trainer writes into a run folder (besides `<export name>.ckpt` for the other exports).
RUN_FILES = ("config.yaml", "losses.csv", "losses.png", "samples", "checkpoints", "generator.ckpt")
LATEST = "latest.json"
CHECKPOINT_NAME = re.compile(r"step_(\d+)\.ckpt")
_TRASH_PREFIX = ".overwritten-"

# What a resumed run may change (fnmatch patterns over dotted config keys) and why that is safe. Every other key
# is refused when it differs from the saved config.yaml: it changes the data order or the networks/optimisers.
RESUMABLE_CHANGES = {
    "train.run_dir": "where the run's files go (a checkpoint may be continued in another folder)",
    "train.max_steps": "when to stop",
    "train.log_every": "how often losses are logged",
    "train.sample_every": "how often sample grids are written",
    "train.ckpt_every": "how often checkpoints are written",
    "train.keep_checkpoints": "how many checkpoints are kept",
    "train.jit": "graph or PyNative execution of the same steps",
    "train.device": "which device runs the same steps",
    "optim.*lr": "learning rates (the optimiser moments continue from the checkpoint)",
    "optim.epochs": "how long the schedule runs (each epoch's data order depends on the seed and epoch only)",
    "loss.*_weight": "loss weights",
    "data.sample_count": "how many photos the sample grids show",
    "export.*": "export metadata",
}


class RunFolderError(UserError):
    """A run folder cannot be used as asked (an old run in the way, a resume with refused changes, a corrupt
    loop-position file); the message says what to do."""


# ------------------------------------------------------------------------------------------------ fresh runs
def run_files(run_dir: Path, export_names: Sequence[str] = ()) -> list[Path]:
    """The trainer's files that exist in `run_dir` (what makes it hold a run)."""
    names = [*RUN_FILES, *(f"{name}.ckpt" for name in list(export_names)[1:])]
    return [run_dir / name for name in names if (run_dir / name).exists()]


def check_fresh_run(run_dir: Path, export_names: Sequence[str], overwrite: bool) -> None:
    """Before a run that does not resume: refuse a folder holding a run, or clear it when `overwrite`."""
    found = run_files(run_dir, export_names)
    if not found:
        return
    if not overwrite:
        listed = ", ".join(p.name + ("/" if p.is_dir() else "") for p in found)
        raise RunFolderError(f"{run_dir} already holds a run ({listed}); pass --resume to continue it, or "
                             f"--overwrite to delete it and start over (or choose another train.run_dir)")
    clear_run(run_dir, found)


def clear_run(run_dir: Path, found: Iterable[Path]) -> None:
    """Delete an old run: first its resume pointer (from then on nothing resumes), then everything is renamed
    into one hidden folder and that is deleted. A clear stopped halfway leaves only that hidden folder, which no
    run reads and the next --overwrite removes."""
    trash = run_dir / f"{_TRASH_PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        trash.mkdir()
        latest = run_dir / "checkpoints" / LATEST
        if latest.exists():
            os.replace(latest, trash / LATEST)
        for path in found:
            os.replace(path, trash / path.name)
        for old in sorted(run_dir.glob(f"{_TRASH_PREFIX}*")):  # this one, and any an earlier clear left
            shutil.rmtree(old)
    except OSError as exc:
        raise RunFolderError(f"cannot clear the old run in {run_dir}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------------------ resumed runs
def saved_config_path(run_dir: Path, checkpoint: Path | None) -> Path:
    """The config.yaml of the run a checkpoint belongs to (RUN/checkpoints/step_*.ckpt → RUN/config.yaml)."""
    if checkpoint is not None and checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / "config.yaml"
    return run_dir / "config.yaml"


def flatten(cfg: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} → {'a.b': 1}; lists and tuples compare as lists."""
    out = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def effective_config(cfg: dict, family_cls, train_cls) -> dict:
    """The config as the run sees it: each family section with its dataclass defaults filled in (network
    sections with their factory's defaults), so `lr: 1` and `lr: 1.0`, or a default spelled out, are no change."""
    from mindspore_impl.config import build_dataclass, factory_kwargs, section
    from mindspore_impl.registry import MODELS

    out = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
    kinds = {**family_cls.sections, "train": train_cls}
    for name, values in cfg.items():
        if not isinstance(values, dict):
            continue
        kind = kinds.get(name)
        if kind is None:
            out[name] = values
        elif dataclasses.is_dataclass(kind):
            out[name] = dataclasses.asdict(build_dataclass(kind, section(cfg, name), name))
        elif "name" in values:  # a network section
            factory = MODELS.get(values["name"])
            defaults = {k: p.default for k, p in inspect.signature(factory).parameters.items()
                        if p.default is not inspect.Parameter.empty}
            out[name] = {"name": values["name"], **defaults, **factory_kwargs(values, factory, name)}
        else:
            out[name] = values
    return out


def resumable(key: str) -> str | None:
    """Why `key` may change on resume (its RESUMABLE_CHANGES entry), or None."""
    for pattern, why in RESUMABLE_CHANGES.items():
        if fnmatch.fnmatchcase(key, pattern):
            return why
    return None


def config_changes(saved: dict, new: dict) -> tuple[list[str], list[str]]:
    """(accepted, refused) changes between two configs, each 'key: old → new'."""
    old, now = flatten(saved), flatten(new)
    accepted, refused = [], []
    for key in sorted(set(old) | set(now)):
        if old.get(key, "<unset>") == now.get(key, "<unset>"):
            continue
        line = f"{key}: {old.get(key, '<unset>')!r} → {now.get(key, '<unset>')!r}"
        (accepted if resumable(key) else refused).append(line)
    return accepted, refused


def check_resume_config(saved_path: Path, cfg: dict, family_cls, train_cls) -> list[str]:
    """Compare a resumed run's config with the saved one; RunFolderError naming every refused change, else the
    accepted changes (for the caller to report)."""
    import yaml

    from mindspore_impl.config import ConfigError, parse_yaml

    try:
        saved = parse_yaml(saved_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"--resume: {saved_path} is missing, so the settings of the run cannot be checked; "
                             f"restore it, or start a new run") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunFolderError(f"--resume: cannot read {saved_path} ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(saved, dict):
        raise RunFolderError(f"--resume: {saved_path} is not a config (a mapping of sections)")
    try:
        accepted, refused = config_changes(effective_config(saved, family_cls, train_cls),
                                           effective_config(cfg, family_cls, train_cls))
    except ConfigError:  # a saved config the current checks refuse (an old run): compare as written
        accepted, refused = config_changes(saved, cfg)
    if refused:
        raise RunFolderError(f"cannot resume with changed {'; '.join(refused)} (saved in {saved_path.name}): "
                             f"this changes the data order or the networks; undo it or start a new run "
                             f"(only {', '.join(RESUMABLE_CHANGES)} may change)")
    return accepted


# ------------------------------------------------------------------------------------------------ loop position
def read_json_file(path: Path, what: str) -> dict:
    """A JSON object file the trainer wrote, with one-line errors for a missing, unreadable or corrupt one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path.name} ({what}) is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} ({what}) is corrupt or unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} ({what}) is corrupt: expected a JSON object")
    return data


def latest_checkpoint(ckpt_dir: Path) -> Path:
    """The checkpoint `latest.json` names; it must be a `step_N.ckpt` file of this folder that exists."""
    latest = ckpt_dir / LATEST
    if not latest.is_file():
        raise RunFolderError(f"--resume: no checkpoint in {ckpt_dir}")
    name = read_json_file(latest, "the latest checkpoint's name").get("checkpoint")
    hint = "; pass --resume PATH to a step_*.ckpt file instead"
    if not isinstance(name, str) or not CHECKPOINT_NAME.fullmatch(name):
        raise RunFolderError(f"{latest} is corrupt: it names {name!r}, not a step_N.ckpt file{hint}")
    path = ckpt_dir / name
    if not path.is_file():
        raise RunFolderError(f"{latest} names {name}, which is missing{hint}")
    return path


POSITION_KEYS = ("epoch", "step", "global_step")


def read_position(meta: Path, checkpoint: Path) -> dict:
    """The loop position saved beside a checkpoint: non-negative ints for POSITION_KEYS, global_step equal to
    the step in the checkpoint's name."""
    data = read_json_file(meta, f"the loop position saved beside {checkpoint.name}")
    state = {}
    for key in POSITION_KEYS:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RunFolderError(f"{meta} is corrupt: '{key}' is {value!r}, not a non-negative integer")
        state[key] = value
    match = CHECKPOINT_NAME.fullmatch(checkpoint.name)
    if match and int(match[1]) != state["global_step"]:
        raise RunFolderError(f"{meta} is corrupt: global_step {state['global_step']} but the checkpoint is "
                             f"{checkpoint.name}")
    return state

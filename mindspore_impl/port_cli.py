"""The MindSpore AnimeGANv2 port's command-line options, accepted by our CLIs under the same names.

The port (mindspore-courses/applications `animeganv2/src`) has `train.py`, `infer.py` and `video2anime.py`. Our
`mindspore_impl/train.py`, `mindspore_impl/infer.py` and `runtime/video2anime.py` take their options as aliases;
this module holds the training table (every option of the port's `train.py` parser, its default there, the config
key it sets here), the bool parsing its `type=bool` got wrong, and the device choice its `default='GPU'` got wrong.
The video options live in `runtime/port_options.py` (the runtime never imports MindSpore).
docs/mindspore_port.md shows the same tables side by side; tests/test_mindspore_port_cli.py checks they agree.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import UserError

DEVICES = ("CPU", "GPU", "Ascend")
DEFAULT_RUNS = "runs/mindspore_port"  # run directories of port-style runs without --checkpoint_dir: <this>/<style>


class PortOptionError(UserError):
    """A port option with a value this project cannot honour (the message says which and why)."""


def parse_bool(text: str) -> bool:
    """'True'/'False' (any case), yes/no, on/off, 1/0. The port parses with `type=bool`, for which every
    non-empty string, 'False' included, is True."""
    value = str(text).strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def is_bool_word(text: str) -> bool:
    try:
        parse_bool(text)
        return True
    except argparse.ArgumentTypeError:
        return False


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ library's "Load dynamic library ... failed" lines while probing for devices."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def available_device() -> str:
    """GPU, else Ascend, else CPU: the first device this MindSpore build can use. (The port's `--device_target`
    defaults to GPU and fails where there is none.)"""
    from mindspore import hal

    for device in ("GPU", "Ascend"):
        try:
            with _quiet_stderr():
                if hal.is_available(device):
                    return device
        except (RuntimeError, ValueError):
            continue
    return "CPU"


def use_device(device: str | None, device_id: int | None) -> str:
    """Set the MindSpore device (`device`, else `available_device()`) and, when given, its id; returns it."""
    import mindspore as ms
    from mindspore_impl.distributed import select_device

    chosen = device or available_device()
    if device_id:
        ms.set_device(chosen, int(device_id))  # later select_device calls for the same device are tolerated
    else:
        select_device(chosen)
    return chosen


# ------------------------------------------------------------------------------------------------ train.py

@dataclass(frozen=True)
class PortOption:
    """One option of the port's parser: its default there and what it becomes here."""

    flag: str
    port_default: object
    ours: str  # the config key (or our option) it sets, or "-" when it has no effect here
    note: str = ""
    type: object = str


# Every option of the port's train.py `parse_args`, in its order.
TRAIN_OPTIONS = (
    PortOption("--device_target", "GPU", "--device (train.device)", "default here: the first of GPU, Ascend, CPU "
               "that exists"),
    PortOption("--device_id", 0, "device id", type=int),
    PortOption("--dataset", "Hayao", "data.style", "also names the run directory"),
    PortOption("--data_dir", "../dataset", "data.root", "same layout: train_photo/, <style>/style, <style>/smooth"),
    PortOption("--checkpoint_dir", "../checkpoints", "train.run_dir = <checkpoint_dir>/<dataset>",
               f"without it: {DEFAULT_RUNS}/<dataset>"),
    PortOption("--vgg19_path", "../vgg.ckpt", "loss.vgg_ckpt (+ loss.vgg_variant mindspore_port)"),
    PortOption("--save_image_dir", "../images", "-", "samples are written to <run_dir>/samples/"),
    PortOption("--resume", False, "--resume (latest checkpoint of the run directory)",
               "read as a bool: --resume False does not resume (the port's type=bool read it as True)"),
    PortOption("--phase", "train", "-", "only 'train'"),
    PortOption("--epochs", 30, "optim.epochs", "total, including the init epochs", int),
    PortOption("--init_epochs", 5, "optim.init_epochs", "the port parsed it but never ran an init phase; "
               "we run it (content loss only, as official AnimeGANv2)", int),
    PortOption("--batch_size", 4, "train.batch_size", type=int),
    PortOption("--num_parallel_workers", 1, "-", "our data is decoded once and held in memory", int),
    PortOption("--save_interval", 1, "train.ckpt_every, train.sample_every = N epochs in steps", type=int),
    PortOption("--debug_samples", 0, "train.max_steps = epochs x (N // batch_size)",
               "a short run of the same length; the photos are not cut to N", int),
    PortOption("--lr_g", 2.0e-4, "optim.g_lr", type=float),
    PortOption("--lr_d", 4.0e-4, "optim.d_lr", type=float),
    PortOption("--init_lr", 1.0e-3, "optim.init_lr", type=float),
    PortOption("--gan_loss", "lsgan", "-", "only lsgan (the AnimeGANv2 losses here are LSGAN)"),
    PortOption("--wadvg", 0.9, "loss.g_adv_weight", type=float),
    PortOption("--wadvd", 300.0, "loss.d_adv_weight", type=float),
    PortOption("--wcon", 1.8, "loss.con_weight", type=float),
    PortOption("--wgra", 2.0, "loss.sty_weight", type=float),
    PortOption("--wcol", 10.0, "loss.color_weight", type=float),
    PortOption("--img_ch", 3, "-", "only 3", int),
    PortOption("--ch", 64, "discriminator.ch", type=int),
    PortOption("--n_dis", 3, "discriminator.n_dis", type=int),
)
# Options whose value lands on one config key as it is.
_DIRECT = {"data_dir": "data.root", "epochs": "optim.epochs", "init_epochs": "optim.init_epochs",
           "batch_size": "train.batch_size", "lr_g": "optim.g_lr", "lr_d": "optim.d_lr", "init_lr": "optim.init_lr",
           "wadvg": "loss.g_adv_weight", "wadvd": "loss.d_adv_weight", "wcon": "loss.con_weight",
           "wgra": "loss.sty_weight", "wcol": "loss.color_weight", "ch": "discriminator.ch",
           "n_dis": "discriminator.n_dis"}
# Options handled by our own arguments (--device_target is an alias of --device, --resume is ours).
_OURS = ("device_target", "resume")


def add_port_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The port's train.py options not already ours; all default to None (= not given)."""
    group = parser.add_argument_group("the MindSpore AnimeGANv2 port's train.py options (docs/mindspore_port.md)")
    for option in TRAIN_OPTIONS:
        name = option.flag[2:]
        if name in _OURS:
            continue
        help_text = f"→ {option.ours}" + (f"; {option.note}" if option.note else "") + \
            f" (port default {option.port_default})"
        group.add_argument(option.flag, type=option.type, default=None, help=help_text)


def port_options_given(args: argparse.Namespace) -> list[str]:
    return [o.flag for o in TRAIN_OPTIONS if o.flag[2:] not in _OURS and getattr(args, o.flag[2:]) is not None]


def _count_photos(data_root: str) -> int | None:
    from datasets.image_io import list_images

    folder = Path(data_root) / "train_photo"
    return len(list_images(folder)) if folder.is_dir() else None


def train_overrides(args: argparse.Namespace, cfg_values: dict, port_mode: bool) -> tuple[list[str], list[str]]:
    """(`--set`-style overrides, notes for the user) for the port options in `args`.

    `cfg_values`: the config before these overrides (for the batch size, epochs, data root and style they are
    combined with); `port_mode`: no --config was given, so the run directory follows the port's layout."""
    sets, notes = [], []
    for name, key in _DIRECT.items():
        value = getattr(args, name)
        if value is not None:
            sets.append(f"{key}={value}")
    if args.phase is not None and args.phase != "train":
        raise PortOptionError(f"--phase {args.phase}: only 'train' exists (inference is infer.py)")
    if args.gan_loss is not None and args.gan_loss != "lsgan":
        raise PortOptionError(f"--gan_loss {args.gan_loss}: the AnimeGANv2 losses here are LSGAN only")
    if args.img_ch is not None and args.img_ch != 3:
        raise PortOptionError(f"--img_ch {args.img_ch}: only RGB (3) images are supported")
    style = args.dataset or cfg_values["style"]
    if args.dataset is not None:
        sets.append(f"data.style={args.dataset}")
    if args.checkpoint_dir is not None or port_mode:
        sets.append(f"train.run_dir={Path(args.checkpoint_dir or DEFAULT_RUNS) / style}")
    if args.vgg19_path is not None:
        sets += [f"loss.vgg_ckpt={args.vgg19_path}", "loss.vgg_variant=mindspore_port"]
    batch = args.batch_size or cfg_values["batch_size"]
    epochs = args.epochs or cfg_values["epochs"]
    if args.save_interval is not None:
        if args.save_interval < 1:
            raise PortOptionError(f"--save_interval must be >= 1 (epochs), got {args.save_interval}")
        photos = _count_photos(args.data_dir or cfg_values["root"])
        if photos is not None and photos >= batch:
            steps = args.save_interval * (photos // batch)
            sets += [f"train.ckpt_every={steps}", f"train.sample_every={steps}"]
            notes.append(f"--save_interval {args.save_interval}: a checkpoint and a sample grid every {steps} steps")
    if args.debug_samples:
        steps = epochs * max(1, args.debug_samples // batch)
        sets.append(f"train.max_steps={steps}")
        notes.append(f"--debug_samples {args.debug_samples}: stopping after {steps} steps")
    if args.save_image_dir is not None:
        notes.append("--save_image_dir: sample grids are written to <run_dir>/samples/")
    if args.num_parallel_workers is not None:
        notes.append("--num_parallel_workers: no effect (the images are decoded once and held in memory)")
    return sets, notes


def resume_value(text: str | None) -> str | None:
    """Our --resume [CKPT] and the port's --resume True/False as one value: None (do not resume), "latest", or a
    checkpoint path."""
    if text is None:
        return None
    if text == "latest":
        return "latest"
    if is_bool_word(text):
        return "latest" if parse_bool(text) else None
    return text


# ------------------------------------------------------------------------------------------------ infer.py

# The port's infer.py options → ours (the table in docs/mindspore_port.md).
INFER_OPTIONS = (
    PortOption("--device_target", "GPU", "--device", "default here: the first of GPU, Ascend, CPU that exists"),
    PortOption("--device_id", 0, "device id", type=int),
    PortOption("--infer_dir", "../dataset/test/real", "--input", "a folder (ours also takes files)"),
    PortOption("--infer_output", "../dataset/output", "--output", "outputs keep the input's file names, as the "
               "port's"),
    PortOption("--ckpt_file_name", "../checkpoints/Hayao/netG_30.ckpt", "--ckpt",
               "without --config the network is recognised from the checkpoint"),
)


class KeepNamesOutput(argparse.Action):
    """--infer_output DIR: --output DIR, and the outputs keep their inputs' names (extension included), as the
    port's infer.py writes them."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.keep_names = True

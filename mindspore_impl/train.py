"""Train any registered family from a YAML config.

    python mindspore_impl/train.py --config configs/animeganv2/hayao.yaml [--set train.batch_size=8 ...]
    python mindspore_impl/train.py --config ... --resume            # continue the run directory's latest checkpoint
    python mindspore_impl/train.py --config ... --overwrite         # delete the run directory's old run, start over
    msrun --worker_num=2 --local_worker_num=2 --join=True python mindspore_impl/train.py --config ...   # data-parallel

The MindSpore AnimeGANv2 port's train.py options are accepted under its names (docs/mindspore_port.md). Without
--config they train the port's network with its defaults (configs/animeganv2/mindspore_port.yaml), as its
train.py does:

    python mindspore_impl/train.py --dataset Hayao --data_dir dataset --batch_size 4 --epochs 40 --init_epochs 5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.errors import run_main  # noqa: E402


def parse_args(argv=None):
    from mindspore_impl.config import add_config_args
    from mindspore_impl.port_cli import DEVICES, add_port_train_arguments

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p, required=False, config_help="YAML config (see configs/); default: the MindSpore port's "
                                                   "network and train.py defaults (configs/animeganv2/"
                                                   "mindspore_port.yaml)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                       help="resume from CKPT, or from the run directory's latest checkpoint when no path is given; "
                            "settings that change the data order or the networks must not change; the port's "
                            "--resume True/False is read as a bool")
    start.add_argument("--overwrite", action="store_true",
                       help="delete the run already in train.run_dir and start over (default: refuse to start a "
                            "new run in a folder that holds one)")
    p.add_argument("--device", "--device_target", dest="device", choices=DEVICES,
                   help="overrides train.device; without --config, default: the first of GPU, Ascend, CPU that "
                        "exists")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the msrun cluster (switched on automatically under msrun)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to the CSV)")
    add_port_train_arguments(p)
    return p.parse_args(argv)


def resolve(args) -> tuple[dict, list[str]]:
    """The config (the given one, else the port's) with the port options and --set applied; notes for the user."""
    from mindspore_impl.checkpoint_config import PORT_CONFIG
    from mindspore_impl.config import load_config, section
    from mindspore_impl.port_cli import available_device, train_overrides

    port_mode = args.config is None
    path = args.config or PORT_CONFIG
    base = load_config(path, args.overrides)
    values = {"style": section(base, "data").get("style", "Hayao"), "root": section(base, "data").get("root"),
              "batch_size": section(base, "train").get("batch_size", 4),
              "epochs": section(base, "optim").get("epochs", 1)}
    port_sets, notes = train_overrides(args, values, port_mode)
    if port_mode:
        notes.insert(0, "no --config: the MindSpore port's network and train.py defaults "
                        "(configs/animeganv2/mindspore_port.yaml)")
    overrides = port_sets + list(args.overrides)  # an explicit --set wins over a port option
    device = args.device or (available_device() if port_mode else None)
    if device:
        overrides.append(f"train.device={device}")
    if args.distributed:
        overrides.append("train.distributed=true")
    return load_config(path, overrides), notes


def main(argv=None):
    from mindspore_impl.config import section
    from mindspore_impl.port_cli import resume_value, use_device
    from mindspore_impl.trainer import TrainingError, build_trainer

    args = parse_args(argv)
    cfg, notes = resolve(args)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.device_id:
        use_device(section(cfg, "train").get("device", "CPU"), args.device_id)
    resume = resume_value(args.resume)
    resume_path = None if resume in (None, "latest") else resume
    try:
        trainer = build_trainer(cfg, resume=resume_path, resume_latest=resume == "latest",
                                overwrite=args.overwrite)
        last = trainer.fit(progress=not args.no_progress)
    except OSError as exc:  # a file the run needs vanished, or one it writes cannot be (a full disk): one line
        raise TrainingError(f"{exc.filename or 'training'}: {exc.strerror or exc}") from None
    if trainer.ctx.is_main:
        summary = ", ".join(f"{k}={v:.4g}" for k, v in last.items())
        print(f"done: step {trainer.state['global_step']} in {trainer.run_dir} ({summary})")


if __name__ == "__main__":
    run_main(main)

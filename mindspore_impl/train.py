"""Train any registered family from a YAML config.

    python mindspore_impl/train.py --config configs/animeganv2/hayao.yaml [--set train.batch_size=8 ...]
    python mindspore_impl/train.py --config ... --resume            # continue the run directory's latest checkpoint
    python mindspore_impl/train.py --config ... --overwrite         # delete the run directory's old run, start over
    msrun --worker_num=2 --local_worker_num=2 --join=True python mindspore_impl/train.py --config ...   # data-parallel
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.errors import run_main  # noqa: E402


def parse_args(argv=None):
    from mindspore_impl.config import add_config_args

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CKPT",
                       help="resume from CKPT, or from the run directory's latest checkpoint when no path is given; "
                            "settings that change the data order or the networks must not change")
    start.add_argument("--overwrite", action="store_true",
                       help="delete the run already in train.run_dir and start over (default: refuse to start a "
                            "new run in a folder that holds one)")
    p.add_argument("--device", choices=("CPU", "GPU", "Ascend"), help="overrides train.device")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the msrun cluster (switched on automatically under msrun)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to the CSV)")
    return p.parse_args(argv)


def main(argv=None):
    from mindspore_impl.config import load_config
    from mindspore_impl.trainer import TrainingError, build_trainer

    args = parse_args(argv)
    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"train.device={args.device}")
    if args.distributed:
        overrides.append("train.distributed=true")
    cfg = load_config(args.config, overrides)
    resume_path = None if args.resume in (None, "latest") else args.resume
    try:
        trainer = build_trainer(cfg, resume=resume_path, resume_latest=args.resume == "latest",
                                overwrite=args.overwrite)
        last = trainer.fit(progress=not args.no_progress)
    except OSError as exc:  # a file the run needs vanished, or one it writes cannot be (a full disk): one line
        raise TrainingError(f"{exc.filename or 'training'}: {exc.strerror or exc}") from None
    if trainer.ctx.is_main:
        summary = ", ".join(f"{k}={v:.4g}" for k, v in last.items())
        print(f"done: step {trainer.state['global_step']} in {trainer.run_dir} ({summary})")


if __name__ == "__main__":
    run_main(main)

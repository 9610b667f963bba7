"""Manga → anime in MindSpore: one command, one subcommand per step of the manGANime chain.

    python mindspore_impl/manganime.py train --config configs/frame_predictor/demo.yaml [--set K=V] [--resume]
    python mindspore_impl/manganime.py test --config C.yaml --ckpt RUN/generator.ckpt [--json scores.json]
    python mindspore_impl/manganime.py generate --config C.yaml --ckpt RUN/generator.ckpt --frames 12 \\
        [--page PAGE.png] [--first-frame F.png] --output clip.mp4 [--strip strip.png]

- train: the shared trainer (`mindspore_impl/train.py`, same options) on a frame_predictor config;
- test: MSE/PSNR on the held-out episodes next to copy-last-frame (and the predictor given wrong pages);
- generate: an autoregressive rollout from a first frame and a manga page into an H.264 clip.

Each subcommand is one row of `COMMANDS`, implemented in its own module and imported only when it runs, so adding
one (the study's StyleGAN2 steps `project`, `lerp`, `summarize`, `ascent`) is one row plus its module with an
`add_arguments(parser)` and a `run(args) -> int`. The runtime twin of `generate`, onnxruntime only, is
`runtime/manga2anime.py`.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.errors import run_main  # noqa: E402


@dataclass(frozen=True)
class Command:
    help: str
    module: str                # where it lives (imported when the subcommand runs)
    add_arguments: str = ""    # the module's function (parser) -> None
    run: str = ""              # the module's function (args) -> exit code
    passthrough: bool = False  # hand the remaining arguments to the module's own `main(argv)` (train.py)


COMMANDS = {
    "train": Command("train a frame predictor (mindspore_impl/train.py's options)", "mindspore_impl.train",
                     passthrough=True),
    "test": Command("held-out MSE/PSNR next to copy-last-frame", "mindspore_impl.frame_prediction",
                    "add_test_arguments", "run_test"),
    "generate": Command("roll a predictor out into a video", "mindspore_impl.frame_prediction",
                        "add_generate_arguments", "run_generate"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        if command.passthrough:
            p = sub.add_parser(name, help=command.help, add_help=False)
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        p = sub.add_parser(name, help=command.help, description=command.help)
        getattr(importlib.import_module(command.module), command.add_arguments)(p)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    if command is not None and command.passthrough:  # its own parser, its own --help
        return importlib.import_module(command.module).main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    return getattr(importlib.import_module(command.module), command.run)(args)


if __name__ == "__main__":
    run_main(main)

"""Sample images from a noise-driven ONNX generator (task `sample`) into a grid or one PNG per seed.

    python runtime/sample.py                                          # the bundled demo sampler, seeds 0-15
    python runtime/sample.py --model M.onnx --seeds 0-15 --grid 4x4 --trunc 0.7 --output grid.png
    python runtime/sample.py --model acgan.onnx --seeds 1,5,9 --tag hair=aqua --tag eye=blue --outdir samples/

Seed s draws z = np.random.RandomState(s).randn(1, z_dim) * sigma (the NVlabs rule), so the same seeds give
byte-identical files. Models with tags need a value for every group (--tag GROUP=VALUE); without any --tag, each
seed also picks its own tags (see Sampler.seeded_tags). Existing files are not replaced unless --overwrite.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/sample.py`

from runtime.cli import DEMO_SAMPLER, add_model_arguments, finite_float, positive_int  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.errors import ConversionError  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402
from runtime.imaging import check_image_suffix, save_image  # noqa: E402
from runtime.sampler import Sampler, make_grid, near_square, parse_seeds, parse_tags  # noqa: E402

DEFAULT_OUTPUT = Path("outputs") / "samples.png"


def parse_grid(text: str | None, count: int) -> tuple[int, int]:
    """'RxC' → (rows, cols) that hold `count` images; None → near-square."""
    if text is None:
        return near_square(count)
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ConversionError(f"--grid {text!r} is not ROWSxCOLS (e.g. 4x4)")
    rows, cols = int(match[1]), int(match[2])
    if rows * cols < count:
        raise ConversionError(f"--grid {rows}x{cols} holds {rows * cols} images but {count} seeds were given")
    return rows, cols


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-15", help="seeds: a range a-b, a list 1,5,9, or both (default 0-15)")
    parser.add_argument("--grid", default=None, metavar="RxC", help="grid rows x columns (default: near-square)")
    parser.add_argument("--trunc", type=finite_float, default=None, metavar="PSI",
                        help="truncation psi, for models with a scalar input (default: the model's)")
    parser.add_argument("--sigma", type=finite_float, default=1.0, help="scale of z (default 1.0)")
    parser.add_argument("--tag", action="append", default=[], metavar="GROUP=VALUE",
                        help="a tag for every sample, for models with tags (repeat it: every group needs one)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output", type=Path, default=None, help=f"grid image file (default: {DEFAULT_OUTPUT})")
    out.add_argument("--outdir", type=Path, default=None, help="write one PNG per seed instead (seed0000.png, ...)")
    parser.add_argument("--batch", type=positive_int, default=16, help="samples per model call (default 16)")
    add_overwrite_argument(parser)
    add_model_arguments(parser, default=DEMO_SAMPLER,
                        model_help="ONNX sampling model (task sample); default: the demo sampler")
    return parser


def open_sampler(args: argparse.Namespace) -> Sampler:
    """The model from --model, with a pointed message when the bundled demo sampler is missing."""
    if args.model == DEMO_SAMPLER and not DEMO_SAMPLER.is_file():
        raise ConversionError(f"demo sampler {DEMO_SAMPLER} not built yet; pass --model PATH.onnx")
    return Sampler(args.model, provider=args.provider, threads=args.threads)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Everything that can be checked without the model is checked first; nothing is written before sampling.
    seeds = parse_seeds(args.seeds)
    if args.outdir is not None and args.grid is not None:
        raise ConversionError("--grid applies to a grid image (--output), not to --outdir")
    rows, cols = parse_grid(args.grid, len(seeds))
    output = args.output or DEFAULT_OUTPUT
    if args.outdir is None:
        check_image_suffix(output)
    if not (math.isfinite(args.sigma) and args.sigma >= 0):
        raise ConversionError(f"--sigma {args.sigma} must be a finite number >= 0")
    if args.trunc is not None and not math.isfinite(args.trunc):
        raise ConversionError(f"--trunc {args.trunc} must be a finite number")
    tags = parse_tags(args.tag)
    planned = [args.outdir / f"seed{seed:04d}.png" for seed in seeds] if args.outdir is not None else [output]
    refuse_existing(planned, args.overwrite)

    sampler = open_sampler(args)
    print(f"model: {sampler.describe()}", file=sys.stderr)
    if args.trunc is not None and sampler.scalar is None:
        raise ConversionError(f"{sampler.path.name} has no truncation (scalar) input; --trunc does not apply")
    if tags and sampler.tags is None:
        raise ConversionError(f"{sampler.path.name} takes no tags; --tag does not apply")
    if sampler.tags is None:
        tag_rows = None
    else:
        tag_rows = sampler.encode_tags(tags) if tags else sampler.seeded_tags(seeds)
    images = sampler(sampler.latents(seeds, args.sigma), tag_rows, psi=args.trunc, batch=args.batch)

    if args.outdir is not None:
        for path, image in zip(planned, images):
            print(f"wrote {save_image(path, image)}")
    else:
        print(f"wrote {save_image(output, make_grid(images, rows, cols))}")
    return 0


if __name__ == "__main__":
    run_main(main)

"""Sample images from a noise-driven ONNX generator (task `sample`) into a grid or one PNG per seed.

    python runtime/sample.py                                          # every bundled demo sampler, seeds 0-15
    python runtime/sample.py --model M.onnx --seeds 0-15 --grid 4x4 --trunc 0.7 --output grid.png
    python runtime/sample.py --model acgan.onnx --seeds 1,5,9 --tag hair=aqua --tag eye=blue --outdir samples/

Seed s draws z = np.random.RandomState(s).randn(1, z_dim) * sigma (the NVlabs rule), so the same seeds give
byte-identical files. Models with tags need a value for every group (--tag GROUP=VALUE); without any --tag, each
seed also picks its own tags (see Sampler.seeded_tags).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/sample.py`

from runtime.cli import DEMO_SAMPLERS, add_model_arguments, positive_int  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.errors import ConversionError  # noqa: E402
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
    parser.add_argument("--trunc", type=float, default=None, metavar="PSI",
                        help="truncation psi, for models with a scalar input (default: the model's)")
    parser.add_argument("--sigma", type=float, default=1.0, help="scale of z (default 1.0)")
    parser.add_argument("--tag", action="append", default=[], metavar="GROUP=VALUE",
                        help="a tag for every sample, for models with tags (repeat it: every group needs one)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output", type=Path, default=None, help=f"grid image file (default: {DEFAULT_OUTPUT})")
    out.add_argument("--outdir", type=Path, default=None, help="write one PNG per seed instead (seed0000.png, ...)")
    parser.add_argument("--batch", type=positive_int, default=16, help="samples per model call (default 16)")
    add_model_arguments(parser, default=DEMO_SAMPLERS[0],
                        model_help="ONNX sampling model (task sample); default: every bundled demo sampler, each "
                                   "to its own file (<output stem>_<model>.png, or <outdir>/<model>/)")
    parser.set_defaults(model=None)
    return parser


def models_to_sample(args: argparse.Namespace) -> list[Path]:
    """--model, or every bundled demo sampler that is built (a pointed message when none is)."""
    if args.model is not None:
        return [args.model]
    built = [path for path in DEMO_SAMPLERS if path.is_file()]
    if not built:
        raise ConversionError(f"no demo sampler built yet ({', '.join(str(p) for p in DEMO_SAMPLERS)}); "
                              "pass --model PATH.onnx")
    return built


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
    models = models_to_sample(args)
    several = args.model is None  # the bundled demos: each to its own file, however many are built

    samplers = [Sampler(model, provider=args.provider, threads=args.threads) for model in models]
    for sampler in samplers:  # every model is checked before anything is written
        print(f"model: {sampler.describe()}", file=sys.stderr)
        # the bundled demos differ: --trunc / --tag go to those that take them
        if args.trunc is not None and sampler.scalar is None and not several:
            raise ConversionError(f"{sampler.path.name} has no truncation (scalar) input; --trunc does not apply")
        if tags and sampler.tags is None and not several:
            raise ConversionError(f"{sampler.path.name} takes no tags; --tag does not apply")
        if tags and sampler.tags is not None:
            sampler.encode_tags(tags)  # unknown names stop here, before anything is written
    for sampler in samplers:
        if sampler.tags is None:
            tag_rows = None
        else:
            tag_rows = sampler.encode_tags(tags) if tags else sampler.seeded_tags(seeds)
        psi = args.trunc if sampler.scalar is not None else None
        images = sampler(sampler.latents(seeds, args.sigma), tag_rows, psi=psi, batch=args.batch)
        stem = sampler.path.stem
        if args.outdir is not None:
            outdir = args.outdir / stem if several else args.outdir
            for seed, image in zip(seeds, images):
                print(f"wrote {save_image(outdir / f'seed{seed:04d}.png', image)}")
        else:
            target = output.with_name(f"{output.stem}_{stem}{output.suffix}") if several else output
            print(f"wrote {save_image(target, make_grid(images, rows, cols))}")
    return 0


if __name__ == "__main__":
    run_main(main)

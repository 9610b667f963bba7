"""Sample images from a noise-driven ONNX generator (task `sample`) into a grid or one PNG per seed.

    python runtime/sample.py                                          # every bundled demo sampler
    python runtime/sample.py --model M.onnx --seeds 0-15 --grid 4x4 --trunc 0.7 --output grid.png
    python runtime/sample.py --model acgan.onnx --seeds 1,5,9 --tag hair=aqua --tag eye=blue --outdir samples/
    python runtime/sample.py --model acgan.onnx --mode change_hair --eye blue --n 4 --seed 7 --output hair.png

Seed s draws z = np.random.RandomState(s).randn(1, z_dim) * sigma (the NVlabs rule), so the same seeds give
byte-identical files; sigma defaults to the model's own (`sample_sigma` in its metadata: 0.9 for the ACGAN, as
the study samples; 1 otherwise). Models with tags need a value for every group (--tag GROUP=VALUE, or --hair /
--eye); without any, each seed picks its own tags (see Sampler.seeded_tags). Existing files are not replaced
unless --overwrite.

--mode lays out the Anime-Generation study's test.py grids, with row and column labels: fix_noise (one latent,
every hair x eye pair), fix_hair_eye (one tag pair, --n latents), change_hair / change_eye (--n rows, the
colour varied across), interpolate (--n rows from seed a to a + 1); see runtime/sampler.grid_plan.

Without --model every bundled demo sampler (runtime/cli.DEMO_SAMPLERS) is sampled with the given options, each
into outputs/samples_<name>.png. Everything is checked before anything is written.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/sample.py`

from runtime.cli import DEMO_SAMPLERS, add_model_arguments, finite_float, non_negative_int, positive_int  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402
from runtime.imaging import check_image_suffix, save_image  # noqa: E402
from runtime.sampler import (GridPlan, Sampler, default_sigma, grid_plan, make_grid, near_square,  # noqa: E402
                             parse_seeds, parse_tags, seeds_plan)

DEFAULT_OUTPUT = Path("outputs") / "samples.png"
DEFAULT_SEEDS = "0-15"


def demo_name(path: Path) -> str:
    """runtime/assets/demo_<name>.onnx → <name>."""
    return path.stem.removeprefix("demo_")


def demo_output(path: Path) -> Path:
    return Path("outputs") / f"samples_{demo_name(path)}.png"


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
    parser.add_argument("--mode", default=None, metavar="MODE",
                        help="a labelled grid: fix_noise, fix_hair_eye, change_hair, change_eye, interpolate "
                             "(the model's tag groups name them; default: one cell per --seeds seed)")
    parser.add_argument("--seeds", default=None, help=f"seeds: a range a-b, a list 1,5,9, or both "
                                                      f"(default {DEFAULT_SEEDS}; not with --mode)")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help="with --mode: the first seed (default 0)")
    parser.add_argument("--n", type=positive_int, default=None,
                        help="with --mode: latents (fix_hair_eye, default 64) or rows (change_*, interpolate, "
                             "default 1)")
    parser.add_argument("--grid", default=None, metavar="RxC", help="grid rows x columns (default: near-square)")
    parser.add_argument("--trunc", type=finite_float, default=None, metavar="PSI",
                        help="truncation psi, for models with a scalar input (default: the model's)")
    parser.add_argument("--sigma", type=finite_float, default=None,
                        help="scale of z (default: the model's sample_sigma, else 1.0)")
    parser.add_argument("--tag", action="append", default=[], metavar="GROUP=VALUE",
                        help="a tag for every sample, for models with tags (repeat it: every group needs one)")
    parser.add_argument("--hair", default=None, help="same as --tag hair=HAIR")
    parser.add_argument("--eye", default=None, help="same as --tag eye=EYE")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output", type=Path, default=None, help=f"grid image file (default: {DEFAULT_OUTPUT})")
    out.add_argument("--outdir", type=Path, default=None, help="write one PNG per seed instead (seed0000.png, ...)")
    parser.add_argument("--batch", type=positive_int, default=16, help="samples per model call (default 16)")
    add_overwrite_argument(parser)
    add_model_arguments(parser, model_help="ONNX sampling model (task sample); default: every bundled demo sampler")
    parser.set_defaults(model=None)  # no --model: every demo (add_model_arguments' default is the stylizer demo)
    return parser


def collect_tags(args: argparse.Namespace) -> dict[str, str]:
    items = list(args.tag) + [f"{g}={v}" for g, v in (("hair", args.hair), ("eye", args.eye)) if v is not None]
    return parse_tags(items)


def check_options(args: argparse.Namespace) -> None:
    """Everything that can be checked without a model."""
    if args.mode is not None:
        for flag, value in (("--seeds", args.seeds), ("--grid", args.grid), ("--outdir", args.outdir)):
            if value is not None:
                raise ConversionError(f"{flag} does not apply with --mode (use --seed and --n)")
    elif args.seed is not None or args.n is not None:
        raise ConversionError("--seed and --n apply with --mode; without it, list the seeds with --seeds")
    if args.outdir is not None and args.grid is not None:
        raise ConversionError("--grid applies to a grid image (--output), not to --outdir")
    if args.model is None and (args.output is not None or args.outdir is not None):
        raise ConversionError("without --model every demo is sampled into outputs/samples_<name>.png; pass "
                              "--model to choose the output")
    if args.outdir is None:
        check_image_suffix(args.output or DEFAULT_OUTPUT)
    if args.sigma is not None and not (math.isfinite(args.sigma) and args.sigma >= 0):
        raise ConversionError(f"--sigma {args.sigma} must be a finite number >= 0")
    if args.trunc is not None and not math.isfinite(args.trunc):
        raise ConversionError(f"--trunc {args.trunc} must be a finite number")


def open_demos() -> list[Sampler]:
    """Every bundled demo sampler; a missing one is an error naming the command that rebuilds it."""
    missing = [p for p in DEMO_SAMPLERS if not p.is_file()]
    if missing:
        raise ConversionError(f"demo sampler {missing[0]} is missing; rebuild it with "
                              f"`python mindspore_impl/build_demo.py {demo_name(missing[0])}` (or pass --model)")
    return list(DEMO_SAMPLERS)


def plan_for(sampler: Sampler, args: argparse.Namespace, tags: dict[str, str], seeds: list[int] | None) -> GridPlan:
    """The grid `args` ask of this model (its own sigma unless --sigma). The bundled demos differ (the ACGAN takes
    tags, the StyleGAN2 a truncation), so without --model each option goes to the demos that take it; with
    --model an option the model cannot take is an error."""
    chosen = args.model is not None
    if args.trunc is not None and sampler.scalar is None and chosen:
        raise ConversionError(f"{sampler.path.name} has no truncation (scalar) input; --trunc does not apply")
    if sampler.tags is None:
        if tags and chosen:
            raise ConversionError(f"{sampler.path.name} takes no tags; --tag does not apply")
        tags = {}  # (a --mode grid still needs tags: grid_plan says so, naming the model)
    sigma = args.sigma if args.sigma is not None else default_sigma(sampler.metadata)
    try:
        if args.mode is not None:
            return grid_plan(args.mode, sampler.interface, seed=args.seed or 0, n=args.n, tags=tags, sigma=sigma)
        rows, cols = parse_grid(args.grid, len(seeds))
        return seeds_plan(sampler.interface, seeds, rows, cols, tags, sigma)
    except ConversionError as exc:
        raise ConversionError(f"{sampler.path.name}: {exc}") from None


def render(sampler: Sampler, plan: GridPlan, psi: float | None, batch: int):
    """(images uint8 [N, H, W, 3], the labelled grid)."""
    images = sampler(plan.z, plan.tags, psi=psi, batch=batch)
    return images, make_grid(images, plan.rows, plan.cols, plan.row_labels, plan.col_labels)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_options(args)
    tags = collect_tags(args)
    seeds = parse_seeds(args.seeds or DEFAULT_SEEDS) if args.mode is None else None
    paths = [args.model] if args.model is not None else open_demos()
    if args.outdir is not None:
        planned = [args.outdir / f"seed{seed:04d}.png" for seed in seeds]
    else:
        planned = [args.output or DEFAULT_OUTPUT] if args.model is not None else [demo_output(p) for p in paths]
    refuse_existing(planned, args.overwrite)
    samplers = [Sampler(p, provider=args.provider, threads=args.threads) for p in paths]
    plans = [plan_for(s, args, tags, seeds) for s in samplers]  # every model's grid checked before any output
    results = []
    for sampler, plan in zip(samplers, plans):
        print(f"model: {sampler.describe()}", file=sys.stderr)
        results.append(render(sampler, plan, args.trunc if sampler.scalar is not None else None, args.batch))
    if args.outdir is not None:
        for path, image in zip(planned, results[0][0]):
            print(f"wrote {save_image(path, image)}")
        return 0
    for output, (_, grid) in zip(planned, results):
        print(f"wrote {save_image(output, grid)}")
    return 0


if __name__ == "__main__":
    run_main(main)

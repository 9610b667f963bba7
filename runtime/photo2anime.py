"""Convert photos to anime style with an ONNX generator.

    python runtime/photo2anime.py                                    # the bundled demo photo and model
    python runtime/photo2anime.py --model M.onnx --input a.jpg pics/ "shots/*.png" --output out/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/photo2anime.py`

from runtime.cli import DEMO_PHOTO, add_model_arguments, add_size_arguments, build_stylizer, open_generator, \
    positive_int  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.photo import collect_inputs, convert_photos, plan_jobs  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", default=[str(DEMO_PHOTO)], metavar="PATH",
                        help="image files, folders or glob patterns (default: the bundled demo photo)")
    parser.add_argument("--output", type=Path, default=Path("outputs"), help="output folder (default: outputs/)")
    parser.add_argument("--suffix", default="_anime", help="appended to each output file name (default: _anime)")
    parser.add_argument("--format", default=None, help="output format (jpg, png, webp, ...); default: the input's")
    parser.add_argument("--batch", type=positive_int, default=1, help="same-size photos per model call")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_model_arguments(parser)
    add_size_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    jobs = plan_jobs(collect_inputs(args.input), args.output, args.suffix, args.format)
    stylizer = build_stylizer(args, open_generator(args), tile_progress=not args.no_progress)
    print(f"model: {stylizer.generator.describe()}", file=sys.stderr)
    for path in convert_photos(stylizer, jobs, args.batch, progress=not args.no_progress):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    run_main(main)

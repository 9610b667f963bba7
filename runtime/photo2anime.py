"""Convert photos to anime style with an ONNX generator.

    python runtime/photo2anime.py                                    # the bundled demo photo and model
    python runtime/photo2anime.py --model M.onnx --input a.jpg pics/ "shots/*.png" --output out/

Existing output files are not replaced unless --overwrite is given (checked for every photo before any work).
A photo that cannot be read is skipped with one `skipped: ...` line; the others are converted and the command
exits with status 1 at the end (2 for errors that stop it, 0 when every photo was converted).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/photo2anime.py`

from runtime.cli import DEMO_PHOTO, add_model_arguments, add_size_arguments, build_stylizer, open_generator, \
    positive_int  # noqa: E402
from runtime.errors import EXIT_SKIPPED, run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument  # noqa: E402
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
    add_overwrite_argument(parser)
    add_model_arguments(parser)
    add_size_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    jobs = plan_jobs(collect_inputs(args.input), args.output, args.suffix, args.format, overwrite=args.overwrite)
    stylizer = build_stylizer(args, open_generator(args), tile_progress=not args.no_progress)
    print(f"model: {stylizer.generator.describe()}", file=sys.stderr)
    written, skipped = convert_photos(stylizer, jobs, args.batch, progress=not args.no_progress)
    for path in written:
        print(f"wrote {path}")
    if skipped:
        print(f"{len(skipped)} of {len(jobs)} photo(s) skipped (unreadable)", file=sys.stderr)
        return EXIT_SKIPPED
    return 0


if __name__ == "__main__":
    run_main(main)

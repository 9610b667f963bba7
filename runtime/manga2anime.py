"""Make an anime clip from a manga page and a first frame with an ONNX future-frame predictor (task `predict`).

    python runtime/manga2anime.py                         # the bundled demo predictor, page and first frame
    python runtime/manga2anime.py --model predictor.onnx --page PAGE.png --first-frame F.png --frames 12 \\
        --output clip.mp4 [--strip strip.png] [--fps 12] [--overwrite]

The clip holds --frames frames: the first frame (resized so its sides are multiples of the model's size multiple,
when they are not), then each next frame predicted from the one before and the page, fed back autoregressively
(runtime/predictor.py). The page may be grey or colour; it is made grey and resized as in training. Output: H.264
(yuv420p) in .mp4/.m4v/.mov/.mkv, written atomically; an existing output is refused unless --overwrite.
Export a trained predictor with `python export/to_onnx.py --config C.yaml --ckpt RUN/generator.ckpt --output
predictor.onnx`; rebuild the bundled demo with `python mindspore_impl/build_demo.py predictor`.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/manga2anime.py`

import numpy as np  # noqa: E402

from runtime.cli import ASSETS, add_model_arguments, positive_int  # noqa: E402
from runtime.errors import ConversionError, run_main  # noqa: E402
from runtime.imaging import check_image_suffix, load_image, save_image  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402
from runtime.predictor import FramePredictor  # noqa: E402
from runtime.sampler import make_grid  # noqa: E402
from runtime.video import CONTAINERS, X264_PRESETS, write_frames  # noqa: E402

DEMO_PREDICTOR = ASSETS / "demo_predictor.onnx"
DEMO_PAGE = ASSETS / "demo_predictor_page.png"
DEMO_FIRST_FRAME = ASSETS / "demo_predictor_first_frame.png"
DEFAULT_OUTPUT = Path("outputs") / "manga2anime.mp4"
STRIP_FRAMES = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", type=Path, default=DEMO_PAGE, help="manga page image (default: the demo page)")
    parser.add_argument("--first-frame", type=Path, default=DEMO_FIRST_FRAME,
                        help="the clip's first frame (default: the demo frame)")
    parser.add_argument("--frames", type=positive_int, default=12,
                        help="frames in the clip, the first included (default 12)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"the clip (default {DEFAULT_OUTPUT})")
    parser.add_argument("--strip", type=Path, default=None,
                        help=f"also write {STRIP_FRAMES} evenly spaced frames side by side as one image")
    parser.add_argument("--fps", type=float, default=12.0, help="frame rate (default 12)")
    parser.add_argument("--crf", type=int, default=18, help="x264 quality, 0 (lossless) … 51 (default 18)")
    parser.add_argument("--preset", choices=X264_PRESETS, default="medium", help="x264 preset (default medium)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(parser)
    add_model_arguments(parser, default=DEMO_PREDICTOR,
                        model_help="ONNX future-frame predictor (task predict); default: the demo predictor")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Everything that can fail before the model runs, so nothing is written on a bad request."""
    suffix = args.output.suffix.lower()
    if suffix not in CONTAINERS:
        raise ConversionError(f"unsupported output type {suffix or '(no extension)'!r} for {args.output}; "
                              f"supported: {', '.join(sorted(CONTAINERS))}")
    if not (math.isfinite(args.fps) and 0 < args.fps <= 240):
        raise ConversionError(f"--fps {args.fps} must be in (0, 240]")
    if not 0 <= args.crf <= 51:
        raise ConversionError(f"--crf {args.crf} is outside 0..51")
    outputs = [args.output] + ([args.strip] if args.strip is not None else [])
    if args.strip is not None:
        check_image_suffix(args.strip)
        if args.strip.resolve() == args.output.resolve():
            raise ConversionError("--strip and --output name the same file")
    for given in (args.page, args.first_frame, args.model):
        if any(given.resolve() == out.resolve() for out in outputs):
            raise ConversionError(f"refusing to overwrite the input {given}; choose another output")
    refuse_existing(outputs, args.overwrite)


def open_predictor(args: argparse.Namespace) -> FramePredictor:
    if args.model == DEMO_PREDICTOR and not DEMO_PREDICTOR.is_file():
        raise ConversionError(f"demo predictor {DEMO_PREDICTOR} not built yet (python mindspore_impl/build_demo.py "
                              "predictor); pass --model PATH.onnx")
    return FramePredictor(args.model, provider=args.provider, threads=args.threads)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_arguments(args)
    predictor = open_predictor(args)  # first: a missing demo is reported as such, not as a missing demo page
    print(f"model: {predictor.describe()}", file=sys.stderr)
    page = load_image(args.page).rgb
    first = load_image(args.first_frame).rgb

    picks = set(np.linspace(0, args.frames - 1, min(STRIP_FRAMES, args.frames)).round().astype(int).tolist())
    kept: dict[int, np.ndarray] = {}  # the strip's frames (the clip itself is encoded as it is predicted)

    def frames():
        for index, frame in enumerate(predictor.clip(first, page, args.frames)):
            if index in picks:
                kept[index] = frame
            yield frame

    count = write_frames(args.output, frames(), fps=args.fps, crf=args.crf, preset=args.preset,
                         progress=not args.no_progress, total=args.frames)
    height, width = kept[0].shape[:2]
    print(f"wrote {args.output} ({count} frames of {width}x{height})")
    if args.strip is not None:
        order = sorted(kept)
        strip = make_grid([kept[i] for i in order], 1, len(order), col_labels=[str(i) for i in order])
        print(f"wrote {save_image(args.strip, strip)}")
    return 0


if __name__ == "__main__":
    run_main(main)

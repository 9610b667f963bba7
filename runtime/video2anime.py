"""Convert a video to anime style with an ONNX generator; the audio is copied, timing and frame count are kept.

    python runtime/video2anime.py                                    # the bundled demo clip and model
    python runtime/video2anime.py --model M.onnx --input in.mp4 --output out.mp4 --start 5 --end 12 --preview

The MindSpore AnimeGANv2 port's options work too (docs/mindspore_port.md); a MindSpore .ckpt is exported to ONNX
first, in a separate process, and cached beside it:

    python runtime/video2anime.py --video_input in.mp4 --video_output out.mp4 --video_ckpt_file_name netG_28.ckpt

An existing output file is not replaced unless --overwrite is given. Ctrl-C, SIGTERM and SIGHUP stop the
conversion and remove the partly written output; so does a write error (a full disk), at the first one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python runtime/video2anime.py`

from runtime.cli import DEMO_CLIP, add_model_arguments, add_size_arguments, build_stylizer, finite_float, \
    open_generator, positive_int  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.port_options import add_port_video_arguments, apply_port_video_options  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402
from runtime.video import X264_PRESETS, VideoConverter, VideoOptions, check_video_paths, resolve_output  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", "--video_input", dest="input", type=Path, default=DEMO_CLIP,
                        help="input video (default: the bundled demo clip)")
    parser.add_argument("--output", "--video_output", dest="output", default=None,
                        help="output .mp4/.mov/.mkv file or folder (default: outputs/<name>_anime.mp4)")
    parser.add_argument("--start", type=finite_float, default=None, help="first second to convert")
    parser.add_argument("--end", type=finite_float, default=None, help="second to stop at (exclusive)")
    parser.add_argument("--batch", type=positive_int, default=1, help="frames per model call (default 1)")
    parser.add_argument("--crf", type=int, default=18, help="x264 quality, 0 (lossless) .. 51 (default 18)")
    parser.add_argument("--preset", default="medium", choices=X264_PRESETS, help="x264 speed/size preset")
    parser.add_argument("--preview", action="store_true", help="write original and stylised side by side")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(parser)
    add_model_arguments(parser)
    parser.add_argument("--video_ckpt_file_name", dest="model", type=Path, default=argparse.SUPPRESS,
                        help="the port's spelling of --model (a .ckpt is exported to ONNX once, cached beside it)")
    add_size_arguments(parser)
    add_port_video_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for note in apply_port_video_options(args):
        print(f"note: {note}", file=sys.stderr)
    options = VideoOptions(start=args.start, end=args.end, batch=args.batch, crf=args.crf, preset=args.preset,
                           preview=args.preview, progress=not args.no_progress)
    output = resolve_output(args.input, args.output, args.preview)
    check_video_paths(args.input, output)  # before loading the model: bad paths fail fast
    refuse_existing([output], args.overwrite)
    # spin=False: idle onnxruntime threads must not busy-wait on the cores the decoder and encoder threads need
    stylizer = build_stylizer(args, open_generator(args, spin=False))
    print(f"model: {stylizer.generator.describe()}", file=sys.stderr)
    result = VideoConverter(stylizer, args.input, output, options).run()
    print(f"{result.frames} frames in {result.seconds:.1f} s ({result.frames / max(result.seconds, 1e-9):.2f} fps), "
          f"audio: {result.audio}", file=sys.stderr)
    print(f"wrote {result.output}")
    return 0


if __name__ == "__main__":
    run_main(main)

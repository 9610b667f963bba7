"""The MindSpore AnimeGANv2 port's video2anime.py options, accepted by runtime/video2anime.py under the same names.

`--video_input`, `--video_output` and `--video_ckpt_file_name` are aliases of --input, --output and --model (a
`.ckpt` is exported to ONNX first, runtime/checkpoint_export.py). The port's other options are taken here and
mapped, or reported as not needed, because the runtime does better:
- `--output_format mp4v`: the port wrote MPEG-4 Part 2 with OpenCV; we encode H.264 with PyAV (x264) and keep the
  audio, which the port dropped;
- `--img_size`: the port resized frames to multiples of 32 (at least 256) and wrote them at that size; we run the
  frame at its own size and write it at that size;
- `--device_target`: onnxruntime's provider (GPU → cuda, CPU → cpu); by default the first that exists, where the
  port defaulted to GPU;
- `--device_id`: onnxruntime uses the first GPU.
"""
from __future__ import annotations

import argparse

from runtime.errors import ConversionError

# The port's video2anime.py options → ours (docs/mindspore_port.md shows this table).
VIDEO_OPTIONS = (
    ("--device_target", "GPU", "--provider (GPU → cuda, CPU → cpu)", "default: the first provider that exists"),
    ("--device_id", "0", "-", "onnxruntime runs on the first GPU"),
    ("--video_ckpt_file_name", "../checkpoints/Hayao/netG_30.ckpt", "--model",
     "a .ckpt is exported to ONNX once and cached beside it"),
    ("--video_input", "../video/test.mp4", "--input", ""),
    ("--video_output", "../video/output.mp4", "--output", ""),
    ("--output_format", "mp4v", "-", "H.264 (x264) through PyAV, audio kept"),
    ("--img_size", "[256, 256]", "-", "frames keep their own size"),
)
_PROVIDER_OF_DEVICE = {"GPU": "cuda", "CPU": "cpu"}


def add_port_video_arguments(parser: argparse.ArgumentParser) -> None:
    """The port's options that are not aliases of ours (those are added beside ours); defaults None."""
    group = parser.add_argument_group("the MindSpore AnimeGANv2 port's video2anime.py options "
                                      "(docs/mindspore_port.md)")
    group.add_argument("--device_target", choices=("CPU", "GPU", "Ascend"), default=None,
                       help="→ --provider (GPU: cuda, CPU: cpu); default: the first that exists")
    group.add_argument("--device_id", type=int, default=None, help="accepted; onnxruntime uses the first GPU")
    group.add_argument("--output_format", default=None,
                       help="accepted; the output is H.264 (x264) through PyAV, with the input's audio")
    group.add_argument("--img_size", nargs="+", default=None,
                       help="accepted; frames are converted at their own size, not resized to multiples of 32")


def apply_port_video_options(args: argparse.Namespace) -> list[str]:
    """Map the port-only options onto `args` (in place); returns notes for the user."""
    notes = []
    if args.device_target is not None:
        if args.device_target not in _PROVIDER_OF_DEVICE:
            raise ConversionError(f"--device_target {args.device_target}: the runtime runs onnxruntime on CUDA or "
                                  "CPU (choose GPU or CPU)")
        args.provider = _PROVIDER_OF_DEVICE[args.device_target]
    if args.device_id:
        notes.append(f"--device_id {args.device_id}: no effect, onnxruntime runs on the first GPU")
    if args.output_format is not None:
        notes.append(f"--output_format {args.output_format}: the video is encoded as H.264 (x264) with PyAV, "
                     "and its audio is kept")
    if args.img_size is not None:
        notes.append("--img_size: frames are converted at their own size (the port resized them to multiples of "
                     "32)")
    return notes

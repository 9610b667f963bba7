"""Arguments shared by the runtime CLIs (photo2anime.py, video2anime.py, sample.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from runtime.checkpoint_export import onnx_model_for
from runtime.argtypes import finite_float, non_negative_int, positive_int  # noqa: F401  (re-exported)
from runtime.errors import ConversionError
from runtime.session import PROVIDERS, Generator
from runtime.stylize import Stylizer, TileOptions

ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_MODEL = ASSETS / "demo_animeganv2.onnx"
DEMO_PHOTO = ASSETS / "demo_photo.jpg"
DEMO_CLIP = ASSETS / "demo_clip.mp4"
# Every bundled sampling demo; `python runtime/sample.py` without arguments samples each of them. A demo named
# demo_<name>.onnx is rebuilt by `python mindspore_impl/build_demo.py <name>`.
DEMO_SAMPLERS = (ASSETS / "demo_acgan.onnx", ASSETS / "demo_stylegan2.onnx")


def add_model_arguments(parser: argparse.ArgumentParser, default: Path | None = None,
                        model_help: str = "ONNX generator (ours, or an official AnimeGANv2/v3 NHWC file), or a "
                                          "MindSpore .ckpt (exported once, cached beside it); default: the "
                                          "demo model") -> None:
    """--model (default: `default`, else the demo stylizer, looked up now so tests can point it elsewhere),
    --provider, --threads."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", type=Path, default=default or DEMO_MODEL, help=model_help)
    group.add_argument("--provider", choices=["auto", *PROVIDERS], default="auto",
                       help="execution provider; auto = CUDA when available, else CPU")
    group.add_argument("--threads", type=non_negative_int, default=0,
                       help="onnxruntime intra-op threads (0 = onnxruntime's choice)")


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-side, tiling and brightness options."""
    group = parser.add_argument_group("size and tiling")
    group.add_argument("--max-side", type=positive_int, default=None,
                       help="run the model on a copy whose longer side is at most this, then resize the result "
                            "back to the input size (caps time and memory)")
    defaults = TileOptions()
    group.add_argument("--tile-size", type=positive_int, default=defaults.size,
                       help=f"tile edge in pixels (default {defaults.size})")
    group.add_argument("--tile-overlap", type=non_negative_int, default=defaults.overlap,
                       help=f"pixels shared by neighbouring tiles, blended (default {defaults.overlap})")
    group.add_argument("--tile-above", type=non_negative_int, default=defaults.above,
                       help=f"tile images whose longer side exceeds this (default {defaults.above}; 0 = always)")
    group.add_argument("--per-tile-stats", action="store_true",
                       help="normalise each tile by its own statistics instead of whole-image statistics")
    group.add_argument("--match-brightness", action="store_true",
                       help="scale each result so its mean brightness matches the source")


def open_generator(args: argparse.Namespace, spin: bool = True) -> Generator:
    """The model from --model, with a pointed message when the bundled demo model is missing; a MindSpore .ckpt
    is exported to ONNX first, in a separate process, and cached beside it (runtime/checkpoint_export.py)."""
    if args.model == DEMO_MODEL and not DEMO_MODEL.is_file():
        raise ConversionError(f"demo model {DEMO_MODEL} not built yet; pass --model PATH.onnx")
    return Generator(onnx_model_for(args.model), provider=args.provider, threads=args.threads, spin=spin)


def build_stylizer(args: argparse.Namespace, generator: Generator, tile_progress: bool = False) -> Stylizer:
    """Stylizer from the size/tiling arguments."""
    tiles = TileOptions(size=args.tile_size, overlap=args.tile_overlap, above=args.tile_above,
                        global_stats=not args.per_tile_stats)
    return Stylizer(generator, tiles=tiles, max_side=args.max_side, brightness=args.match_brightness,
                    progress=tile_progress)

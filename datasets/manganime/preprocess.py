"""Manga → anime data preparation: `python datasets/manganime/preprocess.py COMMAND ...`.

The flow from raw episodes to a training set: reformat → index → manga / anime → search → chunks (optional)
→ label.py (tagging, in the browser) → dataset. `COMMAND --help` describes each step's options.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datasets.image_io import read_rgb  # noqa: E402
from datasets.manganime.atomic import write_json_atomic  # noqa: E402
from datasets.manganime.config import (REFERENCE_KINDS, add_exclude_range, load_anime_config,  # noqa: E402
                                       resolve_data_paths)
from datasets.manganime.dataset_export import STYLEGAN_FRAME_CHOICES, STYLEGAN_SINKS, export_dataset  # noqa: E402
from datasets.manganime.errors import ManganimeError  # noqa: E402
from datasets.manganime.files import default_output_dir, list_videos, require_dir  # noqa: E402
from datasets.manganime.intro_search import SEARCH_MINUTES, find_reference  # noqa: E402
from datasets.manganime.manga_pages import MANGA_SIZE, process_manga_folder  # noqa: E402
from datasets.manganime.reindex import apply_reindex, plan_reindex  # noqa: E402
from datasets.manganime.scene_cuts import CUT_MEASURE, CUT_THRESHOLD, SceneCuts, chunk_ranges  # noqa: E402
from datasets.manganime.similarity import SIMILARITY_MEASURES  # noqa: E402
from datasets.manganime.video_io import CONTAINERS, VideoFrames, transcode  # noqa: E402
from runtime.argtypes import finite_float  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402

ANIME_SIZE = 256
MIN_COSINE = 0.95


def _timestamp(frame: int, fps: float) -> str:
    seconds = frame / fps
    return f"{int(seconds // 60):02d}:{seconds % 60:06.3f}"


def _output_dir(source: Path, out) -> Path:
    return Path(out) if out else default_output_dir(source)


# ---------------------------------------------------------------------------------------------------------
# reformat

def _add_reformat(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", nargs="+", required=True, metavar="FILE", help="video files to convert")
    p.add_argument("--format", default="mp4", choices=sorted(CONTAINERS), help="output container (default mp4)")
    p.add_argument("--video-codec", default="copy",
                   help="'copy' re-muxes the video untouched (default); or an encoder such as libx264, mpeg4")
    p.add_argument("--out", help="output folder (default: beside each input)")
    add_overwrite_argument(p, "--force")


def _run_reformat(args) -> None:
    sources = [Path(p) for p in args.path]
    plan = [(src, (Path(args.out) if args.out else src.parent) / f"{src.stem}.{args.format}") for src in sources]
    for _, dst in plan:
        if any(dst.resolve() == s.resolve() for s in sources):
            raise ManganimeError(f"{dst}: is one of the inputs; pass --out to write elsewhere")
    refuse_existing([dst for _, dst in plan], args.overwrite)  # every output, before the first is converted
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    for src, dst in plan:
        frames = transcode(src, dst, video_codec=args.video_codec)
        print(f"{src} → {dst} ({frames} video {'packets' if args.video_codec == 'copy' else 'frames'})")


# ---------------------------------------------------------------------------------------------------------
# index

def _add_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", required=True, metavar="DIR", help="folder whose files are renumbered 0..n-1")
    p.add_argument("--pattern", help="glob of the files to renumber (default: the videos, else the images)")
    p.add_argument("--dry-run", action="store_true", help="print the renames without doing them")


def _run_index(args) -> None:
    plan = plan_reindex(args.path, args.pattern)
    for r in plan:
        print(f"{r.source.name} → {r.target.name}")
    if not plan:
        print("already indexed")
    elif args.dry_run:
        print(f"dry run: {len(plan)} file(s) would be renamed")
    else:
        apply_reindex(plan)
        print(f"renamed {len(plan)} file(s)")


# ---------------------------------------------------------------------------------------------------------
# manga

def _add_manga(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", nargs="+", required=True, metavar="DIR", help="folders of scanned pages")
    p.add_argument("--out", help="output folder (one --path only; default: the path with data/ → preprocess/)")
    p.add_argument("--size", type=int, default=MANGA_SIZE, help=f"output page size (default {MANGA_SIZE})")
    add_overwrite_argument(p)


def _run_manga(args) -> None:
    if args.out and len(args.path) > 1:
        raise ManganimeError("--out takes one --path; for several folders use the data/ → preprocess/ layout")
    for source in map(Path, args.path):
        out = _output_dir(source, args.out)
        count = process_manga_folder(source, out, args.size, overwrite=args.overwrite)
        print(f"{source} → {out} ({count} pages)")


# ---------------------------------------------------------------------------------------------------------
# anime

def _add_anime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", required=True, metavar="DIR", help="folder of episode videos")
    p.add_argument("--out", help="output folder (default: the path with data/ → preprocess/)")
    p.add_argument("--size", type=int, default=ANIME_SIZE, help=f"output frame size (default {ANIME_SIZE})")
    p.add_argument("--format", default="mp4", choices=sorted(CONTAINERS), help="output container (default mp4)")
    p.add_argument("--video-codec", help="encoder (default: the container's, libx264 for mp4)")
    add_overwrite_argument(p)


def _run_anime(args) -> None:
    source = require_dir(args.path)
    out = _output_dir(source, args.out)
    if out.resolve() == source.resolve():
        raise ManganimeError(f"{source}: output folder is the input folder")
    if args.size <= 0 or args.size % 2:
        raise ManganimeError(f"--size must be a positive even number, got {args.size}")
    videos = list_videos(source)
    if not videos:
        raise ManganimeError(f"{source}: no video files")
    refuse_existing([out / f"{src.stem}.{args.format}" for src in videos], args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    codec = args.video_codec or CONTAINERS[args.format].video_encoder
    for src in videos:
        dst = out / f"{src.stem}.{args.format}"
        frames = transcode(src, dst, video_codec=codec, size=args.size)
        print(f"{src} → {dst} ({frames} frames, {args.size}×{args.size})")


# ---------------------------------------------------------------------------------------------------------
# search

def _add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", required=True, metavar="DIR", help="preprocessed episode folder with config.json")
    p.add_argument("--type", required=True, choices=REFERENCE_KINDS, help="which block of config.json to use")
    p.add_argument("--minutes", type=finite_float, default=SEARCH_MINUTES,
                   help=f"search the first/last this many minutes (default {SEARCH_MINUTES:g})")
    p.add_argument("--min-cosine", type=finite_float, default=MIN_COSINE,
                   help=f"never store a match whose cosine is below this (default {MIN_COSINE}; raw-pixel "
                        f"cosines of unrelated frames often reach 0.9)")
    p.add_argument("--yes", action="store_true", help="store every match without asking")


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        raise ManganimeError("no answer on standard input; use --yes for non-interactive runs") from None
    return answer.strip().lower() in ("y", "yes")


def _run_search(args) -> None:
    folder = require_dir(args.path)
    config = load_anime_config(folder, required=True)
    reference_config = config.reference(args.type)
    reference = read_rgb(reference_config.image)
    videos = list_videos(folder)
    if not videos:
        raise ManganimeError(f"{folder}: no video files")
    for path in videos:
        config.episode(path.stem)  # a broken entry fails before the scan, not after
        video = VideoFrames(path)
        match = find_reference(video, reference, args.type, reference_config.left, reference_config.right,
                               args.minutes)
        first, last = match.exclude
        print(f"{path.name}: {args.type} best frame {match.frame} ({_timestamp(match.frame, video.fps)}), "
              f"cosine {match.cosine:.4f}; exclude [{first}, {last}]")
        if match.cosine < args.min_cosine:
            print(f"  not stored: cosine below --min-cosine {args.min_cosine} (no {args.type} in this episode?)")
        elif args.yes or _confirm("store this exclude range?"):
            changed = add_exclude_range(folder, path.stem, first, last)
            print("  stored" if changed else "  already stored")


# ---------------------------------------------------------------------------------------------------------
# chunks

def _add_chunks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", required=True, metavar="VIDEO", help="video to split into scenes")
    p.add_argument("--threshold", type=finite_float, default=CUT_THRESHOLD,
                   help=f"adjacent-frame similarity below which a new chunk starts (default {CUT_THRESHOLD})")
    p.add_argument("--measure", default=CUT_MEASURE, choices=sorted(SIMILARITY_MEASURES),
                   help="cosine: the study's raw-pixel cosine (default); centered: mean-subtracted, also sees "
                        "cuts between similarly coloured shots")
    p.add_argument("--out", metavar="FILE", help="also write the cuts and chunks as JSON")
    add_overwrite_argument(p)


def _run_chunks(args) -> None:
    if args.out:
        refuse_existing([args.out], args.overwrite)
    cut_finder = SceneCuts(VideoFrames(args.path), args.threshold, args.measure)
    video = cut_finder.frames
    cuts = cut_finder.all_cuts(progress=video.path.name)
    chunks = chunk_ranges(cuts, len(video))
    for k, (first, last) in enumerate(chunks):
        print(f"chunk {k}: frames {first}-{last} ({_timestamp(first, video.fps)} - {_timestamp(last, video.fps)})")
    print(f"{len(cuts)} cut(s) at frames {cuts}")
    if args.out:
        write_json_atomic(args.out, {"video": str(video.path), "measure": args.measure,
                                     "threshold": args.threshold, "frames": len(video), "cuts": cuts,
                                     "chunks": chunks})


# ---------------------------------------------------------------------------------------------------------
# dataset

def _add_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--anime", help="preprocessed episode folder (default: anime_path of the root config.json)")
    p.add_argument("--manga", help="preprocessed manga root (default: manga_path of the root config.json)")
    p.add_argument("--config", help="root config.json with anime_path/manga_path (default: ./config.json)")
    p.add_argument("--out", required=True, help="output folder (must be empty unless --force)")
    p.add_argument("--stride", type=int, help="use every N-th kept frame (default: config 'stride', else 1)")
    p.add_argument("--val-episodes", nargs="*", default=[], metavar="NAME", help="episodes held out for validation")
    p.add_argument("--stylegan", default="zip", choices=sorted(STYLEGAN_SINKS),
                   help="StyleGAN frames as stylegan.zip (default), a stylegan/ folder, or none")
    p.add_argument("--stylegan-frames", default="all", choices=STYLEGAN_FRAME_CHOICES,
                   help="all strided kept frames (default) or only labelled ones")
    p.add_argument("--skip-cuts", action="store_true", help="drop triples that straddle a scene change")
    p.add_argument("--cut-threshold", type=finite_float, default=CUT_THRESHOLD,
                   help="similarity cut-off for --skip-cuts")
    p.add_argument("--cut-measure", default=CUT_MEASURE, choices=sorted(SIMILARITY_MEASURES),
                   help="similarity measure for --skip-cuts (see chunks --measure)")
    p.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                   help="write into a non-empty output folder, replacing what is there")


def _run_dataset(args) -> None:
    anime, manga = resolve_data_paths(args.anime, args.manga, args.config)
    if anime is None or manga is None:
        raise ManganimeError("give --anime and --manga, or a root config.json with anime_path and manga_path")
    summary = export_dataset(anime, manga, args.out, stride=args.stride, val_episodes=args.val_episodes,
                             stylegan=args.stylegan, stylegan_frames=args.stylegan_frames,
                             skip_cuts=args.skip_cuts, cut_threshold=args.cut_threshold,
                             cut_measure=args.cut_measure, force=args.overwrite)
    print(json.dumps(summary, indent=2))


COMMANDS = {
    "reformat": (_add_reformat, _run_reformat, "convert video containers/codecs, keeping audio"),
    "index": (_add_index, _run_index, "rename files to their 0-based natural-sorted order"),
    "manga": (_add_manga, _run_manga, "crop, greyscale and resize manga pages per config.json"),
    "anime": (_add_anime, _run_anime, "resize episode videos to 256×256"),
    "search": (_add_search, _run_search, "find intros/outros and store their exclude ranges"),
    "chunks": (_add_chunks, _run_chunks, "list the scene changes of a video"),
    "dataset": (_add_dataset, _run_dataset, "export training triples and StyleGAN frames"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, run, help_text) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None) -> int:
    """Run one command (through runtime.errors.run_main: user errors are one `error: ...` line, status 2)."""
    args = build_parser().parse_args(argv)
    COMMANDS[args.command][1](args)
    return 0


if __name__ == "__main__":
    run_main(main)

"""Build a paired colorization set from any colour images: each picture and a grey "page" made from it.

    python datasets/colorize_pairs.py --input COLOUR_DIR --output DATA [--screentone] [--size 512]
        [--layout folders|aligned] [--overwrite]

writes DATA/A/<name>.png (grey) and DATA/B/<name>.png (colour), the paired-folders layout the colorization
families read (data.layout: paired, a_dir: A, b_dir: B); `--layout aligned` writes DATA/<name>.png as junyanz's
A|B side by side instead. The grey page is the picture's BT.601 luma (Pillow 'L', what the runtime feeds a model);
`--screentone` makes it look more like a printed manga page: mid-tones become a 45° clustered-dot halftone (the
printed screen tone), and dark edges are drawn as ink lines. `--size N` first resizes each picture so that its
longer side is N (keeping its aspect ratio). No pair is hand-made, so anyone can train without hand-pairing; such
pairs teach "colour from luma", not the look of real scans (the study's point for CycleGAN).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python datasets/colorize_pairs.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

from datasets.image_io import ImageReadError, list_images, read_rgb, write_image_atomic
from runtime.errors import UserError, run_main
from runtime.imaging import fit_max_side, luma8
from runtime.outputs import add_overwrite_argument, refuse_existing

LAYOUTS = ("folders", "aligned")
SCREEN_PERIOD = 6.0  # pixels between halftone dots (about 85 lpi on a 600 dpi-like scale after resizing)
TONE_RANGE = (0.18, 0.88)  # luma (0..1) that becomes screen tone; darker stays ink, lighter stays paper
LINE_STRENGTH = 0.9  # how much of an edge's contrast is drawn as ink


class PairsError(UserError):
    """The paired set cannot be built (no inputs, existing outputs without --overwrite, bad arguments)."""


def grey_page(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 → HxW uint8 luma (exactly Pillow's convert('L'))."""
    return luma8(rgb)


def screentone(grey: np.ndarray) -> np.ndarray:
    """A manga-like rendering of a grey image: ink lines on dark edges and a clustered-dot screen in mid-tones.

    The screen is a 45° rotated cosine dot pattern of SCREEN_PERIOD pixels; a pixel of tone t in TONE_RANGE is
    ink where the pattern is below t's coverage, so dot size follows the tone (classic amplitude-modulated
    halftoning); tones outside the range keep their value. Lines: the grey image's gradient magnitude (a 3×3
    edge filter on a lightly blurred copy) darkens pixels in proportion.
    """
    g = grey.astype(np.float64) / 255.0
    h, w = g.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (xx + yy) / np.sqrt(2.0), (xx - yy) / np.sqrt(2.0)
    screen = (np.cos(2 * np.pi * u / SCREEN_PERIOD) * np.cos(2 * np.pi * v / SCREEN_PERIOD) + 1.0) / 2.0  # 0..1
    low, high = TONE_RANGE
    toned = np.where(g < screen, 0.0, 1.0)  # ink covers 1 - t of the cell on average
    out = np.where((g >= low) & (g <= high), toned, g)
    blurred = Image.fromarray(grey).filter(ImageFilter.GaussianBlur(1.0))
    edges = np.asarray(blurred.filter(ImageFilter.FIND_EDGES), np.float64) / 255.0
    edges = np.clip(edges * 4.0, 0.0, 1.0)
    out = out * (1.0 - LINE_STRENGTH * edges)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def make_pair(rgb: np.ndarray, size: int | None = None, tone: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(grey page HxW, colour HxWx3) of one picture, resized first when `size` is given."""
    if size:
        h, w = fit_max_side(rgb.shape[0], rgb.shape[1], size)
        if (h, w) != rgb.shape[:2]:
            rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.LANCZOS))
    grey = grey_page(rgb)
    return (screentone(grey) if tone else grey), rgb


def planned_outputs(names: list[str], output: Path, layout: str) -> list[Path]:
    if layout == "aligned":
        return [output / f"{n}.png" for n in names]
    return [output / "A" / f"{n}.png" for n in names] + [output / "B" / f"{n}.png" for n in names]


def build_pairs(inputs: list[Path], output: Path, layout: str = "folders", size: int | None = None,
                tone: bool = False, overwrite: bool = False, progress: bool = True) -> int:
    """Write the paired set; returns how many pairs were written. Unreadable inputs are skipped with a warning."""
    if layout not in LAYOUTS:
        raise PairsError(f"--layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
    names = [p.stem for p in inputs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PairsError(f"several inputs are named {dupes[0]}.*; pairs are matched by name, rename one")
    planned = planned_outputs(names, output, layout)
    sources = {p.resolve() for p in inputs}
    clash = next((t for t in planned if t.resolve() in sources), None)
    if clash is not None:
        raise PairsError(f"{clash} is an input; choose an --output outside --input (inputs are never overwritten)")
    refuse_existing(planned, overwrite)
    folders = [output] if layout == "aligned" else [output / "A", output / "B"]
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PairsError(f"cannot create {output}: {exc.strerror or exc}") from None
    written = 0
    for path in tqdm(inputs, desc="pairs", unit="img", disable=not progress, file=sys.stderr):
        try:
            grey, colour = make_pair(read_rgb(path), size, tone)
        except ImageReadError as exc:
            print(f"warning: skipped {exc}", file=sys.stderr)
            continue
        if layout == "aligned":
            write_image_atomic(output / f"{path.stem}.png",
                               np.concatenate([np.repeat(grey[..., None], 3, axis=2), colour], axis=1))
        else:
            write_image_atomic(output / "A" / f"{path.stem}.png", grey)
            write_image_atomic(output / "B" / f"{path.stem}.png", colour)
        written += 1
    if not written:
        raise PairsError("no input image could be read")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, type=Path, help="folder of colour images")
    p.add_argument("--output", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--screentone", action="store_true", help="halftone the mid-tones and ink the edges")
    p.add_argument("--size", type=int, default=None, help="resize so the longer side is this many pixels")
    p.add_argument("--layout", choices=LAYOUTS, default="folders",
                   help="folders: OUTPUT/A + OUTPUT/B by name (default); aligned: OUTPUT/<name>.png as A|B")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    if args.size is not None and args.size < 8:
        raise PairsError(f"--size must be at least 8, got {args.size}")
    try:
        inputs = list_images(args.input)
    except ImageReadError:
        raise PairsError(f"--input {args.input} is not a folder") from None
    if not inputs:
        raise PairsError(f"no images in {args.input}")
    if args.output.resolve() == args.input.resolve():
        raise PairsError("--output must differ from --input (inputs are never overwritten)")
    count = build_pairs(inputs, args.output, args.layout, args.size, args.screentone, args.overwrite,
                        progress=not args.no_progress)
    print(f"wrote {count} pairs to {args.output}")
    return 0


if __name__ == "__main__":
    run_main(main)

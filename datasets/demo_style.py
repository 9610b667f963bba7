"""Build a small AnimeGAN dataset (style `demo`) from the photos bundled with scikit-image, offline.

Nothing can be downloaded here, so the "anime" domain is made with a classical cartoon filter:
edge-preserving smoothing -> colour quantisation -> saturation boost -> dark, thickened line art.
That is a clearly different, learnable style (flat colour regions with black outlines), which is all a demo
training run needs to show that the pipeline works end to end.

Because the style is a filter of photos, each training photo also has its own rendering (ROOT/demo/paired/, same
file name): real anime datasets have no such pairs; the bundled demo model's init phase learns from them
(loss.init_target: paired, see configs/animeganv2/demo.yaml).

CLI:  python datasets/demo_style.py --output ROOT [--size 256] [--count 240] [--preview grid.png]
writes ROOT/train_photo, ROOT/demo/style, ROOT/demo/smooth, ROOT/demo/paired, ROOT/val, ROOT/test.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python datasets/demo_style.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from datasets.edge_smooth import smooth_edges
from datasets.image_io import ImageReadError, read_rgb, resize_rgb, write_image_atomic
from runtime.errors import UserError, run_main
from runtime.outputs import add_overwrite_argument, refuse_existing

STYLE_NAME = "demo"
# Colour pictures shipped inside the scikit-image wheel (no pooch download needed).
SOURCE_FILES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                "motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png")
# Crops of the deep field are nearly black; as "anime" they would teach the style to darken everything.
NOT_FOR_STYLE = frozenset({"hubble_deep_field.jpg"})


class DemoDataError(UserError):
    """The demo dataset cannot be built (no source photos, bad arguments, unwritable output)."""


def remove_small_components(mask_uint8: np.ndarray, min_area: int) -> np.ndarray:
    """Zero the 8-connected components of a 0/1 mask that have fewer than `min_area` pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask_uint8, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # label 0 is the background
    return keep[labels].astype(np.uint8)


def cartoonize(rgb_uint8: np.ndarray, colors: int = 10) -> np.ndarray:
    """Classical cartoon filter of an HxWx3 uint8 RGB image: flat colour regions with dark outlines."""
    img = np.asarray(rgb_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"cartoonize expects an HxWx3 uint8 image, got {img.dtype} {img.shape}")
    # 1. Flatten texture but keep region borders: repeated small bilateral filters are much cheaper than one
    #    large one and remove fine texture (fur, foliage) that would otherwise survive quantisation as noise.
    smooth = img
    for _ in range(4):
        smooth = cv2.bilateralFilter(smooth, d=7, sigmaColor=35, sigmaSpace=7)
    # 2. Few flat colours: Pillow's median cut is deterministic (k-means would need seeding and iterations).
    quant = np.asarray(Image.fromarray(smooth).quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
                       .convert("RGB"))
    # 3. Anime palettes are more saturated than photos.
    hsv = cv2.cvtColor(quant, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.35, 0, 255)
    vivid = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    # 4. Line art from the smoothed grey (so texture does not become lines); an adaptive threshold keeps
    #    contours at any contrast; specks below a minimum area are dropped, then strokes are thickened.
    grey = cv2.medianBlur(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), 5)
    lines = (cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5) == 0)
    lines = remove_small_components(lines.astype(np.uint8), min_area=max(12, img.shape[0] * img.shape[1] // 4000))
    lines = cv2.dilate(lines, np.ones((2, 2), np.uint8)).astype(bool)
    out = vivid.copy()
    out[lines] = (out[lines] * 0.15).astype(np.uint8)
    return out


def load_sources(for_style: bool = False) -> list[np.ndarray]:
    """The bundled colour photos that load from the local scikit-image data folder (others are skipped)."""
    from skimage import data as skdata
    images = []
    for name in SOURCE_FILES:
        if for_style and name in NOT_FOR_STYLE:
            continue
        try:
            images.append(read_rgb(Path(skdata.data_dir) / name))
        except ImageReadError:
            continue  # a trimmed scikit-image install may lack some files; the rest are enough
    if not images:
        raise DemoDataError(f"no source photos found in {skdata.data_dir}")
    return images


def random_crop(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    """A random square crop covering 35-100 % of the short side, randomly mirrored, resized to size x size."""
    h, w = image.shape[:2]
    side = int(rng.uniform(0.35, 1.0) * min(h, w))
    side = max(side, min(h, w, 16))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = image[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize_rgb(np.ascontiguousarray(crop), size)


def build_demo_dataset(output, size: int = 256, count: int = 240, style_count: int | None = None,
                       eval_count: int = 8, seed: int = 0, progress: bool = True, overwrite: bool = False) -> dict:
    """Write the demo dataset under `output`; returns {folder name: number of images written}.

    `count` training photos with their cartoon renderings (paired/), `style_count` (default count // 2) cartoon
    style images with their smoothed versions, `eval_count` photos each in val/ and test/. All crops come from one
    seeded generator; the style images are other crops than the training photos. Existing files among the ones
    it would write are refused, before any work, unless `overwrite`.
    """
    if size < 16 or count < 1 or eval_count < 0 or (style_count is not None and style_count < 1):
        raise DemoDataError(f"need size >= 16, count >= 1, style_count >= 1, eval_count >= 0 "
                            f"(got size={size}, count={count}, style_count={style_count}, eval_count={eval_count})")
    style_count = max(count // 2, 1) if style_count is None else style_count
    root = Path(output)
    dirs = {"train_photo": root / "train_photo", "style": root / STYLE_NAME / "style",
            "smooth": root / STYLE_NAME / "smooth", "paired": root / STYLE_NAME / "paired",
            "val": root / "val", "test": root / "test"}
    planned = [dirs[kind] / f"{i:04d}.png" for kind, n in (("train_photo", count), ("paired", count),
                                                             ("val", eval_count), ("test", eval_count),
                                                             ("style", style_count), ("smooth", style_count))
               for i in range(n)]
    refuse_existing(planned, overwrite)
    try:
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoDataError(f"cannot create {root}: {exc}") from None
    sources = {False: load_sources(), True: load_sources(for_style=True)}
    rng = np.random.default_rng(seed)
    jobs = ([("train_photo", i) for i in range(count)] + [("val", i) for i in range(eval_count)]
            + [("test", i) for i in range(eval_count)] + [("style", i) for i in range(style_count)])
    counts = dict.fromkeys(dirs, 0)
    for kind, i in tqdm(jobs, desc="demo dataset", unit="img", disable=not progress):
        pool = sources[kind == "style"]
        crop = random_crop(rng, pool[int(rng.integers(len(pool)))], size)
        name = f"{i:04d}.png"
        if kind == "style":
            cartoon = cartoonize(crop)
            write_image_atomic(dirs["style"] / name, cartoon)
            write_image_atomic(dirs["smooth"] / name, smooth_edges(cartoon))
            counts["style"] += 1
            counts["smooth"] += 1
        else:
            write_image_atomic(dirs[kind] / name, crop)
            counts[kind] += 1
            if kind == "train_photo":
                write_image_atomic(dirs["paired"] / name, cartoonize(crop))
                counts["paired"] += 1
    return counts


def save_preview(path, size: int = 128, rows: int = 4, seed: int = 1) -> None:
    """Save a grid of `rows` lines of (photo | cartoon) pairs, 2 pairs per line, for a visual check."""
    sources = load_sources(for_style=True)
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        pairs = []
        for _ in range(2):
            crop = random_crop(rng, sources[int(rng.integers(len(sources)))], size)
            pairs += [crop, cartoonize(crop)]
        lines.append(np.concatenate(pairs, axis=1))
    write_image_atomic(path, np.concatenate(lines, axis=0))


def main(argv=None) -> int:
    """CLI entry point (run through runtime.errors.run_main); problems raise UserErrors (DemoDataError, ...)."""
    parser = argparse.ArgumentParser(description="Build a small AnimeGAN demo dataset (style 'demo') offline.")
    parser.add_argument("--output", required=True, help="dataset root to create (official layout)")
    parser.add_argument("--size", type=int, default=256, help="square image side (default 256)")
    parser.add_argument("--count", type=int, default=240, help="number of training photos (default 240)")
    parser.add_argument("--style-count", type=int, default=None, help="number of style images (default count/2)")
    parser.add_argument("--eval-count", type=int, default=8, help="photos in each of val/ and test/ (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="crop seed (default 0)")
    parser.add_argument("--preview", default=None, help="also save a (photo | cartoon) PNG grid here")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if args.preview:
        refuse_existing([args.preview], args.overwrite)
    try:
        counts = build_demo_dataset(args.output, args.size, args.count, args.style_count, args.eval_count, args.seed,
                                    overwrite=args.overwrite)
        if args.preview:
            save_preview(args.preview)
    except OSError as exc:  # any file-system failure not already reported by the writers
        raise DemoDataError(f"cannot write the demo dataset to {args.output}: {exc.strerror or exc}") from None
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    print(f"demo dataset written to {args.output} ({summary})")
    return 0


if __name__ == "__main__":
    run_main(main)

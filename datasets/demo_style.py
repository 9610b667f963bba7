"""Build a small AnimeGAN dataset (style `demo`) from the photos bundled with scikit-image, offline.

Nothing can be downloaded here, so the "anime" domain is made with a classical cel-shading filter (cartoonize):
edge-preserving smoothing, tone levels from the CIELAB lightness alone, boosted chroma with each region's hue
kept, and thin difference-of-Gaussians outlines. It is built to be learnable by a small generator: the tone steps
and the lines are soft ramps, not 1-px jumps, so the rendering is a smooth enough function of the photo.
Its measured properties: tests/test_demo_style.py; a preview: docs/images/demo_style_preview.jpg.

Because the style is a filter of photos, each training photo also has its own rendering (ROOT/demo/paired/, same
file name): real anime datasets have no such pairs; the bundled demo model's init phase learns from them
(loss.init_target: paired, see configs/animeganv2/demo.yaml).

CLI:  python datasets/demo_style.py --output ROOT [--size 256] [--count 240] [--preview grid.jpg] [--overwrite]
writes ROOT/train_photo, ROOT/demo/style, ROOT/demo/smooth, ROOT/demo/paired, ROOT/val, ROOT/test;
      python datasets/demo_style.py --preview docs/images/demo_style_preview.jpg   # the preview grid only
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python datasets/demo_style.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
from tqdm import tqdm

from datasets.edge_smooth import smooth_edges
from datasets.image_io import ImageReadError, read_rgb, resize_rgb, write_image_atomic
from runtime.errors import UserError, run_main
from runtime.outputs import add_overwrite_argument, refuse_existing

STYLE_NAME = "demo"
# Colour pictures shipped inside the scikit-image wheel (no pooch download needed).
# chelsea.png and rocket.jpg are left out on purpose: with retina.jpg and matplotlib's grace_hopper.jpg (never
# sources) they are the held-out photos the bundled demo model is measured on (tests/test_runtime_demo.py).
# color.png (a hue wheel) shows the network every hue, so that none drifts toward its neighbour.
SOURCE_FILES = ("astronaut.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
                "hubble_deep_field.jpg", "ihc.png", "color.png")
# Crops of the deep field are nearly black; as "anime" they would teach the style to darken everything.
NOT_FOR_STYLE = frozenset({"hubble_deep_field.jpg"})


class DemoDataError(UserError):
    """The demo dataset cannot be built (no source photos, bad arguments, unwritable output)."""


# The demo style's parameters (measured properties and the trials behind them: docs/demo_model.md).
SMOOTH_PASSES, SMOOTH_DIAMETER, SMOOTH_SIGMA_COLOR, SMOOTH_SIGMA_SPACE = 5, 9, 40, 6
TONE_STEP = 20.0         # CIELAB L units between tone levels (L spans 0-100): 2-3 tones across a shaded region
TONE_SHARPNESS = 16.0    # slope of the step between two tones: steep, yet a few pixels wide rather than 1 px
TONE_KEEP = 0.2          # share of the smooth luminance kept under the flat tones, so shading still reads
TONE_LIFT = 2.0          # L units added back for the light the outlines take (mean brightness stays the photo's)
CHROMA_BOOST, CHROMA_MAX = 1.6, 90.0
LINE_SIGMA, LINE_SIGMA_RATIO = 1.0, 2.0
LINE_THRESHOLD, LINE_RAMP, LINE_DARKEN = 1.0, 2.0, 0.7
BT601 = np.array([0.299, 0.587, 0.114], np.float32)


def soft_quantise(x: np.ndarray, step: float, sharpness: float) -> np.ndarray:
    """Quantise `x` to the centre of its bin of width `step` ([n step, (n+1) step) -> (n + 1/2) step), with a
    logistic ramp of slope up to sharpness/4 instead of a jump at each bin border.

    Flat on most of each bin, as hard quantisation is, but continuous: a photo a little brighter moves a tone
    border a little, which keeps the style a smooth enough function of the photo for a small network to learn.
    """
    t = x / step + 0.5
    n = np.floor(t)
    return step * (n - 0.5 + 1.0 / (1.0 + np.exp(-sharpness * (t - n - 0.5))))


def into_gamut(rgb: np.ndarray) -> np.ndarray:
    """Bring float RGB into [0, 1] by pulling each out-of-range pixel toward its own BT.601 grey (the least
    desaturation that fits) rather than clipping channels one by one, which would shift its hue."""
    grey = np.clip(rgb @ BT601, 0.0, 1.0)[..., None]
    hi, lo = rgb.max(axis=-1, keepdims=True), rgb.min(axis=-1, keepdims=True)
    scale = np.ones_like(grey)
    scale = np.where(hi > 1.0, (1.0 - grey) / np.maximum(hi - grey, 1e-6), scale)
    scale = np.minimum(scale, np.where(lo < 0.0, grey / np.maximum(grey - lo, 1e-6), 1.0))
    return np.clip(grey + (rgb - grey) * scale, 0.0, 1.0)


def line_strength(lightness: np.ndarray) -> np.ndarray:
    """Outline strength in [0, 1] from a difference of Gaussians of the smoothed CIELAB L (XDoG-like): it is
    negative on the dark side of every edge, so lines are thin and follow the region borders; the soft ramp
    (rather than a hard threshold) keeps them anti-aliased."""
    dog = (cv2.GaussianBlur(lightness, (0, 0), LINE_SIGMA)
           - cv2.GaussianBlur(lightness, (0, 0), LINE_SIGMA * LINE_SIGMA_RATIO))
    return np.clip((-dog - LINE_THRESHOLD) / LINE_RAMP, 0.0, 1.0)


def cartoonize(rgb_uint8: np.ndarray) -> np.ndarray:
    """Cel-shading filter of an HxWx3 uint8 RGB image (deterministic): flat regions in a few tone levels, vivid
    colour that keeps each region's hue, brightness kept, thin dark outlines.

    1. edge-preserving smoothing (repeated bilateral filters) removes texture and keeps region borders;
    2. in CIELAB, the lightness alone is quantised into tone levels (soft_quantise), so hue and chroma never mix
       across regions as an RGB palette does (the previous filter's median cut turned blue flags brown);
    3. the chroma (a, b) is boosted with a soft ceiling, hue angle unchanged, and out-of-gamut colours are
       desaturated toward their own grey rather than clipped (into_gamut);
    4. outlines from a difference of Gaussians darken the colour underneath multiplicatively (hue kept).
    """
    img = np.asarray(rgb_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"cartoonize expects an HxWx3 uint8 image, got {img.dtype} {img.shape}")
    smooth = np.ascontiguousarray(img)
    for _ in range(SMOOTH_PASSES):
        smooth = cv2.bilateralFilter(smooth, SMOOTH_DIAMETER, SMOOTH_SIGMA_COLOR, SMOOTH_SIGMA_SPACE)
    lab = cv2.cvtColor(smooth.astype(np.float32) / np.float32(255), cv2.COLOR_RGB2Lab)
    lightness, ab = lab[..., 0], lab[..., 1:]
    tones = ((1 - TONE_KEEP) * soft_quantise(lightness, TONE_STEP, TONE_SHARPNESS) + TONE_KEEP * lightness
             + TONE_LIFT)
    chroma = np.hypot(ab[..., 0], ab[..., 1]) + np.float32(1e-6)
    ab = ab * (CHROMA_MAX * np.tanh(CHROMA_BOOST * chroma / CHROMA_MAX) / chroma)[..., None]
    styled = np.dstack([np.clip(tones, 0, 100), ab]).astype(np.float32)
    rgb = into_gamut(cv2.cvtColor(styled, cv2.COLOR_Lab2RGB))
    rgb = rgb * (1 - LINE_DARKEN * line_strength(lightness))[..., None]
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


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


# How many source pixels a crop pixel covers. The bundled model is measured on whole photos resized to 256 px wide
# (2-2.5 source pixels per pixel for these 450-640 px photos), and the filter works in output pixels, so the
# crops show the photos at about that scale, whatever the crop size: not a whole photo squeezed into 64 px.
CROP_ZOOM = (1.4, 3.0)


def random_crop(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    """A random square crop of size * U(CROP_ZOOM) source pixels (at most the short side), randomly mirrored,
    resized to size x size."""
    return square_crop(rng, image, int(round(size * rng.uniform(*CROP_ZOOM))), size)


def square_crop(rng: np.random.Generator, image: np.ndarray, side: int, size: int) -> np.ndarray:
    """A square of `side` source pixels (clamped to the short side, and to at least 16 where the image allows) at
    a random place, mirrored with probability 1/2, resized to size x size: what every demo dataset's crops share."""
    h, w = image.shape[:2]
    side = max(min(side, h, w), min(h, w, 16))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = image[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize_rgb(np.ascontiguousarray(crop), size)


# Share of the training and style crops whose hues are turned by a random angle (rotate_hue). The seven sources are
# mostly warm (skin, an orange suit, coffee, a red motorcycle): without it the first model turned the held-out
# photos' blue skies and uniforms brown. The filter keeps hue, so a turned photo's rendering is still its target.
HUE_TURN_SHARE = 0.5


def rotate_hue(rgb_uint8: np.ndarray, degrees: float) -> np.ndarray:
    """Turn every colour's hue by `degrees` around the CIELAB grey axis, lightness and chroma unchanged (colours
    that leave the sRGB gamut are pulled toward their grey, see into_gamut)."""
    lab = cv2.cvtColor(rgb_uint8.astype(np.float32) / np.float32(255), cv2.COLOR_RGB2Lab)
    c, s = np.float32(np.cos(np.radians(degrees))), np.float32(np.sin(np.radians(degrees)))
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1], lab[..., 2] = c * a - s * b, s * a + c * b
    rgb = into_gamut(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB))
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def build_demo_dataset(output, size: int = 256, count: int = 240, style_count: int | None = None,
                       eval_count: int = 8, seed: int = 0, progress: bool = True, overwrite: bool = False) -> dict:
    """Write the demo dataset under `output`; returns {folder name: number of images written}.

    `count` training photos with their cartoon renderings (paired/), `style_count` (default count // 2) cartoon
    style images with their smoothed versions, `eval_count` photos each in val/ and test/. All crops come from one
    seeded generator; the style images are other crops than the training photos. HUE_TURN_SHARE of the training
    and style crops have their hues turned by a random angle (rotate_hue). Existing files among the ones it would
    write are refused, before any work, unless `overwrite`.
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
        if kind in ("train_photo", "style") and rng.random() < HUE_TURN_SHARE:
            crop = rotate_hue(crop, rng.uniform(0.0, 360.0))  # val/ and test/ keep the photos' own colours
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


# Whole photos for the preview grid: training sources and held-out ones (chelsea, rocket, retina) alike.
PREVIEW_FILES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg")


def save_preview(path, width: int = 224, per_row: int = 2) -> None:
    """Save a grid of (photo | cartoonize(photo)) pairs of whole photos `width` px wide, `per_row` pairs a line,
    each pair cropped to the shortest photo's height; format from the extension (JPEG keeps it small)."""
    from skimage import data as skdata
    photos = []
    for name in PREVIEW_FILES:
        rgb = read_rgb(Path(skdata.data_dir) / name)
        photos.append(resize_rgb(rgb, (int(round(rgb.shape[0] * width / rgb.shape[1])), width)))
    height = min(p.shape[0] for p in photos)
    pairs = [np.concatenate([p[:height], cartoonize(p)[:height]], axis=1) for p in photos]
    lines = [np.concatenate(pairs[i:i + per_row], axis=1) for i in range(0, len(pairs) - per_row + 1, per_row)]
    write_image_atomic(path, np.concatenate(lines, axis=0))


def main(argv=None) -> int:
    """CLI entry point (run through runtime.errors.run_main); problems raise UserErrors (DemoDataError, ...)."""
    parser = argparse.ArgumentParser(description="Build a small AnimeGAN demo dataset (style 'demo') offline.")
    parser.add_argument("--output", default=None, help="dataset root to create (official layout)")
    parser.add_argument("--size", type=int, default=256, help="square image side (default 256)")
    parser.add_argument("--count", type=int, default=240, help="number of training photos (default 240)")
    parser.add_argument("--style-count", type=int, default=None, help="number of style images (default count/2)")
    parser.add_argument("--eval-count", type=int, default=8, help="photos in each of val/ and test/ (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="crop seed (default 0)")
    parser.add_argument("--preview", default=None,
                        help="(also) save a (photo | cartoon) grid of whole photos here, e.g. preview.jpg")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if args.output is None and args.preview is None:
        parser.error("give --output ROOT (the dataset), --preview PATH, or both")
    if args.preview:  # refused before the dataset is built, so a refusal costs nothing
        refuse_existing([args.preview], args.overwrite)
    try:
        if args.output is not None:
            counts = build_demo_dataset(args.output, args.size, args.count, args.style_count, args.eval_count,
                                        args.seed, overwrite=args.overwrite)
            summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
            print(f"demo dataset written to {args.output} ({summary})")
        if args.preview:
            save_preview(args.preview)
            print(f"preview written to {args.preview}")
    except OSError as exc:  # any file-system failure not already reported by the writers
        raise DemoDataError(f"cannot write the demo dataset to {args.output or args.preview}: "
                            f"{exc.strerror or exc}") from None
    return 0


if __name__ == "__main__":
    run_main(main)

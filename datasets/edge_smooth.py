"""Edge smoothing of anime style images, as AnimeGANv2's `edge_smooth.py` (from CartoonGAN) does, vectorised.

The discriminator of AnimeGANv2 is shown style images whose line edges were blurred, labelled fake, so that it
learns that crisp edges are what makes an image anime. The official tool loops over every edge pixel in Python;
here the same Gaussian is applied to the whole image with one cv2.filter2D call and copied in on the edge mask.

The one deliberate difference: the official loop assigns a float sum to a uint8 array, i.e. *truncates*
(so even a flat region of value 100 can come out as 99 through float round-off), while this module *rounds*.
Results therefore differ from the official tool by at most one grey level, on edge pixels only.

CLI:  python datasets/edge_smooth.py --dataset ROOT/STYLE [--size 256]
reads STYLE/style/*, writes STYLE/smooth/<same name>.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python datasets/edge_smooth.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
from tqdm import tqdm

from datasets.image_io import (ImageReadError, ImageWriteError, list_images, normalize_size, read_rgb,
                               write_image_atomic)
from runtime.errors import EXIT_SKIPPED, UserError, run_main
from runtime.outputs import add_overwrite_argument, refuse_existing

CANNY_LOW, CANNY_HIGH = 100, 200
KERNEL_SIZE = 5


class EdgeSmoothError(UserError):
    """A dataset folder for edge smoothing is missing or unusable."""


def gaussian_kernel_2d(size: int = KERNEL_SIZE) -> np.ndarray:
    """The official 2-D kernel: outer product of cv2.getGaussianKernel(size, 0) (sigma from size: ~1.1 for 5)."""
    g = cv2.getGaussianKernel(size, 0)
    return g @ g.T


def edge_mask(rgb_uint8: np.ndarray) -> np.ndarray:
    """Boolean HxW mask of the pixels the official tool smooths: Canny(100, 200) on grey, dilated by 5x5 ones."""
    grey = cv2.cvtColor(rgb_uint8, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, CANNY_LOW, CANNY_HIGH)
    dilated = cv2.dilate(edges, np.ones((KERNEL_SIZE, KERNEL_SIZE), np.uint8))
    return dilated != 0


def smooth_edges(rgb_uint8: np.ndarray) -> np.ndarray:
    """Return a copy of an HxWx3 uint8 image whose edge pixels are replaced by their 5x5 Gaussian average.

    Borders are reflected without repeating the edge pixel (numpy 'reflect' = cv2.BORDER_REFLECT_101), as in
    the official tool; the weighted sums are computed in float64 and rounded to the nearest level.
    """
    img = np.asarray(rgb_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"smooth_edges expects an HxWx3 uint8 image, got {img.dtype} {img.shape}")
    mask = edge_mask(img)
    blurred = cv2.filter2D(img.astype(np.float64), -1, gaussian_kernel_2d(), borderType=cv2.BORDER_REFLECT_101)
    blurred = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
    return np.where(mask[:, :, None], blurred, img)


def smooth_dataset(style_root, size=256, progress: bool = True, overwrite: bool = False) -> tuple[int, list[str]]:
    """Smooth every image of STYLE/style into STYLE/smooth (same file names), resized to `size`.

    Unreadable images are skipped; returns (number written, list of one-line problem reports).
    Raises EdgeSmoothError when STYLE/style is missing or holds no images; an existing STYLE/smooth/<name> is
    refused (before any work) unless `overwrite`.
    """
    style_root = Path(style_root)
    src_dir, dst_dir = style_root / "style", style_root / "smooth"
    if not src_dir.is_dir():
        raise EdgeSmoothError(f"{src_dir}: no such folder (expected the official layout ROOT/<style>/style/)")
    files = list_images(src_dir)
    if not files:
        raise EdgeSmoothError(f"{src_dir}: no images found")
    refuse_existing([dst_dir / path.name for path in files], overwrite)
    dst_dir.mkdir(exist_ok=True)
    written, problems = 0, []
    for path in tqdm(files, desc="edge smoothing", unit="img", disable=not progress):
        try:
            write_image_atomic(dst_dir / path.name, smooth_edges(read_rgb(path, size)))
            written += 1
        except (ImageReadError, ImageWriteError) as exc:
            problems.append(f"skipped: {exc}")
    return written, problems


def main(argv=None) -> int:
    """CLI entry point (run through runtime.errors.run_main): 0 when at least one image was written; a fatal
    problem, or nothing written, is an EdgeSmoothError."""
    parser = argparse.ArgumentParser(description="Edge-smooth AnimeGAN style images: STYLE/style/* -> STYLE/smooth/*")
    parser.add_argument("--dataset", required=True, help="the style folder ROOT/<style> (holding style/)")
    parser.add_argument("--size", type=int, default=256, help="square side the images are resized to (default 256)")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    try:
        normalize_size(args.size)
    except ValueError as exc:
        raise EdgeSmoothError(f"--size: {exc}") from None
    written, problems = smooth_dataset(args.dataset, args.size, overwrite=args.overwrite)
    for line in problems:
        print(line, file=sys.stderr)
    print(f"edge_smooth: wrote {written} image(s) to {Path(args.dataset) / 'smooth'}, skipped {len(problems)}")
    if written == 0:
        raise EdgeSmoothError("no image could be smoothed")
    return EXIT_SKIPPED if problems else 0


if __name__ == "__main__":
    run_main(main)

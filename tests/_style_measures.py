"""Measures of the demo style (`datasets/demo_style.cartoonize`) on real photos, and of how well a model renders it.

Shared by tests/test_demo_style.py (the filter's own properties) and tests/test_runtime_demo.py (the bundled demo
model against the filter on held-out photos). All take HxWx3 uint8 RGB images.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

WIDTH = 256  # the demo model is measured on whole photos resized to this width


MATPLOTLIB_PICTURES = frozenset({"grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"})


def real_photo(name: str, width: int = WIDTH) -> np.ndarray:
    """A whole photo from scikit-image's data folder (e.g. "chelsea.png") or, for MATPLOTLIB_PICTURES,
    matplotlib's sample data (both ship inside their wheels), resized to `width` keeping its aspect (area
    averaging; the 128-px present is enlarged)."""
    if name in MATPLOTLIB_PICTURES:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "sample_data"
    else:
        import skimage.data

        folder = Path(skimage.data.data_dir)
    with Image.open(folder / name) as image:
        rgb = np.asarray(image.convert("RGB"))
    height = int(round(rgb.shape[0] * width / rgb.shape[1]))
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (peak 255)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """Float HSV: hue in degrees [0, 360), saturation and value in [0, 1]."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)


def hue_error(reference: np.ndarray, image: np.ndarray, min_saturation: float = 0.3) -> float:
    """Mean circular hue difference in degrees (0-180) between `image` and `reference`, over the pixels where the
    reference's HSV saturation exceeds `min_saturation` (below it hue is ill-defined and barely visible)."""
    ref, img = _hsv(reference), _hsv(image)
    mask = ref[..., 1] > min_saturation
    if not mask.any():
        raise ValueError("no pixel of the reference is saturated enough to compare hues")
    diff = np.abs((ref[..., 0] - img[..., 0] + 180) % 360 - 180)
    return float(diff[mask].mean())


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma as float32."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def outline_share(rgb: np.ndarray) -> float:
    """Share of dark outline pixels: luma below half the median luma of their 7x7 neighbourhood. Thin dark lines
    drawn over flat regions count; smooth shading and the dark side of a soft photographic edge mostly do not."""
    y = luma(rgb)
    local = cv2.medianBlur(np.clip(y, 0, 255).astype(np.uint8), 7).astype(np.float32)
    return float((y < 0.5 * local).mean())


def distinct_colours(rgb: np.ndarray) -> int:
    """Number of distinct RGB colours: photo noise and texture make many, flat regions few."""
    return len(np.unique(rgb.reshape(-1, 3), axis=0))

"""Colour grey pages with an ONNX colorization model, keeping the page's own full-resolution lines.

Size policy: the page is scaled down (aspect ratio kept, Lanczos) so its longer side is at most the *work side*
(the model's training size by default, read from its metadata; `work_side=None` keeps the full size), reflect-padded
to the model's size multiple (no distorting resize), coloured, cropped back, and scaled up to the page's size
(`runtime/stylize.Stylizer` does all of that). The model only has to get the colours right; with `keep_luma` the
result then takes its chroma from the model and its luma (brightness) from the original page at full resolution,
so line art and screen tone stay exactly as crisp as in the input: `luma8(output) == luma8(page)` for every pixel.

Pages are read strictly (`read_page`): a corrupt or truncated file, an image with an alpha channel, a 16-bit or
float image, or one smaller than 2×2 is refused with a one-line error before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.errors import ConversionError
from runtime.imaging import check_image_suffix, luma8
from runtime.session import Generator
from runtime.stylize import Stylizer, TileOptions
from runtime.tasks import ROUTES

# BT.601 luma weights, as luma8 uses them (in 16-bit fixed point there: 19595, 38470, 7471, summing to 65536).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
MIN_PAGE_SIDE = 2
_MODES_OK = {"1", "L", "P", "RGB", "CMYK", "YCbCr", "LAB", "HSV"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_HIGH_BIT_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N", "RGBA;16B", "RGB;16B"}
_SEARCH = np.array([(r, g, b) for r in range(-3, 4) for g in range(-3, 4) for b in range(-3, 4)])


@dataclass
class Page:
    """A decoded page: RGB8 pixels (grey pages replicated) and where it came from."""

    path: Path
    rgb: np.ndarray  # [H, W, 3] uint8


def read_page(path: str | Path) -> Page:
    """Decode a page fully (EXIF orientation applied) or raise a one-line ConversionError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"input not found: {path}")
    check_image_suffix(path)
    try:
        with Image.open(path) as image:
            image.load()  # decode everything now: a truncated file fails here, before any output is written
            image = ImageOps.exif_transpose(image)
            mode = image.mode
            if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
                raise ConversionError(f"{path}: has an alpha channel ({mode}); flatten it onto a background first")
            if mode in _HIGH_BIT_MODES or mode not in _MODES_OK:
                raise ConversionError(f"{path}: {mode} images (16-bit, float or other) are not supported; save the "
                                      f"page as 8-bit grey or RGB")
            if min(image.size) < MIN_PAGE_SIDE:
                raise ConversionError(f"{path}: {image.width}x{image.height} is too small to colour (at least "
                                      f"{MIN_PAGE_SIDE}x{MIN_PAGE_SIDE})")
            return Page(path, np.asarray(image.convert("RGB")))
    except ConversionError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConversionError(f"cannot read image {path}: corrupt, truncated or not an image ({reason})") from None


def _luma_float(rgb: np.ndarray) -> np.ndarray:
    return rgb @ LUMA_WEIGHTS


def keep_luma(page: np.ndarray, coloured: np.ndarray) -> np.ndarray:
    """`coloured`'s chroma on `page`'s luma: an RGB8 image whose luma8 equals luma8(page) at every pixel.

    1. Chroma d = coloured − luma(coloured) (per channel; luma(d) = 0), put on the page's luma Y: Y + d.
    2. Out-of-gamut pixels move toward grey along d (Y + t·d, largest t ≤ 1 in [0, 255]): hue kept, luma kept.
    3. Rounding to 8 bits can move luma8 by ±1: adding the difference to all three channels moves it by exactly
       that (the fixed-point weights sum to 2^16); where a channel would clip, the nearest of the small
       adjustments that restores it is taken, and grey (Y, Y, Y), whose luma8 is Y, is the last resort.
    """
    if page.shape != coloured.shape or page.ndim != 3 or page.shape[2] != 3:
        raise ValueError(f"keep_luma needs two HxWx3 images of one size, got {page.shape} and {coloured.shape}")
    y = luma8(page).astype(np.int64)
    c = coloured.astype(np.float64)
    d = c - _luma_float(c)[..., None]
    yf = y[..., None].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(d > 0, (255.0 - yf) / d, np.where(d < 0, -yf / d, np.inf))
    t = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    target = yf + t * d
    out = np.clip(np.rint(target), 0, 255).astype(np.int64)
    miss = y - luma8(out.astype(np.uint8)).astype(np.int64)
    shifted = out + miss[..., None]
    fits = (miss != 0) & (shifted.min(axis=-1) >= 0) & (shifted.max(axis=-1) <= 255)
    out[fits] = shifted[fits]
    rest = np.argwhere(luma8(out.astype(np.uint8)).astype(np.int64) != y)
    if len(rest):
        out[tuple(rest.T)] = _nearest_exact(out[tuple(rest.T)], target[tuple(rest.T)], y[tuple(rest.T)])
    return out.astype(np.uint8)


def _nearest_exact(rgb: np.ndarray, target: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For the few pixels [K, 3] still off: the adjustment within ±3 per channel closest to `target` with
    luma8 == y, else grey."""
    cand = rgb[:, None, :] + _SEARCH[None]  # [K, 343, 3]
    valid = (cand.min(axis=-1) >= 0) & (cand.max(axis=-1) <= 255)
    exact = luma8(np.clip(cand, 0, 255).astype(np.uint8)).astype(np.int64) == y[:, None]
    cost = np.where(valid & exact, ((cand - target[:, None, :]) ** 2).sum(-1), np.inf)
    best = cost.argmin(axis=1)
    chosen = cand[np.arange(len(cand)), best]
    grey = np.repeat(y[:, None], 3, axis=1)
    return np.where(np.isfinite(cost.min(axis=1))[:, None], chosen, grey)


def training_side(metadata: dict[str, str]) -> int | None:
    """The side the model was trained at (`data.crop_size` of the config the export recorded), if known."""
    try:
        size = json.loads(metadata.get("config", "{}")).get("data", {}).get("crop_size")
    except (json.JSONDecodeError, AttributeError):
        return None
    return int(size) if isinstance(size, int) and size > 0 else None


class Colorizer:
    """A colorization Generator with the size policy and the luma recombination (see the module docstring).

    work_side: "auto" (the model's training side, else full size), None (full size) or a positive int.
    """

    def __init__(self, generator: Generator, work_side: int | None | str = "auto", keep_luma: bool = True,
                 tiles: TileOptions = TileOptions(), progress: bool = False):
        if generator.task != "colorize":
            commands = " or ".join(ROUTES[generator.task].commands)
            raise ConversionError(f"{generator.path.name} is {ROUTES[generator.task].what} (task {generator.task}), "
                                  f"not a colorization model; use {commands}")
        self.generator = generator
        self.work_side = training_side(generator.metadata) if work_side == "auto" else work_side
        self.keep_luma = keep_luma
        self.stylizer = Stylizer(generator, tiles=tiles, max_side=self.work_side, progress=progress)

    def describe(self) -> str:
        side = f"longer side scaled to at most {self.work_side}" if self.work_side else "full size"
        luma = "page luma kept at full resolution" if self.keep_luma else "model output as is"
        return f"{self.generator.describe()}; runs at {side}, padded to multiples of " \
               f"{self.generator.spec.size_multiple}; {luma}"

    def colorize_batch(self, pages: list[np.ndarray]) -> list[np.ndarray]:
        """RGB8 pages (grey replicated) → coloured RGB8 pages of the same sizes."""
        coloured = self.stylizer.stylize_batch(pages)
        if not self.keep_luma:
            return coloured
        return [keep_luma(page, out) for page, out in zip(pages, coloured)]

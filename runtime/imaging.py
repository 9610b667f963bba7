"""Image I/O and geometry: load (EXIF, odd modes → RGB8), pad/crop, resize, brightness match, atomic save."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.errors import ConversionError
from runtime.outputs import output_file

# Suffix → (Pillow format, save options, keeps alpha). Also the list of accepted photo inputs.
FORMATS = {
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}, False),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}, False),
    ".png": ("PNG", {"compress_level": 6}, True),
    ".bmp": ("BMP", {}, False),
    ".webp": ("WEBP", {"quality": 95}, True),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}, True),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}, True),
}

# Models need some spatial extent (reflect pads inside the network must be smaller than the feature map),
# so tiny images are reflect-padded up to at least this before inference and cropped back after.
MIN_SIDE = 32


@dataclass
class LoadedImage:
    """An upright RGB8 image plus the alpha channel it came with (None when opaque)."""

    rgb: np.ndarray              # [H, W, 3] uint8
    alpha: np.ndarray | None     # [H, W] uint8


def _high_bit_grey(image: Image.Image) -> np.ndarray:
    """16-bit ('I;16*', 'I') greyscale → uint8 by scaling 0..65535 to 0..255."""
    values = np.asarray(image).astype(np.float64)
    return np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)


def _float_grey(image: Image.Image) -> np.ndarray:
    """32-bit float greyscale: 0..1 when it fits there (common for scientific TIFFs), else 0..255."""
    values = np.asarray(image).astype(np.float64)
    scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
    return np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)


# Modes Pillow cannot convert to RGB without losing the range; everything else goes through `convert`.
_GREY_CONVERTERS = {"I;16": _high_bit_grey, "I;16B": _high_bit_grey, "I;16L": _high_bit_grey,
                    "I;16N": _high_bit_grey, "I": _high_bit_grey, "F": _float_grey}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def to_rgb8(image: Image.Image) -> LoadedImage:
    """Any Pillow image → RGB8 (+ alpha). Greyscale is replicated to 3 channels; alpha is composited on white
    for inference because the colour under transparent pixels is arbitrary and would skew whole-image statistics."""
    if image.mode in _GREY_CONVERTERS:
        grey = _GREY_CONVERTERS[image.mode](image)
        return LoadedImage(np.repeat(grey[..., None], 3, axis=2), None)
    has_alpha = image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return LoadedImage(np.asarray(image.convert("RGB")), None)
    rgba = np.asarray(image.convert("RGBA")).astype(np.float32)
    alpha = rgba[..., 3:4] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return LoadedImage(np.rint(rgb).astype(np.uint8), rgba[..., 3].astype(np.uint8))


def check_image_suffix(path: Path) -> None:
    """Reject files whose extension is not a supported photo format."""
    if path.suffix.lower() not in FORMATS:
        raise ConversionError(f"unsupported image type {path.suffix or '(no extension)'!r} for {path}; "
                              f"supported: {', '.join(sorted(FORMATS))}")


def load_image(path: str | Path) -> LoadedImage:
    """Read a photo upright (EXIF orientation applied) as RGB8; one-line errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"input not found: {path}")
    check_image_suffix(path)
    try:
        with Image.open(path) as image:
            image.load()  # decode fully now so truncated files fail here, not halfway through inference
            upright = ImageOps.exif_transpose(image)
            if upright.width < 1 or upright.height < 1:
                raise ConversionError(f"image {path} is empty")
            return to_rgb8(upright)
    except ConversionError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ConversionError(f"cannot read image {path}: corrupt, truncated or not an image "
                              f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def padded_size(height: int, width: int, multiple: int, min_side: int = MIN_SIDE) -> tuple[int, int]:
    """The smallest (H, W) ≥ the image and ≥ min_side that are multiples of `multiple`."""
    def up(n: int) -> int:
        n = max(n, min_side)
        return -(-n // multiple) * multiple
    return up(height), up(width)


def reflect_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad [H,W,C] (or [N,H,W,C]) at the bottom/right to (height, width): no distortion, and mirrored
    content keeps convolutions at the border close to what they see inside, unlike zero padding."""
    h, w = image.shape[-3], image.shape[-2]
    if (h, w) == (height, width):
        return image
    pad = [(0, 0)] * (image.ndim - 3) + [(0, height - h), (0, width - w), (0, 0)]
    # numpy reflects repeatedly when the pad is larger than the image, so tiny inputs work too.
    return np.pad(image, pad, mode="reflect") if min(h, w) > 1 else np.pad(image, pad, mode="edge")


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize RGB8 [H,W,3] with Lanczos (used for --max-side and the statistics proxy, never to fit a multiple)."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def fit_max_side(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(H, W) scaled down so that the longer side is at most `max_side` (unchanged when it already fits)."""
    if not max_side or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def match_brightness(source: np.ndarray, result: np.ndarray) -> np.ndarray:
    """Scale `result` so its mean luma equals the source's (AnimeGANv2's optional brightness adjustment)."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    src = float((source.astype(np.float32) @ weights).mean())
    dst = float((result.astype(np.float32) @ weights).mean())
    if dst < 1e-3:
        return result
    return np.clip(np.rint(result.astype(np.float32) * (src / dst)), 0, 255).astype(np.uint8)


def luma8(rgb: np.ndarray) -> np.ndarray:
    """RGB8 [..., 3] → luma [...] uint8, exactly what Pillow's `Image.convert("L")` gives: ITU-R BT.601 weights
    0.299/0.587/0.114 in Pillow's 16-bit fixed point with rounding. 1-channel models get this, so they see the
    values of grey training images made with Pillow."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def save_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """Write RGB8 (+ alpha where the format keeps it) atomically; the format follows the suffix."""
    path = Path(path)
    check_image_suffix(path)
    fmt, options, keeps_alpha = FORMATS[path.suffix.lower()]
    image = Image.fromarray(rgb, "RGB")
    if alpha is not None and keeps_alpha:
        image.putalpha(Image.fromarray(alpha, "L"))
    with output_file(path) as tmp:
        image.save(tmp, format=fmt, **options)
    return path

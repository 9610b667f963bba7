"""Image files in and out: listing, robust decoding to RGB uint8, resizing, atomic writing.

Everything that touches image files on the training side goes through here, so odd inputs (greyscale, RGBA,
16-bit, EXIF-rotated, truncated or corrupt files) are handled in one place and fail with one clear line.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.atomic import atomic_path
from runtime.errors import UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

SizeArg = Union[None, int, Sequence[int]]


class ImageReadError(UserError):
    """An image file could not be read or decoded (missing, corrupt, truncated, unsupported)."""


class ImageWriteError(UserError):
    """An image could not be written (bad array, unknown extension, file-system error)."""


def list_images(folder) -> list[Path]:
    """Return the image files directly inside `folder`, sorted by name (extension match is case-insensitive).

    Raises ImageReadError when `folder` is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: not a directory")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def normalize_size(size: SizeArg) -> tuple[int, int] | None:
    """Turn a size argument (None, int for a square, or (h, w)) into (h, w) of positive ints, or None."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        hw = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
        hw = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"image size must be an int or (height, width), got {size!r}")
    if hw[0] <= 0 or hw[1] <= 0:
        raise ValueError(f"image size must be positive, got {size!r}")
    return hw


def resize_rgb(rgb: np.ndarray, size: SizeArg) -> np.ndarray:
    """Resize an HxWxC uint8 image to `size` ((h, w) or int): area averaging to shrink, bicubic to enlarge."""
    hw = normalize_size(size)
    if hw is None or rgb.shape[:2] == hw:
        return rgb
    h, w = hw
    # INTER_AREA is the alias-free choice for shrinking; it degenerates to nearest-like output when enlarging,
    # where bicubic is the better interpolator.
    shrinking = h * w <= rgb.shape[0] * rgb.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(rgb, (w, h), interpolation=interp)
    return out.reshape(h, w, -1) if rgb.ndim == 3 else out


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale a decoded high-bit-depth array to 0..255 uint8 (Pillow's own convert() clips instead of scaling)."""
    if arr.dtype == np.uint8:
        return arr
    if mode == "F":
        arr = arr.astype(np.float64)
        # Float images are either 0..1 or 0..255 by convention; anything above 1 is taken as 0..255.
        scale = 255.0 if arr.size and np.nanmax(arr) <= 1.0 else 1.0
        return np.clip(np.rint(np.nan_to_num(arr) * scale), 0, 255).astype(np.uint8)
    # 16-bit data (Pillow modes I;16*, and I for 16-bit PNG): 65535 maps to 255.
    return np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _pil_to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert any Pillow image mode to an HxWx3 uint8 RGB array."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent pixels often carry arbitrary colours; compositing on white gives what a viewer shows.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    if mode.startswith("I") or mode == "F":
        grey = _to_uint8(np.asarray(img), mode)
        return np.repeat(grey[:, :, None], 3, axis=2)
    # L, 1, P, CMYK, YCbCr, LAB, HSV, ...: Pillow's converters are correct for 8-bit data.
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_rgb(path, size: SizeArg = None) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array, EXIF orientation applied, optionally resized.

    Greyscale is replicated to 3 channels, alpha is composited on white, 16-bit data is scaled to 8 bits.
    `size` is None (keep), an int (square) or (height, width). Raises ImageReadError, with a one-line
    message naming the file, for missing, unreadable, corrupt or truncated files.
    """
    path = Path(path)
    hw = normalize_size(size)
    try:
        with Image.open(path) as img:
            img.load()  # decode now: truncated data raises here instead of yielding a half-grey image
            img = ImageOps.exif_transpose(img)
            rgb = _pil_to_rgb_array(img)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not a recognised image file") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(f"{path}: cannot decode image ({msg})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageReadError(f"{path}: unsupported image layout {rgb.shape}")
    return np.ascontiguousarray(resize_rgb(rgb, hw))


def image_format_for(path) -> str:
    """The Pillow format name that the file extension implies (raises ImageWriteError if none).

    CLIs call it on their output path before long work, so a bad extension fails at once.
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageWriteError(f"{path}: unknown image extension {path.suffix!r}")
    return fmt


def write_image_atomic(path, rgb_uint8: np.ndarray) -> None:
    """Write an HxWx3 (or HxW grey) uint8 array to `path`, format from the extension, atomically.

    The image is encoded into a temporary file in the destination directory, then moved over `path` with
    os.replace, so readers never see a half-written file and a crash leaves any old file intact.
    """
    path = Path(path)
    arr = np.asarray(rgb_uint8)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3))):
        raise ImageWriteError(f"{path}: expected an HxWx3 or HxW uint8 array, got {arr.dtype} {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    fmt = image_format_for(path)
    if not path.parent.is_dir():
        raise ImageWriteError(f"{path}: output directory does not exist")
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(np.ascontiguousarray(arr)).save(tmp, format=fmt)
    except OSError as exc:
        raise ImageWriteError(f"{path}: cannot write image ({exc})") from None

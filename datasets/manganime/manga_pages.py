"""Manga scans → 256×256 greyscale training pages, as the study's `process_manga` (with its checks added)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pims
from pims.image_sequence import customize_image_sequence
from skimage.transform import resize
from skimage.util import img_as_ubyte
from tqdm import tqdm

from datasets.image_io import read_rgb, write_image_atomic
from datasets.manganime.atomic import write_json_atomic
from datasets.manganime.config import CONFIG_NAME, load_manga_config
from datasets.manganime.errors import ManganimeError
from datasets.manganime.files import list_pages, require_dir
from runtime.outputs import refuse_existing

MANGA_SIZE = 256
SOURCES_NAME = "sources.json"  # output page number → source file name, for tracing a page back to its scan

# pims gives lazy page access; read_rgb makes every file RGB uint8 (alpha on white, 16-bit scaled, EXIF
# rotation applied) and names the file in its error for corrupt or truncated scans.
_PageSequence = customize_image_sequence(lambda path, **_: read_rgb(path), "MangaPageSequence")
_NUMBERED_PNG = re.compile(r"^\d+\.png$")


def to_manga_page(rgb: np.ndarray, crop, size: int = MANGA_SIZE, name: str = "page") -> np.ndarray:
    """Crop [top, bottom, left, right] pixels off an RGB page, greyscale it, resize to size×size uint8."""
    top, bottom, left, right = crop
    height, width = rgb.shape[:2]
    if top + bottom >= height or left + right >= width:
        raise ManganimeError(f"{name}: crop {list(crop)} removes the whole {width}×{height} page")
    cropped = rgb[top:height - bottom, left:width - right]
    grey = pims.as_grey(cropped.astype(np.float64) / 255.0)  # the study's weights (0.2125, 0.7154, 0.0721)
    small = resize(grey, (size, size), order=1, anti_aliasing=True)
    return img_as_ubyte(np.clip(small, 0.0, 1.0))


def process_manga_folder(source, out, size: int = MANGA_SIZE, overwrite: bool = False) -> int:
    """Apply `<source>/config.json` and write the kept pages to `out` as 0.png, 1.png, ...; returns the count.

    Pages are renumbered contiguously (the study's `i - count` naming). Numbered PNGs left in `out` by an
    earlier run with more pages are removed so the folder holds exactly this run's pages. Pages or a sources
    list already in `out` (an earlier run's) are refused, before any work, unless `overwrite`.
    """
    source = require_dir(source)
    out = Path(out)
    if out.resolve() == source.resolve():
        raise ManganimeError(f"{source}: output folder is the input folder; the scans would be overwritten")
    if size <= 0:
        raise ManganimeError(f"page size must be positive, got {size}")
    config = load_manga_config(source)
    pages = list_pages(source)
    if not pages:
        raise ManganimeError(f"{source}: no page images found")
    kept = config.kept_indices(len(pages), where=str(source / CONFIG_NAME))
    stale = [p for p in out.iterdir() if _NUMBERED_PNG.match(p.name)] if out.is_dir() else []
    refuse_existing([out / f"{k}.png" for k in range(len(kept))] + stale + [out / SOURCES_NAME], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    sequence = _PageSequence([str(pages[i]) for i in kept])
    for k in tqdm(range(len(kept)), desc=source.name, unit="page", leave=False):
        name = pages[kept[k]].name
        write_image_atomic(out / f"{k}.png", to_manga_page(np.asarray(sequence[k]), config.crop, size, name))
    for stale in out.iterdir():
        if _NUMBERED_PNG.match(stale.name) and int(stale.stem) >= len(kept):
            stale.unlink()
    write_json_atomic(out / SOURCES_NAME, [pages[i].name for i in kept])
    return len(kept)

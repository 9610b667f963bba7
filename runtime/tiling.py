"""Overlapping tiles for images too large to run whole, blended with linear ramps so no seam shows.

Tile origins are multiples of the model's size multiple so that every tile sees the same stride-2 sampling grid
as the whole image would; without that, a tile's downsampled features are shifted by a pixel and disagree with
its neighbours in the overlap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Tile:
    """A window [y0:y1, x0:x1] of the image."""

    y0: int
    y1: int
    x0: int
    x1: int


def _windows(length: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    """Aligned [start, end) windows along one axis: the fewest that cover [0, length) with ~`overlap` shared
    pixels, spread evenly so no window is mostly overlap (which would waste up to a tile's worth of work)."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n / multiple) * multiple
    starts = [round(i * (length - size) / (n - 1)) // multiple * multiple for i in range(n)]
    # the last window always runs to the end (its start was aligned down, so it can exceed `size` by < multiple)
    return [(s, min(s + size, length)) for s in starts[:-1]] + [(starts[-1], length)]


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int) -> list[Tile]:
    """Windows of about tile×tile (at most tile + multiple − 1 a side) covering the image; neighbours share
    about `overlap` pixels."""
    tile = max(2 * multiple, tile // multiple * multiple)
    overlap = min(overlap, tile // 2)
    return [Tile(y0, y1, x0, x1)
            for y0, y1 in _windows(height, tile, overlap, multiple)
            for x0, x1 in _windows(width, tile, overlap, multiple)]


def _fade(k: int) -> np.ndarray:
    """Rising weights across an overlap of k pixels: ~0 on the outer quarter (the tile border, where the
    network saw mirrored instead of real context), a linear ramp across the middle half, 1 on the inner quarter."""
    i = np.arange(k, dtype=np.float32) + 0.5
    return np.clip((i - k / 4) / (k / 2), 1e-3, 1.0)


def _ramp(start: int, end: int, lo_neighbour: int | None, hi_neighbour: int | None) -> np.ndarray:
    """1-D weights over [start, end): fading in across the part shared with the previous window, out across the
    part shared with the next one, 1 elsewhere. Never exactly 0, so every pixel has some weight."""
    n = end - start
    w = np.ones(n, np.float32)
    if lo_neighbour is not None and lo_neighbour > start:       # previous window ends at lo_neighbour
        k = lo_neighbour - start
        w[:k] = np.minimum(w[:k], _fade(k))
    if hi_neighbour is not None and hi_neighbour < end:         # next window starts at hi_neighbour
        k = end - hi_neighbour
        w[n - k:] = np.minimum(w[n - k:], _fade(k)[::-1])
    return w


def blend_weights(tiles: list[Tile], tile: Tile) -> np.ndarray:
    """[h, w] weights of `tile` given the other windows of its row and column."""
    ys = sorted({(t.y0, t.y1) for t in tiles})
    xs = sorted({(t.x0, t.x1) for t in tiles})
    iy, ix = ys.index((tile.y0, tile.y1)), xs.index((tile.x0, tile.x1))
    wy = _ramp(tile.y0, tile.y1, ys[iy - 1][1] if iy > 0 else None, ys[iy + 1][0] if iy + 1 < len(ys) else None)
    wx = _ramp(tile.x0, tile.x1, xs[ix - 1][1] if ix > 0 else None, xs[ix + 1][0] if ix + 1 < len(xs) else None)
    return wy[:, None] * wx[None, :]


def run_tiled(image: np.ndarray, tiles: list[Tile], stylize_tile: Callable[[np.ndarray], np.ndarray],
              on_tile: Callable[[], None] | None = None) -> np.ndarray:
    """Stylise uint8 [H,W,3] tile by tile with `stylize_tile` (crop in, same-size crop out) and blend."""
    height, width = image.shape[:2]
    acc = np.zeros((height, width, 3), np.float32)
    total = np.zeros((height, width, 1), np.float32)
    for t in tiles:
        out = stylize_tile(image[t.y0:t.y1, t.x0:t.x1]).astype(np.float32)
        w = blend_weights(tiles, t)[..., None]
        acc[t.y0:t.y1, t.x0:t.x1] += out * w
        total[t.y0:t.y1, t.x0:t.x1] += w
        if on_tile:
            on_tile()
    return np.clip(np.rint(acc / total), 0, 255).astype(np.uint8)

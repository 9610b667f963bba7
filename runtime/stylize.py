"""Turn uint8 RGB images of any size into stylised images of exactly the same size.

Size policy: reflect-pad to the model's size multiple and crop back (no distorting resize); `max_side` optionally
runs the model on a smaller copy and resizes the result back; images whose longer side exceeds `tile_above` run
in overlapping tiles with whole-image normalisation statistics (see global_stats.py).
"""
from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm import tqdm

from runtime.errors import ConversionError
from runtime.global_stats import GlobalStatsModel, NoGlobalStats
from runtime.imaging import fit_max_side, match_brightness, padded_size, reflect_pad, resize
from runtime.session import Generator
from runtime.tiling import plan_tiles, run_tiled


@dataclass(frozen=True)
class TileOptions:
    """When and how to tile. size/overlap in pixels; above: tile when the longer side exceeds it (0: always)."""

    size: int = 1024
    overlap: int = 128                # AnimeGANv2's border effects fade within ~100 px (tests/test_runtime_tiling.py)
    above: int = 2048                 # 1080p runs whole; 1440p, 4K and up are tiled
    global_stats: bool = True
    stats_pixels: int | None = None   # proxy budget for the statistics pass; None: size² (same memory as a tile)

    def __post_init__(self):
        if self.size < 32:
            raise ConversionError(f"tile size {self.size} is too small (minimum 32)")
        if self.overlap < 0 or self.above < 0:
            raise ConversionError("tile overlap and tiling threshold must not be negative")


class Stylizer:
    """A Generator plus the size policy; `stylize_batch` is what the photo and video pipelines call."""

    def __init__(self, generator: Generator, tiles: TileOptions = TileOptions(), max_side: int | None = None,
                 brightness: bool = False, log: Callable[[str], None] | None = None, progress: bool = False):
        self.generator = generator
        self.progress = progress  # a per-tile bar for tiled images (a 4K photo takes minutes on a CPU)
        self.tiles = tiles
        self.max_side = max_side
        self.brightness = brightness
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self._global: GlobalStatsModel | None | bool = None   # None: not built yet; False: unavailable
        self.tiling_mode: str | None = None                   # "global statistics" or "per-tile statistics"

    @property
    def multiple(self) -> int:
        return self.generator.spec.size_multiple

    def needs_tiling(self, height: int, width: int) -> bool:
        return max(height, width) > self.tiles.above

    def stylize(self, image: np.ndarray) -> np.ndarray:
        """Stylise one uint8 [H,W,3] image; the result has the same shape."""
        return self.stylize_batch([image])[0]

    def stylize_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Stylise several images; same-size images run as one model batch (the model is per-sample exact)."""
        results: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            groups[image.shape].append(index)
        for shape, indices in groups.items():
            height, width = shape[:2]
            work_h, work_w = fit_max_side(height, width, self.max_side)
            batch = [resize(images[i], work_h, work_w) for i in indices]
            if self.needs_tiling(work_h, work_w):
                outputs = [self._tiled(image) for image in batch]
            else:
                outputs = list(self._whole(np.stack(batch)))
            for i, out in zip(indices, outputs):
                out = resize(out, height, width)
                results[i] = match_brightness(images[i], out) if self.brightness else out
        return results  # type: ignore[return-value]

    def _whole(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [N,H,W,3] → same, in one (or max_batch-sized) model call with reflect padding."""
        height, width = batch.shape[1:3]
        ph, pw = padded_size(height, width, self.multiple)
        return self.generator(reflect_pad(batch, ph, pw))[:, :height, :width]

    def _global_model(self) -> GlobalStatsModel | None:
        if self._global is None:
            self._global = False
            if self.tiles.global_stats:
                try:
                    self._global = GlobalStatsModel(self.generator)
                except NoGlobalStats as why:
                    self.log(f"note: tiles use per-tile normalisation statistics ({why})")
            self.tiling_mode = "global statistics" if self._global else "per-tile statistics"
        return self._global or None

    def _tiled(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        tiles = plan_tiles(height, width, self.tiles.size, self.tiles.overlap, self.multiple)
        model = self._global_model()
        with tqdm(total=len(tiles), unit="tile", leave=False, disable=not self.progress, file=sys.stderr) as bar:
            if model is None:
                return run_tiled(image, tiles, self._whole_single, on_tile=bar.update)
            return self._tiled_global(image, tiles, model, bar.update)

    def _tiled_global(self, image: np.ndarray, tiles, model: GlobalStatsModel, on_tile) -> np.ndarray:
        height, width = image.shape[:2]
        budget = self.tiles.stats_pixels or self.tiles.size ** 2
        scale = min(1.0, (budget / float(height * width)) ** 0.5)
        proxy = resize(image, max(1, round(height * scale)), max(1, round(width * scale)))
        ph, pw = padded_size(*proxy.shape[:2], self.multiple)
        stats = model.capture(reflect_pad(proxy, ph, pw))

        def run(tile_image: np.ndarray) -> np.ndarray:
            h, w = tile_image.shape[:2]
            th, tw = padded_size(h, w, self.multiple)
            return model.run_tile(reflect_pad(tile_image, th, tw), stats)[:h, :w]

        return run_tiled(image, tiles, run, on_tile=on_tile)

    def _whole_single(self, tile_image: np.ndarray) -> np.ndarray:
        return self._whole(tile_image[None])[0]


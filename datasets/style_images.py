"""The style (anime) images of one style in memory, served by (epoch, step) random access like AnimeGANData.

Reads `ROOT/<style>/style/` (the AnimeGANv2 layout; no `smooth/` folder needed) and a few sample photos from
`ROOT/val/`, else `ROOT/test/`, else `ROOT/train_photo/`. Batches are a pure function of (seed, epoch, step,
shard), so resumed runs see the same images, and the union over shards of a step is the single-process batch of
the global size. Used by the autoencoder family, which learns from style images alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from datasets.animegan_data import STYLE_DIR, DatasetError, load_folder, to_model_input
from datasets.image_io import normalize_size

SAMPLE_FOLDERS = ("val", "test", "train_photo")  # where sample photos are looked for, in this order


class StyleImages:
    """`ROOT/<style>/style/` resized to `image_size`, plus `sample_count` sample photos (`samples`).

    `size_multiple`: the sides must be multiples of it (the network's downsampling); `report` receives one line
    per skipped (unreadable) image. DatasetError for a missing or empty folder or a bad size.
    """

    def __init__(self, root: Union[str, Path], style: str, image_size: Union[int, Sequence[int]],
                 sample_count: int = 4, size_multiple: int = 1, seed: int = 0, shard_id: int = 0,
                 num_shards: int = 1, report: Optional[Callable[[str], None]] = None):
        self.seed, self.shard_id, self.num_shards = int(seed), shard_id, num_shards
        self.root = Path(root)
        try:
            self.size = normalize_size(image_size)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        if self.size[0] % size_multiple or self.size[1] % size_multiple:
            raise DatasetError(f"image_size must be a multiple of {size_multiple}, got {image_size}")
        style_dir = self.root / style / STYLE_DIR
        if not style_dir.is_dir():
            raise DatasetError(f"{style_dir}: no such folder (expected ROOT/<style>/{STYLE_DIR}/)")
        _, self.images, problems = load_folder(style_dir, self.size, f"style/{style}")
        self.problems = list(problems)
        if len(self.images) == 0:
            raise DatasetError(f"{style_dir}: no readable images")
        self.samples = self._sample_photos(sample_count)
        if report is not None:
            for line in self.problems:
                report(line)

    def _sample_photos(self, count: int) -> np.ndarray:
        for name in SAMPLE_FOLDERS:
            folder = self.root / name
            if folder.is_dir():
                _, photos, problems = load_folder(folder, self.size, name)
                self.problems += problems
                if len(photos):
                    return photos[:count]
        self.problems.append(f"no photos in {', '.join(SAMPLE_FOLDERS)} under {self.root}: the sample grid "
                             f"shows style images instead")
        return self.images[:count]

    def steps_per_epoch(self, global_batch: int) -> int:
        steps = len(self.images) // int(global_batch)
        if steps < 1:
            raise DatasetError(f"{len(self.images)} style image(s) are fewer than one global batch of "
                               f"{global_batch}; add images or lower the batch size")
        return steps

    def batch(self, epoch: int, step: int, batch_size: int) -> dict:
        """This shard's {"anime": float32 NCHW in [-1, 1]} for (epoch, step)."""
        g = batch_size * self.num_shards
        perm = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.images))
        idx = perm[step * g:(step + 1) * g][self.shard_id::self.num_shards]
        return {"anime": to_model_input(self.images[idx])}

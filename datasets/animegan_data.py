"""AnimeGANv2 training data in the official layout, held in memory, served by (epoch, step) random access.

Layout (as in TachibanaYoshino/AnimeGANv2 `dataset/`):

    ROOT/train_photo/        real photos (content domain)
    ROOT/<style>/style/      anime frames (target domain)
    ROOT/<style>/smooth/     the same frames, edge-smoothed (python datasets/edge_smooth.py --dataset ROOT/<style>)
    ROOT/<style>/paired/     optional, not official: each train photo rendered in the style, same file name. It
                             exists only for styles made from photos by a filter (the demo style); `paired=True`
                             loads it and batches gain `photo_styled`
    ROOT/val/, ROOT/test/    photos for samples / evaluation (optional here)

Batches are a pure function of (seed, epoch, step, shard): nothing is consumed from a stateful iterator, so
a resumed run asks for the same (epoch, step) and gets exactly the images an uninterrupted run would have seen,
and the union over shards of one step is the single-process batch of the global size.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from datasets.image_io import ImageReadError, list_images, normalize_size, read_rgb
from runtime.errors import UserError

PHOTO_DIR, STYLE_DIR, SMOOTH_DIR, VAL_DIR, TEST_DIR = "train_photo", "style", "smooth", "val", "test"
PAIRED_DIR = "paired"
# Stream ids mixed into the seed so photo and style orders are independent permutations.
_STYLE_STREAM = 1


class DatasetError(UserError):
    """The AnimeGAN dataset is missing, empty or asked for something it cannot give."""


def to_gray_uint8(rgb_uint8: np.ndarray) -> np.ndarray:
    """BT.601 luma (0.299 R + 0.587 G + 0.114 B) with OpenCV's rounding, as cv2.IMREAD_GRAYSCALE yields."""
    return cv2.cvtColor(rgb_uint8, cv2.COLOR_RGB2GRAY)


def to_model_input(nhwc_uint8: np.ndarray) -> np.ndarray:
    """uint8 NHWC (RGB, or grey NHW) -> float32 NCHW in [-1, 1]; grey is replicated to 3 channels."""
    x = np.asarray(nhwc_uint8)
    if x.ndim == 3:
        x = np.repeat(x[..., None], 3, axis=3)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def load_folder(folder: Path, size: tuple[int, int], desc: str) -> tuple[list[Path], np.ndarray, list[str]]:
    """Read every image of `folder` resized to `size`; returns (paths kept, NxHxWx3 uint8, problem lines)."""
    paths, images, problems = [], [], []
    for path in tqdm(list_images(folder), desc=desc, unit="img", leave=False):
        try:
            images.append(read_rgb(path, size))
            paths.append(path)
        except ImageReadError as exc:
            problems.append(f"skipped: {exc}")
    stack = np.stack(images) if images else np.zeros((0, size[0], size[1], 3), np.uint8)
    return paths, stack, problems


class AnimeGANData:
    """Photos, style images and their edge-smoothed versions of one style, as uint8 arrays in memory.

    `problems` lists one line per skipped (unreadable) file; `report` is an optional callable that receives
    each of them as they are found (e.g. `print` to stderr). Raises DatasetError when a folder is missing or
    nothing usable is left. With `paired=True` every kept photo must have its rendering in ROOT/<style>/paired/.
    """

    def __init__(self, root, style: str, image_size, seed: int = 0, shard_id: int = 0, num_shards: int = 1,
                 report=None, paired: bool = False):
        self.root = Path(root)
        self.style = str(style)
        try:
            self.image_size = normalize_size(image_size)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        if self.image_size is None:
            raise DatasetError("image_size is required")
        if not (isinstance(num_shards, int) and num_shards >= 1 and isinstance(shard_id, int)
                and 0 <= shard_id < num_shards):
            raise DatasetError(f"shard_id must be in [0, num_shards), got shard_id={shard_id}, "
                               f"num_shards={num_shards}")
        self.seed, self.shard_id, self.num_shards = int(seed), shard_id, num_shards
        self.problems: list[str] = []
        self._report = report

        photo_dir = self.root / PHOTO_DIR
        style_dir = self.root / self.style / STYLE_DIR
        smooth_dir = self.root / self.style / SMOOTH_DIR
        for folder in (photo_dir, style_dir):
            if not folder.is_dir():
                raise DatasetError(f"{folder}: no such folder (expected ROOT/{PHOTO_DIR}/ and "
                                   f"ROOT/<style>/{STYLE_DIR}/)")
        if not smooth_dir.is_dir():
            raise DatasetError(f"{smooth_dir}: no such folder; create it with "
                               f"`python datasets/edge_smooth.py --dataset {self.root / self.style}`")

        photo_paths, self.photos, problems = load_folder(photo_dir, self.image_size, "photos")
        self._note(problems)
        self.photo_styled = self._load_paired(photo_paths, self.root / self.style / PAIRED_DIR) if paired else None
        self.style_names, self.anime, self.anime_gray, self.smooth_gray = self._load_style_pairs(
            style_dir, smooth_dir)
        if len(self.photos) == 0:
            raise DatasetError(f"{photo_dir}: no readable images")
        if len(self.anime) == 0:
            raise DatasetError(f"{style_dir}: no readable style image with a readable counterpart in {smooth_dir}")

    def _note(self, problems: list[str]) -> None:
        self.problems.extend(problems)
        if self._report is not None:
            for line in problems:
                self._report(line)

    def _load_paired(self, photo_paths: list[Path], paired_dir: Path) -> np.ndarray:
        """Each photo's rendering in the style, row-aligned with self.photos. A missing one is an error, not a
        skip: dropping photos would silently change what the unpaired phases train on."""
        if not paired_dir.is_dir():
            raise DatasetError(f"{paired_dir}: no such folder (paired=True needs each train photo rendered in the "
                               f"style under the same file name)")
        styled, missing = [], []
        for path in photo_paths:
            try:
                styled.append(read_rgb(paired_dir / path.name, self.image_size))
            except ImageReadError as exc:
                missing.append(str(exc))
        if missing:
            raise DatasetError(f"{paired_dir}: {len(missing)} of {len(photo_paths)} train photos have no readable "
                               f"rendering (first: {missing[0]})")
        return np.stack(styled) if styled else np.zeros_like(self.photos)

    def _load_style_pairs(self, style_dir: Path, smooth_dir: Path):
        """Load style images paired by file name with their smoothed versions; unpaired ones are skipped."""
        paths, anime, problems = load_folder(style_dir, self.image_size, f"style/{self.style}")
        keep, smooth_gray = [], []
        for i, path in enumerate(paths):
            try:
                smooth_gray.append(to_gray_uint8(read_rgb(smooth_dir / path.name, self.image_size)))
                keep.append(i)
            except ImageReadError as exc:
                problems.append(f"skipped: {path.name}: no usable smoothed version ({exc}); "
                                f"re-run datasets/edge_smooth.py")
        self._note(problems)
        anime = anime[keep]
        gray = np.stack([to_gray_uint8(a) for a in anime]) if len(anime) else np.zeros((0,) + self.image_size,
                                                                                          np.uint8)
        smooth = np.stack(smooth_gray) if smooth_gray else np.zeros((0,) + self.image_size, np.uint8)
        return [paths[i].name for i in keep], anime, gray, smooth

    @property
    def num_photos(self) -> int:
        return len(self.photos)

    @property
    def num_style(self) -> int:
        return len(self.anime)

    def steps_per_epoch(self, global_batch: int) -> int:
        """Number of full global batches per epoch; the leftover photos of each permutation are not used that epoch."""
        if not isinstance(global_batch, (int, np.integer)) or global_batch < 1:
            raise DatasetError(f"global batch size must be a positive int, got {global_batch!r}")
        steps = self.num_photos // int(global_batch)
        if steps < 1:
            raise DatasetError(f"{self.num_photos} photo(s) in {self.root / PHOTO_DIR} are fewer than one global "
                               f"batch of {global_batch}; add photos or lower the batch size")
        return steps

    def _global_indices(self, epoch: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Photo and style indices of this shard's part of global batch `step` in `epoch`."""
        g = batch_size * self.num_shards
        steps = self.steps_per_epoch(g)
        if not (0 <= step < steps) or epoch < 0:
            raise DatasetError(f"(epoch {epoch}, step {step}) is out of range: {steps} step(s) per epoch "
                               f"at global batch {g}")
        photo_perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_photos)
        photo_idx = photo_perm[step * g:(step + 1) * g]
        # Style images (often fewer than photos) walk their own permutation, wrapping around as needed.
        style_perm = np.random.default_rng([self.seed, epoch, _STYLE_STREAM]).permutation(self.num_style)
        style_idx = style_perm[np.arange(step * g, (step + 1) * g) % self.num_style]
        shard = slice(self.shard_id, None, self.num_shards)
        return photo_idx[shard], style_idx[shard]

    def batch(self, epoch: int, step: int, batch_size: int) -> dict:
        """This shard's batch for (epoch, step): dict of float32 NCHW arrays in [-1, 1].

        Keys: `photo`, `anime`, `anime_gray` and `smooth_gray` (grey replicated to 3 channels), and
        `photo_styled` (the photos' own renderings) when the data was loaded with paired=True.
        """
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise DatasetError(f"batch_size must be a positive int, got {batch_size!r}")
        photo_idx, style_idx = self._global_indices(int(epoch), int(step), int(batch_size))
        batch = {
            "photo": to_model_input(self.photos[photo_idx]),
            "anime": to_model_input(self.anime[style_idx]),
            "anime_gray": to_model_input(self.anime_gray[style_idx]),
            "smooth_gray": to_model_input(self.smooth_gray[style_idx]),
        }
        if self.photo_styled is not None:
            batch["photo_styled"] = to_model_input(self.photo_styled[photo_idx])
        return batch

    def sample_photos(self, count: int, split: str = VAL_DIR) -> np.ndarray:
        """The first `count` readable photos of ROOT/<split>/ (val by default), float32 NCHW in [-1, 1].

        For sample grids. Falls back to the first training photos when that folder is absent or unreadable.
        """
        count = max(int(count), 0)
        folder = self.root / split
        images = []
        if folder.is_dir():
            for path in list_images(folder):
                if len(images) == count:
                    break
                try:
                    images.append(read_rgb(path, self.image_size))
                except ImageReadError as exc:
                    self._note([f"skipped: {exc}"])
        if not images:
            return to_model_input(self.photos[:count])
        return to_model_input(np.stack(images))

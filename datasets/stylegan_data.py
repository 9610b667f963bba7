"""StyleGAN2-ADA training images: a folder (searched recursively), a zip of frames, or a manGANime dataset export,
served by (epoch, step) random access with NVlabs' x-flip doubling.

Sources (what `stylegan2-ada-pytorch --data` takes, plus the export):
- a folder: every image below it, in sorted relative-path order (NVlabs `ImageFolderDataset` walks it too);
- a `.zip`: every image member, sorted (what NVlabs' `dataset_tool.py` and `datasets/manganime/dataset_export.py`
  write);
- a manGANime export folder (`python datasets/manganime/preprocess.py dataset --out DIR`): its `stylegan.zip`, or
  else its `stylegan/` folder.
Labels, optional: NVlabs' `dataset.json` at the root of the folder or zip, `{"labels": [[relative path, class
index], ...]}`, one-hot encoded (c_dim = highest class + 1).

Images are decoded when a batch needs them (a 175k-frame set does not fit in memory), converted to RGB (or grey
for 1 channel) and resized to `resolution` if needed. With `xflip` the set is doubled as NVlabs doubles it: index
i + N is image i mirrored. Batches are a pure function of (seed, epoch, step, shard): a permutation per epoch,
and this shard's rows of the global batch, so resumed and data-parallel runs see the batches an uninterrupted
single process would.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from datasets.image_io import IMAGE_EXTENSIONS, resize_rgb
from runtime.errors import UserError

EXPORT_ARCHIVE, EXPORT_FOLDER = "stylegan.zip", "stylegan"  # what dataset_export.py writes
LABELS_FILE = "dataset.json"


class StyleGANDataError(UserError):
    """The image source is missing, empty, unreadable or inconsistent; the message names the file."""


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def resolve_source(path: str | os.PathLike) -> Path:
    """The folder or zip to read: `path` itself, or the stylegan.zip / stylegan/ inside a manGANime export."""
    path = Path(path)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise StyleGANDataError(f"{path}: neither a folder nor a zip archive")
        return path
    if not path.is_dir():
        raise StyleGANDataError(f"{path}: no such folder or zip")
    if (path / "triples.csv").is_file():  # a manGANime export: only its StyleGAN frames, not frames/ or pages/
        for name in (EXPORT_ARCHIVE, EXPORT_FOLDER):
            if (path / name).exists():
                return path / name
        raise StyleGANDataError(f"{path}: this manGANime export has no {EXPORT_ARCHIVE} or {EXPORT_FOLDER}/ "
                                f"(it was made with --stylegan none)")
    return path


class _Folder:
    def __init__(self, root: Path):
        self.root = root
        names = []
        for folder, _, files in os.walk(root):
            for f in files:
                if _is_image(f):
                    names.append(os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/"))
        self.names = sorted(names)

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def labels_text(self) -> Optional[str]:
        f = self.root / LABELS_FILE
        return f.read_text() if f.is_file() else None


class _Zip:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise StyleGANDataError(f"{path}: cannot open the zip ({exc})") from None
        self.names = sorted(n for n in self.archive.namelist() if _is_image(n) and not n.endswith("/"))

    def read(self, name: str) -> bytes:
        return self.archive.read(name)

    def labels_text(self) -> Optional[str]:
        return self.archive.read(LABELS_FILE).decode() if LABELS_FILE in self.archive.namelist() else None


def decode(data: bytes, resolution: int, channels: int, name: str) -> np.ndarray:
    """Image bytes → HxWxC uint8 at `resolution` (EXIF orientation applied, alpha composited on white)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            arr = np.asarray(img.convert("RGB" if channels == 3 else "L"), np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise StyleGANDataError(f"{name}: cannot decode image ({' '.join(str(exc).split()) or type(exc).__name__})") \
            from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return resize_rgb(arr, resolution).reshape(resolution, resolution, channels)


class StyleGANImages:
    """`batch(epoch, step, batch_size)` → {"real": float32 [n, C, R, R] in [-1, 1], "real_c": one-hot [n, c_dim]
    (c_dim 0 gives a [n, 1] zero column)}; `labels_for(indices)`, `random_labels(rng, n)` for generated samples.

    source: folder, zip or manGANime export; resolution: square side (a power of two); xflip: NVlabs' mirror
    doubling; use_labels: read dataset.json (StyleGANDataError if absent); max_images: only the first N images.
    """

    def __init__(self, source: str | os.PathLike, resolution: int, channels: int = 3, xflip: bool = False,
                 use_labels: bool = False, max_images: Optional[int] = None, seed: int = 0, shard_id: int = 0,
                 num_shards: int = 1):
        if channels not in (1, 3):
            raise StyleGANDataError(f"channels must be 1 or 3, got {channels}")
        self.path = resolve_source(source)
        self.store = _Zip(self.path) if self.path.is_file() else _Folder(self.path)
        names = self.store.names[:max_images] if max_images else self.store.names
        if not names:
            raise StyleGANDataError(f"{self.path}: no images found")
        self.names = names
        self.resolution, self.channels, self.xflip = int(resolution), channels, bool(xflip)
        self.seed, self.shard_id, self.num_shards = int(seed), shard_id, num_shards
        self.labels = self._read_labels() if use_labels else None
        self.c_dim = int(self.labels.max()) + 1 if self.labels is not None else 0

    def _read_labels(self) -> np.ndarray:
        text = self.store.labels_text()
        if text is None:
            raise StyleGANDataError(f"{self.path}: use_labels needs a {LABELS_FILE} with NVlabs' 'labels' list")
        try:
            table = {str(k): v for k, v in json.loads(text)["labels"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise StyleGANDataError(f"{self.path}/{LABELS_FILE}: not NVlabs' labels format ({exc})") from None
        missing = [n for n in self.names if n not in table]
        if missing:
            raise StyleGANDataError(f"{self.path}/{LABELS_FILE}: no label for {missing[0]} ({len(missing)} missing)")
        values = [table[n] for n in self.names]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise StyleGANDataError(f"{self.path}/{LABELS_FILE}: only non-negative integer class labels are supported")
        return np.asarray(values, np.int64)

    def __len__(self) -> int:
        return len(self.names) * (2 if self.xflip else 1)

    def image(self, index: int) -> np.ndarray:
        """HxWxC uint8 of dataset index `index` (indices past the images are the mirrored copies)."""
        n = len(self.names)
        name = self.names[index % n]
        arr = decode(self.store.read(name), self.resolution, self.channels, f"{self.path}:{name}")
        return arr[:, ::-1] if index >= n else arr

    def images(self, indices) -> np.ndarray:
        """float32 [n, C, R, R] in [-1, 1]."""
        batch = np.stack([self.image(int(i)) for i in indices]).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch, np.float32) / np.float32(127.5) - np.float32(1.0)

    def labels_for(self, indices) -> np.ndarray:
        idx = np.asarray(indices, np.int64) % len(self.names)
        if self.labels is None:
            return np.zeros((len(idx), 1), np.float32)
        return np.eye(self.c_dim, dtype=np.float32)[self.labels[idx]]

    def random_labels(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Labels of n random dataset images (NVlabs' gen_c), one-hot; zeros [n, 1] without labels."""
        return self.labels_for(rng.integers(0, len(self), n))

    def steps_per_epoch(self, global_batch: int) -> int:
        steps = len(self) // int(global_batch)
        if steps < 1:
            raise StyleGANDataError(f"{len(self)} image(s) are fewer than one global batch of {global_batch}")
        return steps

    def batch(self, epoch: int, step: int, batch_size: int) -> dict:
        g = batch_size * self.num_shards
        perm = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self))
        idx = perm[step * g:(step + 1) * g][self.shard_id::self.num_shards]
        return {"real": self.images(idx), "real_c": self.labels_for(idx)}

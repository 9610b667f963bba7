"""Colorization training data: grey pages and colour pages, paired or unpaired, augmented on the host.

Sources (each a list of `Item`s, one grey/colour pair or one side of an unpaired set):
- `paired_folders(A, B)`: two folders matched by file name (stem), as the BerserkMangaColoring study's
  `[chapter]_[page].png`; a file without its partner is reported by name and left out, the rest trains;
- `aligned_folder(AB)`: junyanz's side-by-side format (`datasets/combine_A_and_B.py`): each image is A|B, split at
  w // 2;
- `image_folder(X)`: one domain of an unpaired (CycleGAN) set, e.g. `trainA/`, `trainB/`.

Pages are decoded on demand (`datasets/image_io.read_rgb`: EXIF, 16-bit, alpha handled there). The grey side is
turned into Pillow luma (`L`, BT.601) and expanded to the model's channels (3 for the reference models, as the
study fed its grey pages). When a pair's sides differ in size, the grey side is resized to the colour side's.

Preprocessing (`Augment.mode`), the same parameters applied to both images of a pair:
- "study": BerserkMangaColoring's torchvision pipeline, at its probabilities: saturation jitter (factor U(0, 1))
  50 %, rotation (U(10°, 50°) clockwise, nearest, black fill) 20 %, horizontal flip 40 %, vertical flip 20 %, then
  RandomResizedCrop(size, scale (0.08, 1), ratio (3/4, 4/3), bilinear), which also is the final resize;
- "junyanz": `--preprocess resize_and_crop`: resize to load_size² (bicubic), random crop_size² crop, flip 50 %;
- "resize": resize to crop_size² (bicubic), nothing random (evaluation, sample grids).
Every random draw comes from `np.random.default_rng([seed, epoch, index])` (index: the item's position in the
dataset), so a batch is a pure function of (seed, epoch, step, shard): resumed runs and msrun shards see exactly
the images an uninterrupted single process would.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image, ImageEnhance

from datasets.image_io import ImageReadError, list_images, read_rgb
from runtime.errors import UserError
from runtime.imaging import luma8

AUGMENT_MODES = ("study", "junyanz", "resize")
LAYOUTS = ("paired", "aligned", "unpaired")
_B_STREAM = 1  # mixed into the seed of an unpaired B draw, so A and B draws are independent


class ColorizeDataError(UserError):
    """The colorization data is missing, empty or inconsistent; the message names the folder or file."""


@dataclass(frozen=True)
class Item:
    """One training example: `grey` and `colour` paths (paired), or one image (`colour` is None for a lone
    grey page; `grey` None for a lone colour page); `aligned` for a side-by-side A|B file."""

    name: str
    grey: Optional[Path] = None
    colour: Optional[Path] = None
    aligned: Optional[Path] = None


def paired_folders(grey_dir, colour_dir, report: Callable[[str], None] | None = None) -> list[Item]:
    """Pairs by file stem; every unmatched file is reported (`report(line)`) by name and skipped."""
    grey_dir, colour_dir = Path(grey_dir), Path(colour_dir)
    greys = _by_stem(grey_dir)
    colours = _by_stem(colour_dir)
    for stem in sorted(set(greys) - set(colours)):
        _report(report, f"{greys[stem]} has no partner in {colour_dir} (no {stem}.*); left out")
    for stem in sorted(set(colours) - set(greys)):
        _report(report, f"{colours[stem]} has no partner in {grey_dir} (no {stem}.*); left out")
    items = [Item(stem, grey=greys[stem], colour=colours[stem]) for stem in sorted(set(greys) & set(colours))]
    if not items:
        raise ColorizeDataError(f"no file of {grey_dir} has a partner of the same name in {colour_dir}")
    return items


def aligned_folder(folder) -> list[Item]:
    """junyanz's aligned layout: every image of `folder` is A|B side by side."""
    paths = _images(Path(folder))
    return [Item(p.stem, aligned=p) for p in paths]


def image_folder(folder, role: str) -> list[Item]:
    """One unpaired domain (`role` "grey" or "colour")."""
    return [Item(p.stem, **{role: p}) for p in _images(Path(folder))]


def _images(folder: Path) -> list[Path]:
    try:
        paths = list_images(folder)
    except ImageReadError:
        raise ColorizeDataError(f"{folder}: no such folder") from None
    if not paths:
        raise ColorizeDataError(f"{folder}: no images")
    return paths


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in _images(folder):
        if path.stem in found:
            raise ColorizeDataError(f"{folder}: {found[path.stem].name} and {path.name} have the same name; pairs "
                                    f"are matched by name, so keep one")
        found[path.stem] = path
    return found


def _report(report, line: str) -> None:
    if report is not None:
        report(line)


# ---------------------------------------------------------------------------------------------------- decoding

def read_grey(path) -> Image.Image:
    """A page as Pillow luma ('L')."""
    return Image.fromarray(luma8(read_rgb(path)), "L")


def read_colour(path) -> Image.Image:
    return Image.fromarray(read_rgb(path), "RGB")


def read_item(item: Item) -> tuple[Optional[Image.Image], Optional[Image.Image]]:
    """(grey 'L', colour 'RGB') images of an item (either None for a lone unpaired image)."""
    if item.aligned is not None:
        ab = read_rgb(item.aligned)
        half = ab.shape[1] // 2
        if half < 1:
            raise ColorizeDataError(f"{item.aligned}: too narrow to hold two images side by side")
        return (Image.fromarray(luma8(ab[:, :half]), "L"), Image.fromarray(np.ascontiguousarray(ab[:, half:2 * half])))
    grey = read_grey(item.grey) if item.grey is not None else None
    colour = read_colour(item.colour) if item.colour is not None else None
    if grey is not None and colour is not None and grey.size != colour.size:
        grey = grey.resize(colour.size, Image.Resampling.BICUBIC)
    return grey, colour


# ---------------------------------------------------------------------------------------------------- augmentation

@dataclass(frozen=True)
class Augment:
    """Preprocessing of one example (see the module docstring); probabilities are the study's by default."""

    mode: str = "junyanz"
    crop_size: int = 256
    load_size: int = 286
    saturation_p: float = 0.5
    saturation_range: tuple[float, float] = (0.0, 1.0)
    rotate_p: float = 0.2
    rotate_degrees: tuple[float, float] = (10.0, 50.0)
    hflip_p: float = 0.4
    vflip_p: float = 0.2
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    junyanz_flip_p: float = 0.5

    def __post_init__(self):
        if self.mode not in AUGMENT_MODES:
            raise ValueError(f"augment mode must be one of {', '.join(AUGMENT_MODES)}, got '{self.mode}'")
        if self.crop_size < 1 or self.load_size < self.crop_size:
            raise ValueError(f"need 1 <= crop_size <= load_size, got {self.crop_size} and {self.load_size}")
        for name in ("saturation_p", "rotate_p", "hflip_p", "vflip_p", "junyanz_flip_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")

    def apply(self, images: Sequence[Optional[Image.Image]], rng: np.random.Generator) -> list[Optional[Image.Image]]:
        """The same random transform applied to every image of `images` (None entries stay None)."""
        present = [im for im in images if im is not None]
        if not present:
            return list(images)
        plan = self.plan(present[0].size, rng)
        return [None if im is None else plan.apply(im) for im in images]

    def plan(self, size: tuple[int, int], rng: np.random.Generator) -> "Plan":
        """Draw this example's transform for an image of `size` (width, height)."""
        if self.mode == "resize":
            return Plan(resize=(self.crop_size, self.crop_size))
        if self.mode == "junyanz":
            # junyanz get_params: x, y = randint(0, load - crop) each, flip = random() > 0.5 (one draw < p)
            load, crop = self.load_size, self.crop_size
            x, y = int(rng.integers(0, load - crop + 1)), int(rng.integers(0, load - crop + 1))
            return Plan(resize=(load, load), crop=(x, y, x + crop, y + crop),
                        hflip=bool(rng.random() < self.junyanz_flip_p))
        saturation = float(rng.uniform(*self.saturation_range)) if rng.random() < self.saturation_p else None
        angle = float(rng.uniform(*self.rotate_degrees)) if rng.random() < self.rotate_p else None
        hflip, vflip = bool(rng.random() < self.hflip_p), bool(rng.random() < self.vflip_p)
        top, left, h, w = resized_crop_box(size, self.crop_scale, self.crop_ratio, rng)
        return Plan(saturation=saturation, angle=angle, hflip=hflip, vflip=vflip,
                    box=(left, top, left + w, top + h), box_size=(self.crop_size, self.crop_size))


@dataclass(frozen=True)
class Plan:
    """One drawn transform, applied in the study's order: saturation (colour images only; grey has none),
    clockwise rotation (nearest, black fill), horizontal then vertical flip, then the resized crop; or the junyanz
    resize → crop → flip; or a plain resize."""

    saturation: Optional[float] = None  # ColorJitter's factor: blend with the image's own grey
    angle: Optional[float] = None  # degrees, clockwise (torchvision RandomAffine)
    hflip: bool = False
    vflip: bool = False
    box: Optional[tuple[int, int, int, int]] = None  # RandomResizedCrop (left, top, right, bottom) ...
    box_size: Optional[tuple[int, int]] = None  # ... resized (bilinear) to this (w, h)
    resize: Optional[tuple[int, int]] = None  # bicubic resize to (w, h) (junyanz / plain)
    crop: Optional[tuple[int, int, int, int]] = None  # after the resize

    def apply(self, im: Image.Image) -> Image.Image:
        if self.saturation is not None and im.mode == "RGB":
            im = ImageEnhance.Color(im).enhance(self.saturation)
        if self.angle is not None:
            im = im.rotate(-self.angle, resample=Image.Resampling.NEAREST, fillcolor=0)
        if self.resize is not None:
            im = im.resize(self.resize, Image.Resampling.BICUBIC)
        if self.crop is not None:
            im = im.crop(self.crop)
        if self.hflip:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if self.vflip:
            im = im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        if self.box is not None:
            im = im.resize(self.box_size, Image.Resampling.BILINEAR, box=self.box)
        return im


def resized_crop_box(size: tuple[int, int], scale, ratio, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision `RandomResizedCrop.get_params`: (top, left, height, width) of a crop covering a random
    fraction `scale` of the area with aspect ratio in `ratio` (log-uniform), 10 tries, else a centre crop."""
    width, height = size
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * float(rng.uniform(*scale))
        aspect = math.exp(float(rng.uniform(*log_ratio)))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


# ---------------------------------------------------------------------------------------------------- batches

def to_tensor(image: Image.Image, channels: int) -> np.ndarray:
    """'L' or 'RGB' → float32 CHW in [-1, 1] with `channels` channels (grey replicated, colour as is)."""
    x = np.asarray(image, np.float32) / np.float32(127.5) - np.float32(1.0)
    if x.ndim == 2:
        x = np.repeat(x[None], channels, axis=0)
    else:
        x = x.transpose(2, 0, 1)
        if channels == 1:
            raise ColorizeDataError("a 1-channel side cannot take a colour image")
    return np.ascontiguousarray(x)


class ColorizeData:
    """The trainer's data source: batches {"A": grey pages, "B": colour pages} of the global batch's shard.

    paired (`items` from paired_folders/aligned_folder): A and B of the same example, one transform for both.
    unpaired (`items` for A, `unpaired_b` for B): an epoch walks max(|A|, |B|) examples; example i takes A[i % |A|]
    and a B drawn at random (junyanz's unaligned dataset), each side with its own transform.
    `a_channels`/`b_channels`: the networks' input and output channels.
    """

    def __init__(self, items: list[Item], augment: Augment, a_channels: int = 3, b_channels: int = 3, seed: int = 0,
                 shard: int = 0, shards: int = 1, unpaired_b: list[Item] | None = None):
        if not items or (unpaired_b is not None and not unpaired_b):
            raise ColorizeDataError("no training images")
        self.items, self.unpaired_b = items, unpaired_b
        self.augment, self.seed = augment, int(seed)
        self.a_channels, self.b_channels = a_channels, b_channels
        self.shard, self.shards = shard, shards

    def __len__(self) -> int:
        return len(self.items) if self.unpaired_b is None else max(len(self.items), len(self.unpaired_b))

    def steps_per_epoch(self, global_batch: int) -> int:
        steps = len(self) // int(global_batch)
        if steps < 1:
            raise ColorizeDataError(f"{len(self)} training example(s) are fewer than one global batch of "
                                    f"{global_batch}; add pages or lower train.batch_size")
        return steps

    def example(self, epoch: int, index: int, augment: Augment | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) CHW float32 arrays of example `index` in `epoch` (a pure function of seed, epoch, index)."""
        augment = augment or self.augment
        if self.unpaired_b is None:
            grey, colour = read_item(self.items[index])
            grey, colour = augment.apply([grey, colour], np.random.default_rng([self.seed, epoch, index]))
        else:
            grey = _one_side(read_item(self.items[index % len(self.items)]), "grey")
            b_rng = np.random.default_rng([self.seed, epoch, index, _B_STREAM])
            colour = _one_side(read_item(self.unpaired_b[int(b_rng.integers(len(self.unpaired_b)))]), "colour")
            grey = augment.apply([grey], np.random.default_rng([self.seed, epoch, index]))[0]
            colour = augment.apply([colour], b_rng)[0]
        return to_tensor(grey, self.a_channels), to_tensor(colour, self.b_channels)

    def batch(self, epoch: int, step: int, batch_size: int) -> dict:
        g = batch_size * self.shards
        perm = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self))
        indices = perm[step * g:(step + 1) * g][self.shard::self.shards]
        pairs = [self.example(epoch, int(i)) for i in indices]
        return {"A": np.stack([a for a, _ in pairs]), "B": np.stack([b for _, b in pairs])}

    def samples(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The first `count` examples resized to crop_size, without randomness (sample grids)."""
        plain = Augment("resize", crop_size=self.augment.crop_size, load_size=self.augment.crop_size)
        pairs = [self.example(0, i, plain) for i in range(min(count, len(self)))]
        return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])


def _one_side(images, role: str) -> Image.Image:
    """The image an unpaired item holds (an aligned A|B file gives its `role` half)."""
    grey, colour = images
    image = grey if role == "grey" else colour
    if image is None:  # a grey-domain file read as colour or vice versa: convert
        other = colour if role == "grey" else grey
        image = other.convert("L") if role == "grey" else other.convert("RGB")
    return image


def build_items(layout: str, root, a_dir: str, b_dir: str, report=None) -> tuple[list[Item], list[Item] | None]:
    """(items, unpaired B items or None) for a data config: `layout` paired (ROOT/a_dir + ROOT/b_dir by name),
    aligned (ROOT/a_dir holds A|B files) or unpaired (ROOT/a_dir, ROOT/b_dir)."""
    root = Path(root)
    if layout == "paired":
        return paired_folders(root / a_dir, root / b_dir, report), None
    if layout == "aligned":
        return aligned_folder(root / a_dir), None
    if layout == "unpaired":
        return image_folder(root / a_dir, "grey"), image_folder(root / b_dir, "colour")
    raise ColorizeDataError(f"unknown data layout '{layout}'; choose from {', '.join(LAYOUTS)}")

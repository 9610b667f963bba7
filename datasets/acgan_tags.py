"""Hair and eye tags of the Anime-Generation study's ACGAN: vocabulary, datasets, priors and training batches.

Vocabulary (bchao1/Anime-Generation `old/old_src/utils.py`): 12 hair colours then 10 eye colours; an image's tag
vector is 22 wide, one-hot hair ‖ one-hot eye, in that order.

Two dataset layouts are read, both into `TaggedImages`:
- the study's: `ROOT/images/<index>.jpg`, `ROOT/tags.pickle` ({index: 22-d torch tensor}, as its README shows;
  its loader unpacks `(hair, eye)` pairs of 12-d and 10-d tensors, so that form is accepted too), and the priors
  `ROOT/hair_prob.npy`, `ROOT/eye_prob.npy` (estimated from the tags when absent). The pickle is read without
  torch and without running code from it (datasets/torch_pickle.py);
- a plain CSV `file,hair,eye` (a header row, file names relative to the CSV's folder, colour names as above,
  optionally followed by "hair" / "eyes").
Every problem is an error naming the file: an image without tags, a tag vector that is not exactly one hair and
one eye, an unknown colour name (listing the valid ones).

`ACGANBatches` serves training batches as a pure function of (seed, epoch, step, shard): real images and tags
drawn with replacement as the study's `Shuffler` does, and for each of the two updates a latent z ~ N(0, 1) and
fake tags drawn from the priors (the study's `get_random_label`), all on the host with NumPy, so resumed and
data-parallel runs see exactly the batches an uninterrupted single process would.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from datasets.image_io import IMAGE_EXTENSIONS, ImageReadError, list_images, read_rgb
from datasets.torch_pickle import TorchPickleError, load_torch_pickle
from runtime.errors import UserError

HAIR = ("orange", "white", "aqua", "gray", "green", "red", "purple", "pink", "blue", "black", "brown", "blonde")
EYES = ("black", "orange", "pink", "yellow", "aqua", "purple", "green", "brown", "red", "blue")
TAG_GROUPS = (("hair", HAIR), ("eye", EYES))
NUM_TAGS = len(HAIR) + len(EYES)

IMAGES_DIR, TAGS_FILE, HAIR_PRIOR_FILE, EYE_PRIOR_FILE = "images", "tags.pickle", "hair_prob.npy", "eye_prob.npy"
CSV_COLUMNS = ("file", "hair", "eye")


class TagError(UserError, ValueError):
    """A tag, tag file or tagged dataset is wrong; the message names the file (and line) and what is valid."""


# ---------------------------------------------------------------------------------------------------- encoding
def _colour_index(name: str, group: str, where: str) -> int:
    values = HAIR if group == "hair" else EYES
    text = " ".join(str(name).lower().split())
    suffixes = (" hair",) if group == "hair" else (" eyes", " eye")
    for suffix in suffixes:  # the study's own tag text reads "blonde hair", "blue eyes"
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if text not in values:
        raise TagError(f"{where}: unknown {group} colour {name!r}; one of {', '.join(values)}")
    return values.index(text)


def encode_tags(hair: str, eye: str, where: str = "tags") -> np.ndarray:
    """('aqua', 'blue') → the float32 22-vector (hair one-hot ‖ eye one-hot); unknown names list the valid ones."""
    return one_hot(np.array([_colour_index(hair, "hair", where)]), np.array([_colour_index(eye, "eye", where)]))[0]


def one_hot(hair: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Class indices [N] and [N] → float32 tag rows [N, 22]."""
    hair, eye = np.asarray(hair, np.int64), np.asarray(eye, np.int64)
    rows = np.zeros((len(hair), NUM_TAGS), np.float32)
    rows[np.arange(len(hair)), hair] = 1.0
    rows[np.arange(len(eye)), len(HAIR) + eye] = 1.0
    return rows


def decode_tags(vector, where: str) -> tuple[int, int]:
    """A 22-vector (or a (12-d hair, 10-d eye) pair) → (hair index, eye index); anything but 0/1 values with
    exactly one hair and one eye set is a TagError naming `where`."""
    if isinstance(vector, (tuple, list)) and len(vector) == 2 and all(np.ndim(v) == 1 for v in vector):
        parts = [np.asarray(v, np.float64) for v in vector]
        if [len(p) for p in parts] != [len(HAIR), len(EYES)]:
            raise TagError(f"{where}: a (hair, eye) pair needs {len(HAIR)} and {len(EYES)} values, got "
                           f"{[len(p) for p in parts]}")
        vec = np.concatenate(parts)
    else:
        try:
            vec = np.asarray(vector, np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise TagError(f"{where}: expected a tag vector, got a {type(vector).__name__}") from None
        if len(vec) != NUM_TAGS:
            raise TagError(f"{where}: a tag vector has {NUM_TAGS} values (hair one-hot then eye one-hot), got "
                           f"{len(vec)}")
    if not np.all((vec == 0) | (vec == 1)):
        raise TagError(f"{where}: tag values must be 0 or 1")
    hair, eye = vec[:len(HAIR)], vec[len(HAIR):]
    if hair.sum() != 1 or eye.sum() != 1:
        raise TagError(f"{where}: needs exactly one hair and one eye tag, got {int(hair.sum())} hair and "
                       f"{int(eye.sum())} eye")
    return int(hair.argmax()), int(eye.argmax())


def describe(hair: int, eye: int) -> str:
    return f"{HAIR[hair]} hair, {EYES[eye]} eyes"


# ---------------------------------------------------------------------------------------------------- datasets
@dataclass
class TaggedImages:
    """Images with one hair and one eye class each. images: uint8 [N, H, W, 3]; hair, eye: int64 [N]."""

    images: np.ndarray
    hair: np.ndarray
    eye: np.ndarray
    names: list[str]

    def __post_init__(self):
        if not len(self.images) == len(self.hair) == len(self.eye) == len(self.names):
            raise ValueError("images, hair, eye and names must have the same length")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def tags(self) -> np.ndarray:
        """float32 [N, 22]."""
        return one_hot(self.hair, self.eye)

    def subset(self, index: np.ndarray) -> "TaggedImages":
        index = np.asarray(index, np.int64)
        return TaggedImages(self.images[index], self.hair[index], self.eye[index], [self.names[i] for i in index])


def read_tags_pickle(path) -> dict[int, tuple[int, int]]:
    """The study's tags.pickle → {image index: (hair index, eye index)}, checked entry by entry."""
    path = Path(path)
    try:
        table = load_torch_pickle(path)
    except TorchPickleError as exc:
        raise TagError(str(exc)) from None
    if not isinstance(table, dict):
        raise TagError(f"{path}: expected a dict {{image index: tag tensor}}, got a {type(table).__name__}")
    out = {}
    for key, value in table.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise TagError(f"{path}: key {key!r} is not an image index") from None
        out[index] = decode_tags(value, f"{path} [{key!r}]")
    return out


def _read_images(paths: Sequence[Path], image_size: int) -> np.ndarray:
    images = []
    for path in tqdm(paths, desc="images", unit="img", leave=False, disable=len(paths) < 500):
        try:
            images.append(read_rgb(path, image_size))
        except ImageReadError as exc:
            raise TagError(str(exc)) from None
    return np.stack(images) if images else np.zeros((0, image_size, image_size, 3), np.uint8)


def read_study_layout(root, image_size: int, report: Callable[[str], None] | None = None) -> TaggedImages:
    """ROOT/images/<index>.<ext> with ROOT/tags.pickle. Every image needs tags (its stem is its index); tags of
    absent images are ignored and counted in a `report` line."""
    root = Path(root)
    folder, tags_path = root / IMAGES_DIR, root / TAGS_FILE
    if not folder.is_dir():
        raise TagError(f"{folder}: no such folder (the study's layout is ROOT/{IMAGES_DIR}/ and ROOT/{TAGS_FILE})")
    tags = read_tags_pickle(tags_path)
    paths = list_images(folder)
    if not paths:
        raise TagError(f"{folder}: no images")
    indices = []
    for path in paths:
        if not path.stem.isdigit():
            raise TagError(f"{path}: image names in the study's layout are their tags.pickle index (e.g. 12.jpg)")
        if int(path.stem) not in tags:
            raise TagError(f"{path}: image without tags (no entry {int(path.stem)} in {tags_path})")
        indices.append(int(path.stem))
    if len(set(indices)) != len(indices):
        raise TagError(f"{folder}: two image files share an index")
    unused = len(set(tags) - set(indices))
    if unused and report is not None:
        report(f"{tags_path}: {unused} tagged index(es) have no image; ignored")
    order = np.argsort(indices, kind="stable")
    paths = [paths[i] for i in order]
    pairs = np.array([tags[int(p.stem)] for p in paths], np.int64).reshape(-1, 2)
    return TaggedImages(_read_images(paths, image_size), pairs[:, 0], pairs[:, 1], [p.name for p in paths])


def read_csv_layout(csv_path, image_size: int) -> TaggedImages:
    """A CSV with header `file,hair,eye`; files relative to the CSV's folder."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise TagError(f"{csv_path}: file not found")
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip().lower() for c in rows[0]] != list(CSV_COLUMNS):
        raise TagError(f"{csv_path}: the first line must be the header {','.join(CSV_COLUMNS)}")
    paths, hair, eye, seen = [], [], [], set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        where = f"{csv_path}:{line}"
        if len(row) != 3:
            raise TagError(f"{where}: expected 3 fields (file,hair,eye), got {len(row)}")
        name = row[0].strip()
        path = csv_path.parent / name
        if Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
            raise TagError(f"{where}: {name!r} is not an image file name")
        if not path.is_file():
            raise TagError(f"{where}: image {path} not found")
        if name in seen:
            raise TagError(f"{where}: {name} is listed twice")
        seen.add(name)
        paths.append(path)
        hair.append(_colour_index(row[1], "hair", where))
        eye.append(_colour_index(row[2], "eye", where))
    if not paths:
        raise TagError(f"{csv_path}: no rows after the header")
    return TaggedImages(_read_images(paths, image_size), np.array(hair, np.int64), np.array(eye, np.int64),
                        [p.name for p in paths])


# ---------------------------------------------------------------------------------------------------- priors
def estimate_priors(data: TaggedImages) -> tuple[np.ndarray, np.ndarray]:
    """The empirical class frequencies (hair [12], eye [10], float64, each summing to 1), as the study's
    hair_prob.npy / eye_prob.npy hold them."""
    if len(data) == 0:
        raise TagError("cannot estimate tag priors from an empty dataset")
    hair = np.bincount(data.hair, minlength=len(HAIR)).astype(np.float64)
    eye = np.bincount(data.eye, minlength=len(EYES)).astype(np.float64)
    return hair / hair.sum(), eye / eye.sum()


def read_prior(path, size: int) -> np.ndarray:
    """A prior .npy: `size` finite non-negative values with a positive sum (normalised to 1)."""
    path = Path(path)
    try:
        prior = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise TagError(f"{path}: not a readable .npy array ({' '.join(str(exc).split())[:120]})") from None
    prior = np.asarray(prior, np.float64).reshape(-1) if prior.dtype.kind in "fiu" else None
    if prior is None or prior.shape != (size,):
        raise TagError(f"{path}: expected {size} probabilities")
    if not (np.all(np.isfinite(prior)) and np.all(prior >= 0) and prior.sum() > 0):
        raise TagError(f"{path}: probabilities must be finite, non-negative and not all zero")
    return prior / prior.sum()


def study_priors(root, data: TaggedImages, report: Callable[[str], None] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """ROOT/hair_prob.npy and ROOT/eye_prob.npy, or both estimated from `data` when either is absent."""
    root = Path(root)
    hair_path, eye_path = root / HAIR_PRIOR_FILE, root / EYE_PRIOR_FILE
    if hair_path.is_file() and eye_path.is_file():
        return read_prior(hair_path, len(HAIR)), read_prior(eye_path, len(EYES))
    if report is not None:
        report(f"{root}: no {HAIR_PRIOR_FILE} / {EYE_PRIOR_FILE}; tag priors estimated from the tags")
    return estimate_priors(data)


def load_tagged(root: str | None, csv_file: str | None, image_size: int,
                report: Callable[[str], None] | None = None) -> tuple[TaggedImages, tuple[np.ndarray, np.ndarray]]:
    """The dataset and its priors from the study's layout (`root`) or a CSV (`csv_file`, priors estimated)."""
    if (root is None) == (csv_file is None):
        raise TagError("give the study's layout folder (root) or a CSV file (csv), not both")
    if csv_file is not None:
        data = read_csv_layout(csv_file, image_size)
        return data, estimate_priors(data)
    data = read_study_layout(root, image_size, report)
    return data, study_priors(root, data, report)


def held_out_split(count: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): a seeded permutation, `fraction` of it held out (at least one each)."""
    if count < 2:
        raise TagError(f"need at least 2 images to hold some out, got {count}")
    order = np.random.default_rng([seed, 7]).permutation(count)
    held = min(count - 1, max(1, int(round(count * fraction))))
    return np.sort(order[held:]), np.sort(order[:held])


# ---------------------------------------------------------------------------------------------------- batches
def sample_tags(rng: np.random.Generator, count: int, hair_prior: np.ndarray, eye_prior: np.ndarray) -> np.ndarray:
    """[count, 22] one-hot rows, hair and eye drawn independently from their priors (`get_random_label`)."""
    return one_hot(rng.choice(len(HAIR), count, p=hair_prior), rng.choice(len(EYES), count, p=eye_prior))


def to_model_input(nhwc_uint8: np.ndarray) -> np.ndarray:
    """uint8 NHWC → float32 NCHW in [-1, 1] (the study's ToTensor + Normalize(0.5, 0.5))."""
    x = np.ascontiguousarray(np.asarray(nhwc_uint8).transpose(0, 3, 1, 2), dtype=np.float32)
    return x / np.float32(127.5) - np.float32(1.0)


class ACGANBatches:
    """Training batches for the ACGAN family (see the module docstring).

    `batch(epoch, step, batch_size)` returns float32 arrays: `real` [B, 3, H, W] in [-1, 1], `real_tags` [B, 22],
    and for the discriminator and the generator update each its own `z_d`/`z_g` [B, z_dim] and
    `fake_tags_d`/`fake_tags_g` [B, 22] (the study draws new z and tags for its G step). The global batch is drawn
    from one generator keyed by (seed, epoch, step) and cut into `shards` contiguous slices.
    """

    def __init__(self, data: TaggedImages, priors: tuple[np.ndarray, np.ndarray], z_dim: int, steps_per_epoch: int,
                 seed: int = 0, shard: int = 0, shards: int = 1):
        if len(data) == 0:
            raise TagError("the tagged dataset is empty")
        if not (isinstance(shards, int) and shards >= 1 and 0 <= shard < shards):
            raise TagError(f"shard must be in [0, shards), got shard={shard}, shards={shards}")
        if steps_per_epoch < 1:
            raise TagError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.data, self.z_dim, self.seed = data, int(z_dim), int(seed)
        self.hair_prior, self.eye_prior = (np.asarray(p, np.float64) for p in priors)
        self._steps, self.shard, self.shards = int(steps_per_epoch), shard, shards

    def steps_per_epoch(self, global_batch: int) -> int:
        return self._steps

    def batch(self, epoch: int, step: int, batch_size: int) -> dict[str, np.ndarray]:
        total = batch_size * self.shards
        rng = np.random.default_rng([self.seed, epoch, step])
        index = rng.integers(0, len(self.data), total)  # with replacement, as the study's Shuffler
        out = {"real": to_model_input(self.data.images[index]), "real_tags": one_hot(self.data.hair[index],
                                                                                       self.data.eye[index])}
        for update in ("d", "g"):
            out[f"z_{update}"] = rng.standard_normal((total, self.z_dim)).astype(np.float32)
            out[f"fake_tags_{update}"] = sample_tags(rng, total, self.hair_prior, self.eye_prior)
        mine = slice(self.shard * batch_size, (self.shard + 1) * batch_size)
        return {k: np.ascontiguousarray(v[mine]) for k, v in out.items()}


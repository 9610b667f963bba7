"""Future-frame training samples from a dataset export (`triples.csv`, see dataset_export.py).

A sample is (current frame, its manga page, optionally the k frames before it) → the frame `stride` raw frames
later. The export already made the hard choices the study got wrong: each row pairs a labelled frame with the
*next* strided frame (not itself), its page comes from the labelling tool's tags by the monotonicity rule
(`TagFile.page_of`, the study's `bisect_left(tags, frame)`), pairs across an excluded range or a scene cut are not
there, and whole episodes are held out as split "val". Here:

- `stride`: raw frames between the input and the target. It must be a multiple m of the export's stride
  (dataset.json); for m > 1 a sample chains m consecutive rows, so it exists only where all m pairs exist (no cut,
  no excluded range, all labelled in between); the page is the current frame's.
- `unroll` = K: the sample also carries the frames 2·stride … K·stride on (`target_2` … `target_K`), for training
  on K-step autoregressive rollouts; only frames with K successors (in pairs that exist) start a sample.
- `context` = k earlier frames, `stride` apart, found by chaining rows backwards. Where the history runs out (the
  start of a shot or episode), the earliest frame found is repeated: a still history, as the runtime's rollouts
  start (runtime/predictor.py `rollout`).
- Pages are read as grey and resized to `page_size` with the runtime's own functions (`page_input`), frames
  scaled to [-1, 1] by `frame_input`, so training sees what `runtime/manga2anime.py` feeds.

Batches are a pure function of (seed, epoch, step, shard): a per-epoch permutation from
`np.random.default_rng([seed, epoch])`, the global batch cut into `shards` interleaved slices. Decoded images are
cached in memory as uint8 (about 200 KB per 256² frame), so each file is decoded once per run.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datasets.manganime.errors import ManganimeError
from runtime.imaging import resize
from runtime.predictor import FRAME, PAGE, frame_input, page_input, previous_names

SPLITS = ("train", "val")
REQUIRED_COLUMNS = ("split", "episode", "page", "raw_frame", "raw_next_frame", "frame_path", "next_path",
                    "page_path")


@dataclass(frozen=True)
class Sample:
    """One training example, as paths relative to the dataset root."""

    episode: str
    raw_frame: int       # video frame number of the current frame
    page: int            # page index within the episode's pages (the tags' numbering)
    frame: str
    target: str          # the frame `stride` raw frames later
    page_path: str
    previous: tuple[str, ...] = ()  # previous_1 (one stride back) … previous_k
    later: tuple[str, ...] = ()     # the frames 2·stride … K·stride on (unroll K)


def read_rows(root: Path) -> list[dict]:
    path = root / "triples.csv"
    if not path.is_file():
        raise ManganimeError(f"{path}: no triples.csv (make one with `preprocess.py dataset --out {root}`)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ManganimeError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    for row in rows:
        try:
            for key in ("page", "raw_frame", "raw_next_frame"):
                row[key] = int(row[key])
        except ValueError:
            raise ManganimeError(f"{path}: row {row} has a non-integer {key}") from None
    return rows


def export_stride(root: Path) -> int:
    path = root / "dataset.json"
    if not path.is_file():
        raise ManganimeError(f"{path}: missing (the export writes it beside triples.csv; it records the stride)")
    stride = json.loads(path.read_text()).get("stride")
    if not isinstance(stride, int) or stride < 1:
        raise ManganimeError(f"{path}: 'stride' must be a positive integer, got {stride!r}")
    return stride


def target_names(unroll: int) -> list[str]:
    """Batch keys of the frames 1 … K strides on: target, target_2 … target_K."""
    return ["target"] + [f"target_{k}" for k in range(2, unroll + 1)]


def build_samples(rows: list[dict], split: str, base_stride: int, stride: int, context: int,
                  unroll: int = 1) -> list[Sample]:
    """The samples of `split` (see the module docstring), in the CSV's order."""
    if stride % base_stride:
        raise ManganimeError(f"stride {stride} is not a multiple of the export's stride {base_stride}")
    hops = stride // base_stride
    by_start = {(r["episode"], r["raw_frame"]): r for r in rows}

    def chain(episode: str, raw: int):
        """The row path of `hops` consecutive pairs from raw frame `raw`, or None where one is missing."""
        path = []
        for _ in range(hops):
            row = by_start.get((episode, raw))
            if row is None:
                return None
            path.append(row)
            raw = row["raw_next_frame"]
        return path

    samples = []
    for row in rows:
        if row["split"] != split:
            continue
        forward = chain(row["episode"], row["raw_frame"])
        later = []
        for k in range(2, unroll + 1):  # the frames 2 … K strides on, each one chain further
            if forward is None:
                break
            step = chain(row["episode"], row["raw_frame"] + (k - 1) * stride)
            if step is None:
                forward = None
                break
            later.append(step[-1]["next_path"])
        if forward is None:
            continue
        history: list[str] = []
        for i in range(1, context + 1):  # back one stride at a time, as long as the pairs in between exist
            back = chain(row["episode"], row["raw_frame"] - i * stride)
            if back is None:
                break
            history.append(back[0]["frame_path"])
        history += [history[-1] if history else row["frame_path"]] * (context - len(history))
        samples.append(Sample(row["episode"], row["raw_frame"], row["page"], row["frame_path"],
                              forward[-1]["next_path"], row["page_path"], tuple(history), tuple(later)))
    return samples


class PredictionTriples:
    """Samples of one split of a dataset export, as float32 NCHW batches for the frame-predictor family.

    Batch keys: `frame`, `page`, `previous_1` … `previous_k` (runtime/predictor.py's port names), `target`, and
    with unroll K > 1 `target_2` … `target_K`. Pages come as `page_channels` (1, or 3 for a network whose page
    port takes RGB: the grey page replicated, as the runtime feeds it).
    """

    def __init__(self, root: str | Path, split: str = "train", stride: int | None = None, context: int = 0,
                 page_size: tuple[int, int] = (64, 64), image_size: int | None = None, size_multiple: int = 1,
                 seed: int = 0, shard: int = 0, shards: int = 1, unroll: int = 1, page_channels: int = 1):
        if split not in SPLITS:
            raise ManganimeError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if context < 0 or unroll < 1:
            raise ManganimeError(f"need context >= 0 and unroll >= 1, got context={context}, unroll={unroll}")
        if page_channels not in (1, 3):
            raise ManganimeError(f"page_channels must be 1 or 3, got {page_channels}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise ManganimeError(f"{self.root}: dataset folder not found")
        rows = read_rows(self.root)
        self.base_stride = export_stride(self.root)
        self.stride = self.base_stride if stride is None else int(stride)
        if self.stride < 1:
            raise ManganimeError(f"stride must be >= 1, got {self.stride}")
        self.split, self.context, self.unroll = split, context, unroll
        self.page_size, self.page_channels = tuple(page_size), page_channels
        self.image_size, self.size_multiple = image_size, size_multiple
        self.seed, self.shard, self.shards = seed, shard, shards
        self.samples = build_samples(rows, split, self.base_stride, self.stride, context, unroll)
        if not self.samples:
            raise ManganimeError(f"{self.root}: no '{split}' samples at stride {self.stride}, unroll {unroll} "
                                 f"({sum(r['split'] == split for r in rows)} '{split}' rows in triples.csv)")
        self._cache: dict[str, np.ndarray] = {}
        self.frame_shape = self._frame(self.samples[0].frame).shape  # read one now: a bad folder fails here

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def episodes(self) -> list[str]:
        return sorted({s.episode for s in self.samples})

    # -- images -----------------------------------------------------------------------------------------------
    def _read(self, relative: str) -> np.ndarray:
        if relative not in self._cache:
            path = self.root / relative
            try:
                with Image.open(path) as image:
                    self._cache[relative] = np.asarray(image.convert("L" if image.mode in ("L", "LA", "I;16")
                                                                     else "RGB"))
            except (OSError, UnidentifiedImageError) as exc:
                raise ManganimeError(f"{path}: cannot read image ({exc})") from None
        return self._cache[relative]

    def _frame(self, relative: str) -> np.ndarray:
        rgb = self._read(relative)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        if self.image_size:
            rgb = resize(rgb, self.image_size, self.image_size)
        h, w = rgb.shape[:2]
        if h % self.size_multiple or w % self.size_multiple:
            raise ManganimeError(f"{self.root / relative}: frames of {w}x{h} are not multiples of the network's "
                                 f"size multiple {self.size_multiple}; set data.image_size")
        return rgb

    def frame_image(self, sample: Sample) -> np.ndarray:
        """The sample's current frame, RGB uint8 as the network sees it (resized to image_size when set)."""
        return self._frame(sample.frame)

    def page_image(self, sample: Sample) -> np.ndarray:
        """The sample's page as stored (grey uint8), before page_input resizes it."""
        return self._read(sample.page_path)

    def arrays(self, indices) -> dict[str, np.ndarray]:
        """The samples at `indices` as a batch dict."""
        chosen = [self.samples[i] for i in indices]
        batch = {FRAME: np.concatenate([frame_input(self._frame(s.frame)) for s in chosen]),
                 PAGE: np.concatenate([page_input(self._read(s.page_path), *self.page_size, self.page_channels)
                                       for s in chosen])}
        for k, name in enumerate(previous_names(self.context)):
            batch[name] = np.concatenate([frame_input(self._frame(s.previous[k])) for s in chosen])
        batch["target"] = np.concatenate([frame_input(self._frame(s.target)) for s in chosen])
        for k, name in enumerate(target_names(self.unroll)[1:]):
            batch[name] = np.concatenate([frame_input(self._frame(s.later[k])) for s in chosen])
        return batch

    # -- the trainer's data protocol --------------------------------------------------------------------------
    def steps_per_epoch(self, global_batch: int) -> int:
        steps = len(self.samples) // global_batch
        if steps < 1:
            raise ManganimeError(f"{len(self.samples)} '{self.split}' samples are fewer than one global batch of "
                                 f"{global_batch}")
        return steps

    def batch(self, epoch: int, step: int, batch_size: int) -> dict[str, np.ndarray]:
        g = batch_size * self.shards
        perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.samples))
        return self.arrays(perm[step * g:(step + 1) * g][self.shard::self.shards])

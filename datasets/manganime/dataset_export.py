"""Training data from labelled episodes: (anime frame, next frame, manga page) triples and a StyleGAN archive.

Fixes relative to the study's data.py: the target is the *next* strided frame (the study used the same frame),
pairs that would jump over an excluded range (or, optionally, a scene cut) are dropped, pages are stored as
images instead of being reshaped into channels, and whole episodes can be held out for validation.

Layout of the output folder:

    frames/<episode>/<raw frame:06d>.png   RGB frames used by the triples
    pages/<manga>/<page file>.png          the greyscale pages used by the triples
    triples.csv                            one row per triple (paths relative to the output folder)
    stylegan.zip or stylegan/              frames for StyleGAN2-ADA (`train.py --data=...`)
    dataset.json                           what was exported, and from where
"""
from __future__ import annotations

import contextlib
import csv
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from datasets.image_io import write_image_atomic
from datasets.manganime.atomic import atomic_path, write_json_atomic
from datasets.manganime.config import load_anime_config
from datasets.manganime.episode import Episode, episode_names, load_episode
from datasets.manganime.errors import ManganimeError
from datasets.manganime.files import require_dir
from datasets.manganime.scene_cuts import CUT_MEASURE, CUT_THRESHOLD, check_cut_settings
from datasets.manganime.similarity import SIMILARITY_MEASURES

CSV_COLUMNS = ("split", "episode", "frame", "next_frame", "page", "raw_frame", "raw_next_frame",
               "frame_path", "next_path", "page_path")


def triple_positions(episode: Episode, stride: int):
    """Yield (frame, next_frame, page) in kept-frame numbers: consecutive strided frames whose first is labelled.

    Pairs whose raw frames are not `stride` apart straddle an exclude range (an intro cut out between them),
    so they are not a frame and its successor and are skipped.
    """
    positions = range(0, len(episode.frames), stride)
    for a, b in zip(positions, positions[1:]):
        page = episode.tags.page_of(a)
        if page is None:
            return  # frames after the last tag are unlabelled, and so is everything later
        if episode.frames.raw_index(b) - episode.frames.raw_index(a) == stride:
            yield a, b, page


def _png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@contextlib.contextmanager
def _zip_sink(out: Path):
    """StyleGAN frames in one zip archive (what stylegan2-ada's dataset_tool produces), written atomically."""
    with atomic_path(out / "stylegan.zip") as tmp:
        # PNG is already compressed: store the entries instead of deflating them again.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            yield lambda name, rgb: archive.writestr(name, _png_bytes(rgb))


@contextlib.contextmanager
def _folder_sink(out: Path):
    """StyleGAN frames as individual PNG files in `stylegan/`."""
    folder = out / "stylegan"
    folder.mkdir(exist_ok=True)
    yield lambda name, rgb: write_image_atomic(folder / name.replace("/", "_"), rgb)


@contextlib.contextmanager
def _no_sink(out: Path):
    yield lambda name, rgb: None


STYLEGAN_SINKS = {"zip": _zip_sink, "folder": _folder_sink, "none": _no_sink}
STYLEGAN_FRAME_CHOICES = ("all", "labelled")


def _prepare_output(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()) and not force:
        raise ManganimeError(f"{out}: output folder is not empty (pass --overwrite to write into it)")
    out.mkdir(parents=True, exist_ok=True)


def export_dataset(anime_dir, manga_root, out, *, stride: int | None = None, val_episodes=(),
                   stylegan: str = "zip", stylegan_frames: str = "all", skip_cuts: bool = False,
                   cut_threshold: float = CUT_THRESHOLD, cut_measure: str = CUT_MEASURE,
                   force: bool = False) -> dict:
    """Export every included episode of `anime_dir`; returns the summary also written to dataset.json.

    stride: take every stride-th kept frame (default: the anime config's `stride`, else 1); a triple pairs
    a strided frame with the next strided frame. val_episodes: episode names whose triples go to split "val".
    stylegan: "zip", "folder" or "none"; stylegan_frames: "all" strided kept frames or only "labelled" ones.
    skip_cuts: also drop pairs whose `cut_measure` similarity is below cut_threshold (a scene change).
    """
    anime_dir, manga_root, out = require_dir(anime_dir), require_dir(manga_root), Path(out)
    if stylegan not in STYLEGAN_SINKS:
        raise ManganimeError(f"--stylegan must be one of {', '.join(STYLEGAN_SINKS)}, got {stylegan!r}")
    if stylegan_frames not in STYLEGAN_FRAME_CHOICES:
        raise ManganimeError(f"--stylegan-frames must be one of {', '.join(STYLEGAN_FRAME_CHOICES)}")
    config = load_anime_config(anime_dir, required=True)
    stride = config.stride() if stride is None else stride
    if stride < 1:
        raise ManganimeError(f"stride must be >= 1, got {stride}")
    check_cut_settings(cut_threshold, cut_measure)
    similarity = SIMILARITY_MEASURES[cut_measure]
    is_cut = (lambda a, b: similarity(a, b) < cut_threshold) if skip_cuts else None
    names = episode_names(anime_dir)
    unknown = sorted(set(val_episodes) - set(names))
    if unknown:
        raise ManganimeError(f"validation episode(s) {', '.join(unknown)} not found in {anime_dir}")
    _prepare_output(out, force)

    rows, summary = [], {"stride": stride, "anime": str(anime_dir), "manga": str(manga_root), "episodes": {},
                         "skip_cuts": {"measure": cut_measure, "threshold": cut_threshold} if skip_cuts else None}
    with STYLEGAN_SINKS[stylegan](out) as add_stylegan_frame:
        for name in names:
            if not config.episode(name).include:
                continue
            episode = load_episode(anime_dir, manga_root, name, config)
            split = "val" if name in val_episodes else "train"
            counts = _export_episode(episode, out, stride, split, rows, add_stylegan_frame, stylegan_frames,
                                     is_cut)
            summary["episodes"][name] = {"split": split, **counts}
    _write_csv(out / "triples.csv", rows)
    summary["triples"] = {split: sum(r["split"] == split for r in rows) for split in ("train", "val")}
    summary["stylegan_frames"] = sum(e["stylegan_frames"] for e in summary["episodes"].values())
    write_json_atomic(out / "dataset.json", summary)
    return summary


def _export_episode(episode: Episode, out: Path, stride: int, split: str, rows: list, add_stylegan_frame,
                    stylegan_frames: str, is_cut) -> dict:
    """Decode the episode's strided frames once, in order, feeding both the triples and the StyleGAN sink."""
    frames_dir = out / "frames" / episode.name
    frames_dir.mkdir(parents=True, exist_ok=True)
    triples_ending_at = {b: (a, page) for a, b, page in triple_positions(episode, stride)}
    written, triples, stylegan_count, cut_pairs = set(), 0, 0, 0
    previous = {}  # {kept index: image} of the previous strided frame, the usual first frame of a triple
    for kept in tqdm(range(0, len(episode.frames), stride), desc=f"episode {episode.name}", unit="frame",
                     leave=False):
        image = episode.frames[kept]
        if stylegan_frames == "all" or episode.tags.page_of(kept) is not None:
            add_stylegan_frame(f"{episode.name}/{episode.frames.raw_index(kept):06d}.png", image)
            stylegan_count += 1
        if kept in triples_ending_at:
            first, page = triples_ending_at[kept]
            first_image = {**previous, kept: image}[first]
            if is_cut is not None and is_cut(first_image, image):
                cut_pairs += 1
            else:
                rows.append(_triple_row(episode, out, split, first, first_image, kept, image, page, written))
                triples += 1
        previous = {kept: image}
    return {"kept_frames": len(episode.frames), "labelled_frames": episode.tags.labelled_frames(),
            "triples": triples, "skipped_at_cuts": cut_pairs, "stylegan_frames": stylegan_count}


def _triple_row(episode: Episode, out: Path, split: str, a: int, a_image, b: int, b_image, page: int,
                written: set) -> dict:
    paths = []
    for kept, image in ((a, a_image), (b, b_image)):
        path = out / "frames" / episode.name / f"{episode.frames.raw_index(kept):06d}.png"
        if kept not in written:  # consecutive triples share a frame: write it once
            write_image_atomic(path, image)
            written.add(kept)
        paths.append(path)
    paths.append(_copy_page(episode, out, page))
    return {"split": split, "episode": episode.name, "frame": a, "next_frame": b, "page": page,
            "raw_frame": episode.frames.raw_index(a), "raw_next_frame": episode.frames.raw_index(b),
            **{key: p.relative_to(out).as_posix() for key, p in zip(("frame_path", "next_path", "page_path"),
                                                                     paths)}}


def _copy_page(episode: Episode, out: Path, page: int) -> Path:
    source = episode.pages[page]
    target = out / "pages" / episode.config.manga / source.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return target


def _write_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

"""Procedural animation frames for the bundled StyleGAN2 demo and its tests (nothing is downloaded).

    python datasets/demo_frames.py --output data/demo_frames.zip [--count 512 --size 32]

Each frame is one moment of a short cartoon-like animation: a two-colour sky-to-ground gradient whose colours
drift slowly, a sun (disc) moving along an arc, and a hill (a darker band with a sinusoidal ridge) whose phase
scrolls — flat colours with clean edges, as anime frames have, and a small enough variety for a tiny network to
learn in minutes on a CPU. Frames are rendered at 4× and area-downsampled (anti-aliased), stored as PNG members
`scene<k>/<frame:05d>.png` of a zip, the layout `datasets/manganime/dataset_export.py` writes; the same
arguments give byte-identical files.
"""
from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python datasets/demo_frames.py`

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from runtime.atomic import atomic_path  # noqa: E402
from runtime.errors import UserError, run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402

SCENES = (  # (sky top, sky bottom, ground, sun) colours, RGB 0..1
    ((0.20, 0.45, 0.85), (0.75, 0.85, 0.95), (0.25, 0.55, 0.25), (1.00, 0.85, 0.30)),
    ((0.55, 0.25, 0.55), (0.98, 0.60, 0.40), (0.30, 0.20, 0.35), (1.00, 0.95, 0.70)),
    ((0.05, 0.08, 0.25), (0.20, 0.25, 0.50), (0.10, 0.12, 0.15), (0.95, 0.95, 0.85)),
)
SUPERSAMPLE = 4


def render(index: int, count: int, size: int) -> np.ndarray:
    """Frame `index` of `count` (split evenly over the scenes): HxWx3 uint8."""
    per_scene = max(1, count // len(SCENES))
    scene = min(index // per_scene, len(SCENES) - 1)
    t = (index - scene * per_scene) / per_scene  # 0..1 through the scene
    top, bottom, ground, sun = (np.array(c) for c in SCENES[scene])
    s = size * SUPERSAMPLE
    y, x = (np.mgrid[0:s, 0:s] + 0.5) / s
    drift = 0.15 * np.sin(2 * np.pi * t)
    img = (top + drift * 0.3) * (1 - y[..., None]) + (bottom - drift * 0.2) * y[..., None]
    sx, sy = 0.15 + 0.7 * t, 0.55 - 0.35 * np.sin(np.pi * t)
    disc = (x - sx) ** 2 + (y - sy) ** 2 < 0.12 ** 2
    img[disc] = sun
    ridge = 0.68 + 0.07 * np.sin(2 * np.pi * (1.5 * x + t))
    img[y > ridge] = ground * (0.85 + 0.15 * np.cos(2 * np.pi * (x - t)))[y > ridge][:, None]
    big = (np.clip(img, 0, 1) * 255).astype(np.float32)
    small = big.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def member_name(index: int, count: int) -> str:
    per_scene = max(1, count // len(SCENES))
    return f"scene{min(index // per_scene, len(SCENES) - 1)}/{index:05d}.png"


def write_frames(output: str | Path, count: int = 512, size: int = 32) -> Path:
    """Write the zip atomically; returns its path."""
    if count < 1 or size < 4:
        raise UserError(f"--count must be >= 1 and --size >= 4, got {count} and {size}")
    output = Path(output)
    with atomic_path(output, make_parents=True) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for i in range(count):
                buffer = io.BytesIO()
                Image.fromarray(render(i, count, size)).save(buffer, format="PNG")
                info = zipfile.ZipInfo(member_name(i, count), date_time=(2020, 1, 1, 0, 0, 0))
                archive.writestr(info, buffer.getvalue())
    return output


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", required=True, help="the .zip to write")
    p.add_argument("--count", type=int, default=512, help="number of frames (default 512)")
    p.add_argument("--size", type=int, default=32, help="square side in pixels (default 32)")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    if not args.output.endswith(".zip"):
        raise UserError(f"--output must end in .zip, got {args.output}")
    refuse_existing([Path(args.output)], args.overwrite)
    print(f"wrote {write_frames(args.output, args.count, args.size)}")
    return 0


if __name__ == "__main__":
    run_main(main)

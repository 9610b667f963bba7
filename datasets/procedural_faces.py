"""Procedural tagged anime-style faces: drawn faces whose hair and eye colours follow their tags.

No face dataset can be downloaded here, so tests and the bundled ACGAN demo train on these. Each face is drawn
at 4x its size with Pillow and downsampled (smooth edges): a two-colour background gradient of low saturation
(so it never competes with the hair colour), back hair (short or long), a skin-tone face, a fringe of spikes,
two eyes (white, an iris in the eye colour, a dark pupil, a highlight) and a mouth. Pose (tilt, a sideways turn
that shifts the features), size, position, skin tone, hair style and colour shade vary per image. Image `i` of
seed `s` depends on (s, i) only, so datasets of different sizes share their first images.

    python datasets/procedural_faces.py --output data/faces --count 4000 --size 64 [--seed 0] [--overwrite]

writes the study's layout: ROOT/images/<i>.png, ROOT/tags.pickle ({i: 22-d tensor}, written as torch would
pickle it, without needing torch), ROOT/hair_prob.npy, ROOT/eye_prob.npy, plus ROOT/tags.csv (`file,hair,eye`).
"""
from __future__ import annotations

import argparse
import colorsys
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python datasets/procedural_faces.py`

from datasets.acgan_tags import (CSV_COLUMNS, EYE_PRIOR_FILE, EYES, HAIR, HAIR_PRIOR_FILE, IMAGES_DIR,  # noqa: E402
                                 TAGS_FILE, TaggedImages, estimate_priors)
from datasets.torch_pickle import dumps_torch_pickle  # noqa: E402
from runtime.atomic import write_bytes_atomic, write_text_atomic  # noqa: E402
from runtime.errors import UserError, run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402

# One representative sRGB colour per tag; each face jitters it (shade and per-channel noise), so the colours
# stay told apart: the nearest pair (orange/brown hair, aqua/blue eyes) differs by > 60 levels in some channel.
HAIR_RGB = {"orange": (246, 142, 38), "white": (242, 242, 246), "aqua": (64, 222, 216), "gray": (138, 138, 148),
            "green": (58, 168, 62), "red": (206, 34, 42), "purple": (128, 58, 188), "pink": (250, 152, 204),
            "blue": (38, 78, 218), "black": (32, 30, 38), "brown": (118, 68, 34), "blonde": (246, 222, 118)}
EYE_RGB = {"black": (24, 22, 26), "orange": (244, 138, 28), "pink": (246, 128, 192), "yellow": (240, 222, 40),
           "aqua": (48, 220, 222), "purple": (140, 58, 202), "green": (38, 170, 58), "brown": (124, 74, 34),
           "red": (216, 28, 34), "blue": (38, 78, 232)}
SKIN_RGB = ((255, 228, 206), (250, 214, 186), (238, 196, 164), (255, 236, 222))
SUPERSAMPLE = 4


class FacesError(UserError):
    """The procedural dataset cannot be written as asked."""


def _jitter(rgb, rng: np.random.Generator, shade: float = 0.12, noise: float = 10.0) -> tuple[int, int, int]:
    """The colour scaled by a random shade factor and moved by a little per-channel noise."""
    factor = 1.0 + rng.uniform(-shade, shade)
    values = np.asarray(rgb, np.float64) * factor + rng.normal(0.0, noise, 3)
    return tuple(int(v) for v in np.clip(np.rint(values), 0, 255))


def _background(rng: np.random.Generator, side: int) -> Image.Image:
    """A vertical gradient between two colours of saturation < 0.25 (hue, lightness random)."""
    ends = []
    for _ in range(2):
        r, g, b = colorsys.hls_to_rgb(rng.uniform(), rng.uniform(0.35, 0.92), rng.uniform(0.0, 0.25))
        ends.append(np.array([r, g, b]) * 255)
    t = np.linspace(0.0, 1.0, side)[:, None, None]
    rows = (1 - t) * ends[0] + t * ends[1]
    return Image.fromarray(np.repeat(rows, side, axis=1).astype(np.uint8), "RGB")


def _ellipse(draw: ImageDraw.ImageDraw, cx, cy, rx, ry, fill) -> None:
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)


def draw_face(hair: int, eye: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One face with hair class `hair` and eye class `eye` as uint8 [size, size, 3]."""
    s = size * SUPERSAMPLE
    canvas = _background(rng, s)
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    hair_rgb = _jitter(HAIR_RGB[HAIR[hair]], rng) + (255,)
    eye_rgb = _jitter(EYE_RGB[EYES[eye]], rng, shade=0.08, noise=8.0) + (255,)
    skin = _jitter(SKIN_RGB[int(rng.integers(len(SKIN_RGB)))], rng, shade=0.04, noise=4.0) + (255,)

    scale = rng.uniform(0.78, 1.0) * s
    cx, cy = s / 2 + rng.uniform(-0.07, 0.07) * s, s / 2 + rng.uniform(-0.05, 0.07) * s
    face_rx, face_ry = 0.26 * scale, 0.30 * scale
    turn = rng.uniform(-1.0, 1.0)  # sideways turn: the features slide toward one side of the face

    # back hair: a large ellipse, sometimes continued down to the shoulders
    _ellipse(draw, cx, cy - 0.06 * scale, 0.38 * scale, 0.38 * scale, hair_rgb)
    if rng.uniform() < 0.5:
        draw.rectangle((cx - 0.38 * scale, cy - 0.06 * scale, cx + 0.38 * scale, cy + 0.45 * scale), fill=hair_rgb)
    _ellipse(draw, cx, cy + 0.02 * scale, face_rx, face_ry, skin)
    # fringe: a cap over the forehead with a row of spikes hanging from it
    top = cy - face_ry * 1.05
    draw.chord((cx - 0.36 * scale, top - 0.2 * scale, cx + 0.36 * scale, top + 0.42 * scale), 180, 360,
               fill=hair_rgb)
    spikes = int(rng.integers(3, 7))
    left, right, base = cx - 0.33 * scale, cx + 0.33 * scale, top + 0.10 * scale
    width = (right - left) / spikes
    for k in range(spikes):
        x0 = left + k * width
        depth = rng.uniform(0.10, 0.22) * scale
        draw.polygon([(x0, base), (x0 + width, base), (x0 + width * rng.uniform(0.3, 0.7), base + depth)],
                     fill=hair_rgb)

    # eyes: white, iris, pupil, highlight; slid sideways by the turn
    ex = 0.11 * scale
    eye_rx, eye_ry = rng.uniform(0.055, 0.075) * scale, rng.uniform(0.07, 0.095) * scale
    ey = cy + rng.uniform(0.0, 0.05) * scale
    shift = 0.05 * scale * turn
    for side in (-1, 1):
        x = cx + shift + side * ex * (1 - 0.25 * turn * side)
        _ellipse(draw, x, ey, eye_rx, eye_ry, (255, 255, 255, 255))
        _ellipse(draw, x, ey + 0.1 * eye_ry, eye_rx * 0.78, eye_ry * 0.82, eye_rgb)
        _ellipse(draw, x, ey + 0.15 * eye_ry, eye_rx * 0.32, eye_ry * 0.36, (20, 16, 22, 255))
        _ellipse(draw, x - 0.3 * eye_rx, ey - 0.25 * eye_ry, eye_rx * 0.2, eye_rx * 0.2, (255, 255, 255, 255))
        draw.line((x - eye_rx, ey - eye_ry * 1.05, x + eye_rx, ey - eye_ry * 1.05), fill=(40, 30, 30, 255),
                  width=max(1, int(0.012 * scale)))
    mouth_y = cy + 0.19 * scale
    mw = rng.uniform(0.03, 0.06) * scale
    draw.arc((cx + shift - mw, mouth_y - mw * 0.6, cx + shift + mw, mouth_y + mw * 0.6), 20, 160,
             fill=(150, 60, 60, 255), width=max(1, int(0.012 * scale)))

    layer = layer.rotate(float(rng.uniform(-15.0, 15.0)), resample=Image.BICUBIC, center=(cx, cy))
    canvas.paste(layer, (0, 0), layer)
    return np.asarray(canvas.resize((size, size), Image.BOX), np.uint8)


def make_faces(count: int, size: int = 64, seed: int = 0, first: int = 0) -> TaggedImages:
    """Faces `first` .. `first + count - 1` of `seed`, tags uniform over the 12 hair and 10 eye colours."""
    if count < 1 or size < 8:
        raise FacesError(f"need count >= 1 and size >= 8, got count={count}, size={size}")
    images, hair, eye = [], [], []
    for index in range(first, first + count):
        rng = np.random.default_rng([seed, index])
        h, e = int(rng.integers(len(HAIR))), int(rng.integers(len(EYES)))
        images.append(draw_face(h, e, size, rng))
        hair.append(h)
        eye.append(e)
    return TaggedImages(np.stack(images), np.array(hair, np.int64), np.array(eye, np.int64),
                        [f"{i}.png" for i in range(first, first + count)])


def layout_files(root: Path, count: int) -> list[Path]:
    """Every file `write_study_layout` writes under `root`."""
    return ([root / IMAGES_DIR / f"{i}.png" for i in range(count)]
            + [root / TAGS_FILE, root / HAIR_PRIOR_FILE, root / EYE_PRIOR_FILE, root / "tags.csv"])


def write_study_layout(root, data: TaggedImages) -> Path:
    """`data` as ROOT/images/<i>.png, tags.pickle, hair_prob.npy, eye_prob.npy and tags.csv, each atomically."""
    import io

    root = Path(root)
    (root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(data.images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        write_bytes_atomic(root / IMAGES_DIR / f"{i}.png", buffer.getvalue())
    tags = data.tags
    write_bytes_atomic(root / TAGS_FILE, dumps_torch_pickle({i: tags[i] for i in range(len(data))}))
    hair_prior, eye_prior = estimate_priors(data)
    for name, prior in ((HAIR_PRIOR_FILE, hair_prior), (EYE_PRIOR_FILE, eye_prior)):
        buffer = io.BytesIO()
        np.save(buffer, prior)
        write_bytes_atomic(root / name, buffer.getvalue())
    lines = [",".join(CSV_COLUMNS)] + [f"{IMAGES_DIR}/{i}.png,{HAIR[h]},{EYES[e]}"
                                       for i, (h, e) in enumerate(zip(data.hair, data.eye))]
    write_text_atomic(root / "tags.csv", "\n".join(lines) + "\n")
    return root


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", required=True, type=Path, help="dataset folder to write (the study's layout)")
    p.add_argument("--count", type=int, default=4000, help="number of faces (default 4000)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed; face i depends on (seed, i) only (default 0)")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    if args.count < 1 or args.size < 8:
        raise FacesError(f"--count must be >= 1 and --size >= 8, got {args.count} and {args.size}")
    refuse_existing(layout_files(args.output, args.count), args.overwrite)
    from tqdm import tqdm

    parts = [make_faces(min(500, args.count - start), args.size, args.seed, start)
             for start in tqdm(range(0, args.count, 500), desc="faces", unit="x500")]
    data = TaggedImages(np.concatenate([d.images for d in parts]), np.concatenate([d.hair for d in parts]),
                        np.concatenate([d.eye for d in parts]), [n for d in parts for n in d.names])
    write_study_layout(args.output, data)
    print(f"wrote {args.count} faces ({args.size} px) to {args.output}")
    return 0


if __name__ == "__main__":
    run_main(main)

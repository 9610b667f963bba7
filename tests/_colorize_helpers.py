"""Synthetic colorization data for the tests: colour pages whose colours are a fixed function of their luma, so a
colorizer can learn them from the grey page in a few hundred steps, and held-out pages follow the same rule."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Paper, ink and four tints whose BT.601 luma lie far apart (246, 21, 63, 103, 147, 211), so the grey page tells
# them apart and a small colorizer learns the map from grey to colour quickly.
PALETTE = np.array([[250, 246, 236], [20, 20, 40], [30, 50, 220], [230, 50, 40], [70, 200, 80], [250, 220, 60]],
                   np.uint8)


def colour_page(rng: np.random.Generator, size: int) -> np.ndarray:
    """A page of random ellipses and bars filled with palette colours, outlined in ink."""
    image = Image.new("RGB", (size, size), tuple(int(v) for v in PALETTE[0]))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 8))):
        x0, y0 = rng.integers(0, size - 8, 2)
        x1, y1 = x0 + rng.integers(6, size // 2 + 6), y0 + rng.integers(6, size // 2 + 6)
        colour = tuple(int(v) for v in PALETTE[int(rng.integers(2, len(PALETTE)))])
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([int(x0), int(y0), int(x1), int(y1)], fill=colour, outline=tuple(int(v) for v in PALETTE[1]), width=1)
    return np.asarray(image)


def write_pairs(root: Path, count: int, size: int = 32, seed: int = 0, a_dir: str = "A", b_dir: str = "B",
                start: int = 0) -> Path:
    """ROOT/A/pNNN.png (grey = Pillow luma) and ROOT/B/pNNN.png (colour)."""
    from runtime.imaging import luma8

    rng = np.random.default_rng(seed)
    (root / a_dir).mkdir(parents=True, exist_ok=True)
    (root / b_dir).mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        page = colour_page(rng, size)
        Image.fromarray(luma8(page), "L").save(root / a_dir / f"p{i:03d}.png")
        Image.fromarray(page, "RGB").save(root / b_dir / f"p{i:03d}.png")
    return root

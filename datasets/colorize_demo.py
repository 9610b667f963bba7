"""The bundled colorization demo's inputs, made offline from scikit-image's colour photos (nothing can be
downloaded here): random crops to train on (`write_demo_crops`, then datasets/colorize_pairs.py makes the grey
halves) and the demo page (`write_demo_page`): the grey version of a photo that no crop comes from."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from datasets.demo_style import DemoDataError, square_crop
from datasets.image_io import ImageReadError, read_rgb, write_image_atomic
from runtime.imaging import fit_max_side, luma8

# The colour photos and the crop rule the bundled demo_pix2pix.onnx was trained on. Kept here, not taken from
# datasets/demo_style.py: that module's sources and crops serve the AnimeGANv2 demo style and changed with it
# (issue 18), and the colorization demo's data must stay what `build_demo.py pix2pix` reproduces.
SOURCE_FILES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                "motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png")
DEMO_PAGE_SOURCE = "coffee.png"  # held out of training
LEFT_OUT = frozenset({DEMO_PAGE_SOURCE, "hubble_deep_field.jpg"})  # the deep field is nearly black


def write_demo_crops(folder: Path, count: int = 240, size: int = 160, seed: int = 0) -> int:
    """`count` random square crops (35-100 % of the short side, mirrored at random) of the training photos."""
    from skimage import data as skdata

    sources = [read_rgb(Path(skdata.data_dir) / name) for name in _training_names()]
    if not sources:
        raise DemoDataError(f"no colour photos found in {skdata.data_dir}")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        write_image_atomic(folder / f"{i:04d}.png", random_crop(rng, sources[int(rng.integers(len(sources)))], size))
    return count


def random_crop(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    """A random square crop covering 35-100 % of the short side, randomly mirrored, resized to size x size."""
    return square_crop(rng, image, int(rng.uniform(0.35, 1.0) * min(image.shape[:2])), size)


def _training_names() -> list[str]:
    from skimage import data as skdata

    names = []
    for name in SOURCE_FILES:
        if name in LEFT_OUT:
            continue
        try:
            read_rgb(Path(skdata.data_dir) / name)
            names.append(name)
        except ImageReadError:
            continue
    return names


def _demo_source(longer_side: int) -> np.ndarray:
    """The held-out photo, its longer side `longer_side`: the colour truth of the demo page."""
    from skimage import data as skdata

    rgb = read_rgb(Path(skdata.data_dir) / DEMO_PAGE_SOURCE)
    h, w = fit_max_side(rgb.shape[0], rgb.shape[1], longer_side)
    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.LANCZOS))


def write_demo_page(path: Path, longer_side: int = 480) -> Path:
    """The grey demo page: the held-out photo's luma, its longer side `longer_side`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(path, luma8(_demo_source(longer_side)))
    return path


def write_demo_pairs(folder: Path, longer_side: int = 480) -> Path:
    """The held-out pair `runtime/colorize_eval.py` scores by default: folder/A the demo page, folder/B the colour
    photo it was made from (the same name, as datasets/colorize_pairs.py lays pairs out)."""
    name = Path(DEMO_PAGE_SOURCE).with_suffix(".png").name
    write_demo_page(folder / "A" / name, longer_side)
    (folder / "B").mkdir(parents=True, exist_ok=True)
    write_image_atomic(folder / "B" / name, _demo_source(longer_side))
    return folder

"""The demo style's own properties (datasets/demo_style.cartoonize), measured on real photos 256 px wide.

The measures are in tests/_style_measures.py; the values quoted were measured on these photos with the filter as
committed, and "old" is the previous filter (bilateral smoothing, 10 median-cut RGB colours, thick black lines).
"""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from datasets.demo_style import SOURCE_FILES, cartoonize, soft_quantise
from tests._style_measures import distinct_colours, hue_error, luma, outline_share, real_photo

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "grace_hopper.jpg"]


@pytest.fixture(scope="module")
def pairs():
    photos = [real_photo(name) for name in PHOTOS]
    return [(photo, cartoonize(photo)) for photo in photos]


def test_flat_regions_need_fewer_colours(pairs):
    """Distinct colours, filter / photo: 0.53, 0.47, 0.58, 0.63, 0.60, 0.46 (the old filter: 0.001, ten colours)."""
    for name, (photo, cartoon) in zip(PHOTOS, pairs):
        assert distinct_colours(cartoon) < 0.7 * distinct_colours(photo), name


def test_each_region_keeps_its_hue(pairs):
    """Mean circular hue error against the photo on pixels of saturation > 0.3: 5.7, 2.4, 1.6, 7.6, 3.7, 7.8 degrees,
    mean 4.8. The old filter's shared RGB palette gave 18.5, 3.2, 3.5, 13.0, 6.9, 19.5 (mean 10.8): the
    astronaut's flag and Grace Hopper's blue backdrop fell into browns and greys."""
    errors = [hue_error(photo, cartoon) for photo, cartoon in pairs]
    assert max(errors) < 10 and np.mean(errors) < 6, np.round(errors, 1)


def test_thin_dark_outlines_cover_a_few_percent(pairs):
    """Outline share (luma below half the 7x7 median): 8.2, 5.3, 2.5, 2.0, 11.2, 6.6 % (mean 6.0 %); the photos
    themselves 0.3-4.4 % (mean 1.7 %). Enough to read as line art, far from the old filter's inked look."""
    shares = np.array([outline_share(cartoon) for _, cartoon in pairs])
    photo_shares = np.array([outline_share(photo) for photo, _ in pairs])
    assert 0.01 < shares.min() and shares.max() < 0.15, np.round(shares, 3)
    assert 0.03 < shares.mean() < 0.10
    assert shares.mean() > 2.5 * photo_shares.mean()


def test_brightness_is_kept(pairs):
    """Mean luma, filter / photo: 0.98, 0.97, 1.02, 0.99, 0.95, 1.01 (the old filter: 0.72-0.81, darker
    everywhere)."""
    for name, (photo, cartoon) in zip(PHOTOS, pairs):
        assert abs(luma(cartoon).mean() / luma(photo).mean() - 1) < 0.08, name


def test_tones_are_flat_with_soft_steps():
    """soft_quantise is nearly flat inside a bin, at the bin's centre, and rises continuously across its border."""
    x = np.linspace(0, 100, 2001, dtype=np.float32)  # 0.05 apart
    q = soft_quantise(x, 20.0, 16.0)
    assert np.all(np.diff(q) >= -1e-4)                    # monotone
    assert np.diff(q).max() < 16 / 4 * 0.05 + 1e-3        # no jump: the slope is at most sharpness / 4
    inside = np.abs(x % 20 - 10) < 5                       # a quarter bin or more from the borders 0, 20, 40...
    np.testing.assert_allclose(q[inside], np.floor(x[inside] / 20) * 20 + 10, atol=0.6)


def test_filter_contract_and_determinism():
    photo = real_photo("chelsea.png", width=96)
    cartoon = cartoonize(photo)
    assert cartoon.shape == photo.shape and cartoon.dtype == np.uint8
    np.testing.assert_array_equal(cartoon, cartoonize(photo.copy()))
    tiny = real_photo("coffee.png", width=32)  # the tests' 32 px datasets go through the same filter
    assert cartoonize(tiny).shape == tiny.shape
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        cartoonize(photo.astype(np.float32))


def test_the_held_out_photos_are_not_training_sources():
    """The bundled model is measured on chelsea, rocket, retina and grace_hopper (tests/test_runtime_demo.py): none
    of them may feed the demo dataset."""
    assert not {"chelsea.png", "rocket.jpg", "retina.jpg", "grace_hopper.jpg"} & set(SOURCE_FILES)


def test_preview_command_writes_a_grid_of_whole_photos(tmp_path):
    out = tmp_path / "preview.jpg"
    done = subprocess.run([sys.executable, "datasets/demo_style.py", "--preview", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    grid = np.asarray(Image.open(out))
    assert grid.shape[1] == 4 * 224 and grid.shape[0] >= 3 * 100  # 2 (photo | cartoon) pairs a line, 3 lines
    assert out.stat().st_size < 200_000
    nothing = subprocess.run([sys.executable, "datasets/demo_style.py"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert nothing.returncode == 2 and "--preview" in nothing.stderr


def test_hue_turn_keeps_lightness_and_turns_hue():
    """rotate_hue (the dataset's colour augmentation) turns the hues and keeps the picture's CIELAB lightness
    (colours the turn takes out of the sRGB gamut lose chroma, so turning back does not restore them)."""
    from datasets.demo_style import rotate_hue

    def lightness(rgb):  # CIELAB L, 0-100 (BT.601 luma would change with hue at equal lightness)
        return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 0]

    photo = real_photo("coffee.png", width=128)
    turned = rotate_hue(photo, 120.0)
    assert abs(lightness(turned).mean() - lightness(photo).mean()) < 2.0
    assert hue_error(photo, turned) > 60  # the wood and the cup are no longer red-brown
    np.testing.assert_allclose(rotate_hue(photo, 0.0).astype(int), photo, atol=1)
    np.testing.assert_array_equal(turned, rotate_hue(photo, 120.0))  # deterministic

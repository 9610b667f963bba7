"""Image loading (EXIF, greyscale, RGBA, palette, 16-bit), padding, brightness and atomic saving."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from runtime.errors import ConversionError
from runtime.imaging import (MIN_SIDE, fit_max_side, load_image, match_brightness, padded_size, reflect_pad,
                             save_image)
from tests._runtime_helpers import photo


def test_exif_orientation_is_applied(tmp_path):
    image = photo(40, 60)  # landscape pixels
    exif = Image.Exif()
    exif[0x0112] = 6       # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(image).save(path, exif=exif.tobytes(), quality=98)
    loaded = load_image(path).rgb
    assert loaded.shape == (60, 40, 3)
    expected = np.rot90(image, -1)  # clockwise
    assert np.abs(loaded.astype(int) - expected).mean() < 4
    assert np.abs(loaded.astype(int) - np.rot90(image, 1)).mean() > 20  # and not the other way round


def test_greyscale_is_replicated_to_rgb(tmp_path):
    grey = photo(20, 30)[..., 1]
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    loaded = load_image(tmp_path / "grey.png")
    assert loaded.rgb.shape == (20, 30, 3) and loaded.alpha is None
    for c in range(3):
        np.testing.assert_array_equal(loaded.rgb[..., c], grey)


def test_rgba_alpha_is_composited_on_white_and_kept(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :6, 3] = 255   # left half opaque red
    rgba[:, 6:, 3] = 0     # right half transparent (its colour must not matter)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(loaded.rgb[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(loaded.rgb[0, 11], [255, 255, 255])
    np.testing.assert_array_equal(loaded.alpha, rgba[..., 3])
    save_image(tmp_path / "out.png", loaded.rgb, loaded.alpha)
    assert Image.open(tmp_path / "out.png").mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png"))[..., 3], rgba[..., 3])
    save_image(tmp_path / "out.jpg", loaded.rgb, loaded.alpha)  # JPEG cannot keep alpha: dropped, not an error
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"


def test_palette_with_transparency(tmp_path):
    image = Image.new("P", (8, 8), 0)
    image.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    loaded = load_image(tmp_path / "p.png")
    assert loaded.alpha is not None and loaded.alpha.max() == 0
    assert (loaded.rgb == 255).all()


def test_16bit_greyscale_and_rgb(tmp_path):
    grey16 = (np.linspace(0, 65535, 24 * 16).reshape(16, 24)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    loaded = load_image(tmp_path / "g16.png").rgb
    assert loaded.dtype == np.uint8 and loaded.shape == (16, 24, 3)
    assert np.abs(loaded[..., 0].astype(int) - np.rint(grey16 / 257.0)).max() <= 1
    assert loaded.min() == 0 and loaded.max() == 255

    rgb16 = np.zeros((16, 24, 3), np.uint16)
    rgb16[..., 0] = 65535            # red in RGB order
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])  # cv2 writes BGR
    loaded = load_image(tmp_path / "c16.png").rgb
    np.testing.assert_array_equal(loaded[0, 0], [255, 0, 0])


@pytest.mark.parametrize("maker, message", [
    (lambda p: None, "input not found"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "cannot read image"),
    (lambda p: p.write_bytes(b""), "cannot read image"),
])
def test_missing_and_corrupt_images(tmp_path, maker, message):
    path = tmp_path / "bad.png"
    maker(path)
    with pytest.raises(ConversionError, match=message):
        load_image(path)


def test_truncated_jpeg_is_an_error(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(photo(64, 64)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="truncated"):
        load_image(path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "clip.gif"
    Image.fromarray(photo(8, 8)).save(path)
    with pytest.raises(ConversionError, match="unsupported image type"):
        load_image(path)


@pytest.mark.parametrize("h, w, m", [(37, 53, 4), (64, 64, 8), (1, 1, 4), (100, 33, 16)])
def test_padding_reaches_the_multiple_and_crops_back(h, w, m):
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ph, pw = padded_size(h, w, m)
    assert ph % m == 0 and pw % m == 0 and ph >= max(h, MIN_SIDE) and pw >= max(w, MIN_SIDE)
    assert ph - max(h, MIN_SIDE) < m and pw - max(w, MIN_SIDE) < m
    padded = reflect_pad(image, ph, pw)
    assert padded.shape == (ph, pw, 3)
    np.testing.assert_array_equal(padded[:h, :w], image)
    if h > 2 and ph > h:  # reflection, not zeros: the first padded row mirrors row h-2
        np.testing.assert_array_equal(padded[h, :w], image[h - 2])


def test_fit_max_side():
    assert fit_max_side(400, 300, None) == (400, 300)
    assert fit_max_side(400, 300, 500) == (400, 300)
    assert fit_max_side(400, 300, 200) == (200, 150)


def test_match_brightness_moves_mean_luma_to_the_source():
    source = photo(32, 32)
    dark = (source * 0.5).astype(np.uint8)
    fixed = match_brightness(source, dark)
    luma = np.array([0.299, 0.587, 0.114])
    assert abs((fixed @ luma).mean() - (source @ luma).mean()) < 2.0
    assert abs((dark @ luma).mean() - (source @ luma).mean()) > 20


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "out.png"
    save_image(target, photo(16, 16))
    assert target.is_file() and os.listdir(target.parent) == ["out.png"]
    assert (target.stat().st_mode & 0o777) != 0o600  # not mkstemp's private mode
    with pytest.raises(ConversionError, match="unsupported"):
        save_image(tmp_path / "out.xyz", photo(16, 16))
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(ConversionError, match="cannot create output folder"):
        save_image(tmp_path / "blocker" / "x.png", photo(16, 16))

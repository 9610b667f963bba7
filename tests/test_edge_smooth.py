"""Edge smoothing vs a per-pixel loop written like the official AnimeGANv2 tool, and its CLI."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from datasets.edge_smooth import edge_mask, main, smooth_edges
from datasets.image_io import read_rgb, write_image_atomic
from runtime.errors import run_main

ROOT = Path(__file__).resolve().parents[1]


def cli(argv) -> int:
    """The exit status of `python datasets/edge_smooth.py ARGV`, in process."""
    with pytest.raises(SystemExit) as exc:
        run_main(main, argv)
    return exc.value.code


def official_loop(rgb, rounding):
    """Straight port of AnimeGANv2 tools/edge_smooth.py's inner loop (BGR, np.pad 'reflect', per-pixel sums).

    The official code stores the float sum into a uint8 array, i.e. truncates; `rounding=True` rounds instead.
    """
    bgr = rgb[:, :, ::-1].copy()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    kernel_size = 5
    kernel = np.ones((kernel_size, kernel_size), np.uint8)
    gauss = cv2.getGaussianKernel(kernel_size, 0)
    gauss = gauss * gauss.transpose(1, 0)
    pad_img = np.pad(bgr, ((2, 2), (2, 2), (0, 0)), mode="reflect")
    edges = cv2.Canny(gray, 100, 200)
    dilation = cv2.dilate(edges, kernel)
    gauss_img = np.copy(bgr)
    idx = np.where(dilation != 0)
    for i in range(np.sum(dilation != 0)):
        for c in range(3):
            v = np.sum(np.multiply(pad_img[idx[0][i]:idx[0][i] + kernel_size, idx[1][i]:idx[1][i] + kernel_size, c],
                                   gauss))
            gauss_img[idx[0][i], idx[1][i], c] = np.rint(v) if rounding else v
    return gauss_img[:, :, ::-1]


def make_test_images():
    rng = np.random.default_rng(0)
    shapes = np.full((40, 56, 3), 200, np.uint8)  # sharp shapes: many edges, incl. at the image border
    cv2.rectangle(shapes, (3, 0), (30, 20), (20, 90, 160), -1)
    cv2.circle(shapes, (45, 30), 12, (250, 30, 30), -1)
    cv2.line(shapes, (0, 39), (55, 5), (0, 0, 0), 2)
    photo = cv2.resize(skdata.astronaut(), (48, 48), interpolation=cv2.INTER_AREA)
    noise = rng.integers(0, 256, (32, 33, 3), dtype=np.uint8)
    noise[8:26, 9:27] = 128  # a flat patch whose inside is away from every edge
    return {"shapes": shapes, "photo": photo, "noise": noise}


@pytest.mark.parametrize("name", ["shapes", "photo", "noise"])
def test_matches_official_loop(name):
    img = make_test_images()[name]
    out = smooth_edges(img)
    mask = edge_mask(img)
    assert mask.any() and not mask.all()
    assert out.dtype == np.uint8 and out.shape == img.shape
    # Same algorithm with rounding: identical.
    np.testing.assert_array_equal(out, official_loop(img, rounding=True))
    # Official truncation: at most 1 level lower, only on edge pixels, and actually different somewhere.
    official = official_loop(img, rounding=False).astype(int)
    diff = out.astype(int) - official
    assert diff.min() >= 0 and diff.max() <= 1
    assert not diff[~mask].any()
    assert diff.any()
    # Off the edge mask the image is untouched; on it, something changed.
    np.testing.assert_array_equal(out[~mask], img[~mask])
    assert (out[mask] != img[mask]).any()


def test_flat_image_is_unchanged():
    img = np.full((16, 16, 3), 100, np.uint8)
    np.testing.assert_array_equal(smooth_edges(img), img)


def test_rejects_bad_arrays():
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        smooth_edges(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        smooth_edges(np.zeros((8, 8, 3), np.float32))


def test_cli_writes_smooth_folder_and_skips_corrupt(tmp_path, capsys):
    style = tmp_path / "Demo" / "style"
    style.mkdir(parents=True)
    imgs = make_test_images()
    write_image_atomic(style / "a.png", imgs["shapes"])
    write_image_atomic(style / "B.JPG", imgs["photo"])
    (style / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (style / "notes.txt").write_text("not an image")
    assert cli(["--dataset", str(tmp_path / "Demo"), "--size", "32"]) == 1  # finished, one image skipped
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and captured.err.count("skipped") == 1
    assert "wrote 2 image(s)" in captured.out and "skipped 1" in captured.out
    smooth = tmp_path / "Demo" / "smooth"
    assert sorted(p.name for p in smooth.iterdir()) == ["B.JPG", "a.png"]
    a = read_rgb(smooth / "a.png")
    assert a.shape == (32, 32, 3)
    np.testing.assert_array_equal(a, smooth_edges(read_rgb(style / "a.png", 32)))  # PNG: lossless round trip
    assert read_rgb(style / "a.png").shape == (40, 56, 3)  # input left as it was


def test_cli_errors_exit_2(tmp_path, capsys):
    res = subprocess.run([sys.executable, "datasets/edge_smooth.py", "--dataset", str(tmp_path / "nothing")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: ") and "nothing" in res.stderr
    (tmp_path / "S" / "style").mkdir(parents=True)
    (tmp_path / "S" / "style" / "x.png").write_bytes(b"not a png")
    assert cli(["--dataset", str(tmp_path / "S")]) == 2  # nothing readable -> failure, not silent success
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: no image could be smoothed"
    assert cli(["--dataset", str(tmp_path / "S"), "--size", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --size: image size must be positive")

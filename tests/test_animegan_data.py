"""Image I/O, the AnimeGAN data pipeline (layout, random access, sharding) and the demo dataset builder."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from datasets.animegan_data import AnimeGANData, DatasetError, to_gray_uint8
from datasets.demo_style import build_demo_dataset, cartoonize
from datasets.image_io import ImageReadError, ImageWriteError, list_images, read_rgb, write_image_atomic

ROOT = Path(__file__).resolve().parents[1]


def rand_image(rng, h, w):
    """Random smooth-ish colour image (so JPEG/resizing keep it recognisable)."""
    small = rng.integers(0, 256, (max(h // 4, 1), max(w // 4, 1), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def make_dataset(root, n_photos=10, n_style=4, size=(20, 24), style="Toy", seed=0):
    """Official layout; smooth images are the *inverted* style images so tests can check the pairing."""
    rng = np.random.default_rng(seed)
    (root / "train_photo").mkdir(parents=True)
    (root / style / "style").mkdir(parents=True)
    (root / style / "smooth").mkdir(parents=True)
    for i in range(n_photos):
        write_image_atomic(root / "train_photo" / f"p{i:02d}.png", rand_image(rng, *size))
    for i in range(n_style):
        img = rand_image(rng, *size)
        write_image_atomic(root / style / "style" / f"s{i:02d}.png", img)
        write_image_atomic(root / style / "smooth" / f"s{i:02d}.png", 255 - img)
    return root


# ------------------------------------------------------------------------------------------------ image_io

def test_list_images_filters_and_sorts(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.JpEg", "d.tiff", "e.webp", "f.bmp", "notes.txt", "g.gif"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.JpEg", "d.tiff", "e.webp", "f.bmp"]
    with pytest.raises(ImageReadError, match="not a directory"):
        list_images(tmp_path / "missing")


def test_read_rgb_modes(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    out = read_rgb(tmp_path / "grey.png")
    assert out.shape == (6, 7, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))

    rgba = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = read_rgb(tmp_path / "rgba.png")
    assert out.shape == (5, 4, 3)
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])  # fully transparent -> white background
    np.testing.assert_array_equal(out[0, 1], rgba[0, 1, :3])    # opaque -> its own colour

    g16 = (rng.integers(0, 65536, (8, 8))).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = read_rgb(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[:, :, 0], np.rint(g16 / 257.0).astype(np.uint8))  # scaled, not clipped


def test_read_rgb_applies_exif_orientation(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(img).save(tmp_path / "rot.png", exif=exif)
    out = read_rgb(tmp_path / "rot.png")
    np.testing.assert_array_equal(out, np.rot90(img, k=-1))


def test_read_rgb_resizes_and_reports_bad_files(tmp_path):
    img = rand_image(np.random.default_rng(2), 40, 60)
    write_image_atomic(tmp_path / "ok.jpg", img)
    assert read_rgb(tmp_path / "ok.jpg", 16).shape == (16, 16, 3)
    assert read_rgb(tmp_path / "ok.jpg", (30, 90)).shape == (30, 90, 3)  # enlarging width (bicubic)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"definitely not an image")
    for name, pattern in [("trunc.jpg", "truncated"), ("junk.png", "not a recognised image"),
                          ("absent.png", "not found")]:
        with pytest.raises(ImageReadError, match=pattern) as info:
            read_rgb(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="positive"):
        read_rgb(tmp_path / "ok.jpg", (0, 5))


def test_write_image_atomic(tmp_path):
    img = rand_image(np.random.default_rng(3), 8, 9)
    write_image_atomic(tmp_path / "x.png", img)
    write_image_atomic(tmp_path / "x.png", 255 - img)  # replaces the old file
    np.testing.assert_array_equal(read_rgb(tmp_path / "x.png"), 255 - img)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temp files left behind
    with pytest.raises(ImageWriteError, match="unknown image extension"):
        write_image_atomic(tmp_path / "x.xyz", img)
    with pytest.raises(ImageWriteError, match="uint8"):
        write_image_atomic(tmp_path / "y.png", img.astype(np.float32))
    assert sorted(os.listdir(tmp_path)) == ["x.png"]


# ------------------------------------------------------------------------------------------------ AnimeGANData

def test_batch_contents_and_ranges(tmp_path):
    root = make_dataset(tmp_path / "ds")
    data = AnimeGANData(root, "Toy", (16, 20), seed=3)
    assert (data.num_photos, data.num_style) == (10, 4)
    b = data.batch(epoch=0, step=1, batch_size=3)
    assert set(b) == {"photo", "anime", "anime_gray", "smooth_gray"}
    for key, arr in b.items():
        assert arr.shape == (3, 3, 16, 20) and arr.dtype == np.float32, key
        assert arr.min() >= -1.0 and arr.max() <= 1.0, key
    # Grey images are one channel replicated, equal to the BT.601 luma of the colour batch.
    np.testing.assert_array_equal(b["anime_gray"][:, 0], b["anime_gray"][:, 2])
    anime_u8 = np.rint((b["anime"].transpose(0, 2, 3, 1) + 1) * 127.5).astype(np.uint8)
    luma = np.stack([to_gray_uint8(a) for a in anime_u8]).astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(b["anime_gray"][:, 1], luma, atol=1e-6)
    bt601 = (anime_u8 @ np.array([0.299, 0.587, 0.114])) / 127.5 - 1
    assert np.abs(b["anime_gray"][:, 0] - bt601).max() <= 1 / 127.5 + 1e-6
    # smooth_gray is the smoothed version *of the same style image* (here: its inverse).
    np.testing.assert_allclose(b["smooth_gray"], -b["anime_gray"], atol=2 / 127.5 + 1e-6)


def test_paired_renderings_are_served_beside_their_photos(tmp_path):
    """paired=True: `photo_styled` holds, row for row, the rendering saved under the photo's own file name (here
    the inverted photo); the other keys are unchanged. Without the folder, or with one rendering missing, it stops."""
    root = make_dataset(tmp_path / "ds", n_photos=6)
    (root / "Toy" / "paired").mkdir()
    for path in list_images(root / "train_photo"):
        write_image_atomic(root / "Toy" / "paired" / path.name, 255 - read_rgb(path))
    plain, paired = AnimeGANData(root, "Toy", 16, seed=2), AnimeGANData(root, "Toy", 16, seed=2, paired=True)
    b, p = plain.batch(1, 0, 3), paired.batch(1, 0, 3)
    assert set(p) == set(b) | {"photo_styled"}
    for key in b:
        np.testing.assert_array_equal(p[key], b[key])
    np.testing.assert_allclose(p["photo_styled"], -p["photo"], atol=2 / 127.5 + 1e-6)
    (root / "Toy" / "paired" / "p03.png").unlink()
    with pytest.raises(DatasetError, match=r"1 of 6 train photos have no readable rendering .*p03\.png"):
        AnimeGANData(root, "Toy", 16, paired=True)
    AnimeGANData(root, "Toy", 16)  # unpaired use does not need the folder
    shutil.rmtree(root / "Toy" / "paired")
    with pytest.raises(DatasetError, match="paired: no such folder"):
        AnimeGANData(root, "Toy", 16, paired=True)


def test_epoch_is_a_permutation_and_deterministic(tmp_path):
    root = make_dataset(tmp_path / "ds", n_photos=9)
    data = AnimeGANData(root, "Toy", 8, seed=1)
    assert data.steps_per_epoch(4) == 2
    again = AnimeGANData(root, "Toy", 8, seed=1)
    seen = np.concatenate([data.batch(0, s, 4)["photo"] for s in range(2)])
    np.testing.assert_array_equal(seen, np.concatenate([again.batch(0, s, 4)["photo"] for s in range(2)]))
    flat = seen.reshape(8, -1)
    assert len({row.tobytes() for row in flat}) == 8  # no photo twice within an epoch
    assert not np.array_equal(data.batch(1, 0, 4)["photo"], data.batch(0, 0, 4)["photo"])
    assert not np.array_equal(AnimeGANData(root, "Toy", 8, seed=2).batch(0, 0, 4)["photo"], seen[:4])
    # Random access: asking out of order gives the same answer (this is what makes resume exact).
    np.testing.assert_array_equal(data.batch(0, 1, 4)["anime"], again.batch(0, 1, 4)["anime"])
    # Style images (4 of them) cycle through their own permutation: 8 draws use each exactly twice.
    styles = np.concatenate([data.batch(0, s, 4)["anime"] for s in range(2)]).reshape(8, -1)
    counts = {}
    for row in styles:
        counts[row.tobytes()] = counts.get(row.tobytes(), 0) + 1
    assert sorted(counts.values()) == [2, 2, 2, 2]


def test_shards_union_equals_single_process_batch(tmp_path):
    root = make_dataset(tmp_path / "ds", n_photos=12)
    single = AnimeGANData(root, "Toy", 8, seed=5)
    shards = [AnimeGANData(root, "Toy", 8, seed=5, shard_id=i, num_shards=3) for i in range(3)]
    assert single.steps_per_epoch(6) == shards[0].steps_per_epoch(6) == 2
    for step in range(2):
        full = single.batch(2, step, 6)
        parts = [s.batch(2, step, 2) for s in shards]
        for key in full:
            rebuilt = np.empty_like(full[key])
            for i, part in enumerate(parts):
                rebuilt[i::3] = part[key]
            np.testing.assert_array_equal(rebuilt, full[key])


def test_corrupt_images_are_reported_and_skipped(tmp_path):
    root = make_dataset(tmp_path / "ds", n_photos=5, n_style=3)
    (root / "train_photo" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "Toy" / "style" / "extra.png").write_bytes(b"nope")
    os.remove(root / "Toy" / "smooth" / "s01.png")  # style image without its smoothed version
    lines = []
    data = AnimeGANData(root, "Toy", 8, report=lines.append)
    assert (data.num_photos, data.num_style) == (5, 2)
    assert data.style_names == ["s00.png", "s02.png"]
    assert len(lines) == 3 and lines == data.problems
    assert any("bad.jpg" in x for x in lines) and any("extra.png" in x for x in lines)
    assert any("s01.png" in x and "edge_smooth.py" in x for x in lines)


def test_clear_errors(tmp_path):
    root = make_dataset(tmp_path / "ds", n_photos=3)
    with pytest.raises(DatasetError, match="edge_smooth.py"):
        os.rename(root / "Toy" / "smooth", root / "Toy" / "smooth_old")
        AnimeGANData(root, "Toy", 8)
    os.rename(root / "Toy" / "smooth_old", root / "Toy" / "smooth")
    with pytest.raises(DatasetError, match="Hayao"):
        AnimeGANData(root, "Hayao", 8)
    data = AnimeGANData(root, "Toy", 8)
    with pytest.raises(DatasetError, match="fewer than one global batch of 4"):
        data.steps_per_epoch(4)
    with pytest.raises(DatasetError, match="out of range"):
        data.batch(0, 1, 2)
    with pytest.raises(DatasetError, match="shard_id"):
        AnimeGANData(root, "Toy", 8, shard_id=2, num_shards=2)
    with pytest.raises(DatasetError, match="positive"):
        AnimeGANData(root, "Toy", (8, -1))
    for p in (root / "train_photo").iterdir():
        p.write_bytes(b"broken")
    with pytest.raises(DatasetError, match="no readable images"):
        AnimeGANData(root, "Toy", 8)


def test_sample_photos_prefers_val(tmp_path):
    root = make_dataset(tmp_path / "ds", n_photos=4)
    data = AnimeGANData(root, "Toy", 8)
    # No val/ folder: the first training photos.
    expected = data.photos[:2].transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(data.sample_photos(2), expected, atol=1e-6)
    (root / "val").mkdir()
    val = rand_image(np.random.default_rng(9), 8, 8)
    write_image_atomic(root / "val" / "v.png", val)
    got = data.sample_photos(3)
    assert got.shape == (1, 3, 8, 8)
    np.testing.assert_allclose(got[0], val.transpose(2, 0, 1) / 127.5 - 1, atol=1e-6)


# ------------------------------------------------------------------------------------------------ demo dataset

def test_cartoonize_flattens_colours():
    """The builder's filter on a small photo; its measured properties are tested in tests/test_demo_style.py."""
    from skimage import data as skdata
    photo = cv2.resize(skdata.chelsea(), (96, 64), interpolation=cv2.INTER_AREA)
    cartoon = cartoonize(photo)
    assert cartoon.shape == photo.shape and cartoon.dtype == np.uint8
    n_photo = len(np.unique(photo.reshape(-1, 3), axis=0))
    n_cartoon = len(np.unique(cartoon.reshape(-1, 3), axis=0))
    assert n_cartoon < 0.7 * n_photo  # flat regions
    np.testing.assert_array_equal(cartoon, cartoonize(photo))  # deterministic


def test_demo_crops_show_the_photos_at_the_measured_scale():
    """Crops cover size * 1.4-3 source pixels (the scale of a 450-640 px photo shown 256 px wide), capped by the
    photo's short side, whatever the crop size."""
    from datasets.demo_style import CROP_ZOOM, random_crop

    rng = np.random.default_rng(0)
    photo = np.zeros((300, 500, 3), np.uint8)
    photo[:, :, 0] = np.arange(500)[None, :] // 2  # red codes the column
    for size in (32, 64, 128):
        crop = random_crop(rng, photo, size)
        assert crop.shape == (size, size, 3)
        span = int(crop[0, :, 0].max()) - int(crop[0, :, 0].min())  # source columns covered, halved
        assert CROP_ZOOM[0] * size - 4 <= 2 * span <= min(CROP_ZOOM[1] * size, 300) + 4


def test_demo_dataset_loads(tmp_path):
    counts = build_demo_dataset(tmp_path / "demo", size=32, count=6, style_count=3, eval_count=1, progress=False)
    assert counts == {"train_photo": 6, "style": 3, "smooth": 3, "paired": 6, "val": 1, "test": 1}
    data = AnimeGANData(tmp_path / "demo", "demo", 32)
    assert (data.num_photos, data.num_style) == (6, 3) and not data.problems
    # each training photo's paired rendering is the cartoon filter of that very photo
    for name in ("0000.png", "0005.png"):
        np.testing.assert_array_equal(read_rgb(tmp_path / "demo/demo/paired" / name),
                                      cartoonize(read_rgb(tmp_path / "demo/train_photo" / name)))
    again = tmp_path / "again"
    build_demo_dataset(again, size=32, count=6, style_count=3, eval_count=1, progress=False)
    for sub in ("train_photo/0003.png", "demo/style/0001.png", "demo/smooth/0002.png"):
        np.testing.assert_array_equal(read_rgb(tmp_path / "demo" / sub), read_rgb(again / sub))  # seeded


def test_demo_cli_rejects_bad_arguments(tmp_path):
    res = subprocess.run([sys.executable, "datasets/demo_style.py", "--output", str(tmp_path / "d"), "--count", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1

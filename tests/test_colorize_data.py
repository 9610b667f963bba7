"""Colorization data: pairing by name (missing partners reported, the rest trains), junyanz's A|B files, unpaired
folders, grey pages as 3 channels, the study's augmentations applied identically to both halves at their stated
probabilities, batches as a pure function of (seed, epoch, step, shard), and datasets/colorize_pairs.py."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.colorize_data import (Augment, ColorizeData, ColorizeDataError, aligned_folder, build_items,
                                    image_folder, paired_folders, read_item)
from runtime.imaging import luma8
from tests._colorize_helpers import colour_page, write_pairs

ROOT = Path(__file__).resolve().parents[1]


def test_pairs_by_name_report_missing_partners_and_keep_the_rest(tmp_path):
    write_pairs(tmp_path, 4, size=16)
    (tmp_path / "A" / "p001.png").unlink()
    Image.new("L", (16, 16)).save(tmp_path / "A" / "12_3.png")  # a page without its colour version
    lines = []
    items = paired_folders(tmp_path / "A", tmp_path / "B", report=lines.append)
    assert [i.name for i in items] == ["p000", "p002", "p003"]
    assert len(lines) == 2
    assert any("12_3.png has no partner in" in line for line in lines)
    assert any("p001.png has no partner in" in line and str(tmp_path / "A") in line for line in lines)
    (tmp_path / "other").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "other" / "zzz.png")
    with pytest.raises(ColorizeDataError, match="has a partner"):
        paired_folders(tmp_path / "A", tmp_path / "other")


def test_same_stem_twice_is_refused(tmp_path):
    write_pairs(tmp_path, 1, size=16)
    Image.new("L", (16, 16)).save(tmp_path / "A" / "p000.jpg")
    with pytest.raises(ColorizeDataError, match="same name"):
        paired_folders(tmp_path / "A", tmp_path / "B")


def test_aligned_ab_files_split_at_half_width_and_grey_becomes_three_channels(tmp_path):
    colour = colour_page(np.random.default_rng(0), 16)
    grey = np.repeat(luma8(colour)[..., None], 3, axis=2)
    (tmp_path / "ab").mkdir()
    Image.fromarray(np.concatenate([grey, colour], axis=1)).save(tmp_path / "ab" / "x.png")
    a, b = read_item(aligned_folder(tmp_path / "ab")[0])
    assert a.mode == "L" and b.mode == "RGB" and a.size == b.size == (16, 16)
    np.testing.assert_array_equal(np.asarray(b), colour)
    data = ColorizeData(aligned_folder(tmp_path / "ab"), Augment("resize", crop_size=16, load_size=16))
    x, y = data.example(0, 0)
    assert x.shape == (3, 16, 16) and y.shape == (3, 16, 16)
    np.testing.assert_array_equal(x[0], x[2])  # the grey page replicated
    np.testing.assert_allclose(x[0], luma8(colour) / 127.5 - 1.0, atol=1e-6)


def test_sixteen_bit_grey_page_is_read_scaled(tmp_path):
    write_pairs(tmp_path, 1, size=16)
    grey16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    Image.fromarray(grey16).save(tmp_path / "A" / "p000.png")  # a 16-bit PNG
    grey, _ = read_item(paired_folders(tmp_path / "A", tmp_path / "B")[0])
    np.testing.assert_array_equal(np.asarray(grey), np.arange(256, dtype=np.uint8).reshape(16, 16))


@pytest.mark.parametrize("mode", ["study", "junyanz"])
def test_both_halves_get_the_same_transform(mode):
    """B' (augmented colour) must be the same picture as A' (augmented grey): its luma equals A' up to resampling
    rounding; a mismatched flip, rotation or crop would move the shapes and break that by far."""
    rng = np.random.default_rng(3)
    aug = Augment(mode, crop_size=32, load_size=40, rotate_p=0.5, hflip_p=0.5, vflip_p=0.5)
    worst, mismatched = 0.0, 0.0

    def disagreement(a, b):
        return float(np.percentile(np.abs(luma8(np.asarray(b)).astype(int) - np.asarray(a).astype(int)), 99))

    for seed in range(12):
        colour = colour_page(rng, 48)
        grey = Image.fromarray(luma8(colour), "L")
        a, b = aug.apply([grey, Image.fromarray(colour)], np.random.default_rng(seed))
        worst = max(worst, disagreement(a, b))
        # the check can fail: halves transformed with different draws disagree by far
        other = aug.apply([Image.fromarray(colour)], np.random.default_rng(seed + 100))[0]
        mismatched = max(mismatched, disagreement(a, other))
    assert worst <= 3, f"augmented halves disagree: 99th percentile luma difference {worst}"
    assert mismatched > 50
    a, b = aug.apply([grey, None], np.random.default_rng(0))
    assert b is None and a.size == (32, 32)


def test_study_augmentations_fire_at_their_stated_probabilities():
    aug = Augment("study", crop_size=32)
    n = 4000
    plans = [aug.plan((64, 48), np.random.default_rng([7, i])) for i in range(n)]
    rates = {"saturation": np.mean([p.saturation is not None for p in plans]),
             "rotation": np.mean([p.angle is not None for p in plans]),
             "hflip": np.mean([p.hflip for p in plans]), "vflip": np.mean([p.vflip for p in plans])}
    for name, want in {"saturation": 0.5, "rotation": 0.2, "hflip": 0.4, "vflip": 0.2}.items():
        sigma = np.sqrt(want * (1 - want) / n)
        assert abs(rates[name] - want) < 4 * sigma, (name, rates[name])
    angles = [p.angle for p in plans if p.angle is not None]
    factors = [p.saturation for p in plans if p.saturation is not None]
    assert 10 <= min(angles) and max(angles) <= 50 and 0 <= min(factors) and max(factors) <= 1
    areas = np.array([(p.box[2] - p.box[0]) * (p.box[3] - p.box[1]) / (64 * 48) for p in plans])
    assert areas.min() >= 0.07 and areas.max() <= 1.0 and 0.3 < areas.mean() < 0.7  # RandomResizedCrop(0.08, 1)
    assert all(p.box_size == (32, 32) for p in plans)


def test_batches_are_pure_and_shards_partition_the_global_batch(tmp_path):
    write_pairs(tmp_path, 6, size=24)
    items, _ = build_items("paired", tmp_path, "A", "B")
    aug = Augment("study", crop_size=16)
    single = ColorizeData(items, aug, seed=5)
    assert single.steps_per_epoch(4) == 1
    first, again = single.batch(2, 0, 4), single.batch(2, 0, 4)
    np.testing.assert_array_equal(first["A"], again["A"])
    np.testing.assert_array_equal(first["B"], again["B"])
    assert not np.array_equal(first["B"], single.batch(3, 0, 4)["B"])  # another epoch, other draws
    shards = [ColorizeData(items, aug, seed=5, shard=r, shards=2).batch(2, 0, 2) for r in (0, 1)]
    merged = np.empty_like(first["B"])
    merged[0::2], merged[1::2] = shards[0]["B"], shards[1]["B"]
    np.testing.assert_array_equal(merged, first["B"])
    with pytest.raises(ColorizeDataError, match="fewer than one global batch"):
        single.steps_per_epoch(8)


def test_unpaired_domains(tmp_path):
    write_pairs(tmp_path, 3, size=16, a_dir="trainA", b_dir="trainB")
    write_pairs(tmp_path, 2, size=16, a_dir="trainA", b_dir="trainB", start=3, seed=1)
    (tmp_path / "trainB" / "p004.png").unlink()
    items, b_items = build_items("unpaired", tmp_path, "trainA", "trainB")
    assert len(items) == 5 and len(b_items) == 4
    data = ColorizeData(items, Augment("resize", crop_size=16, load_size=16), unpaired_b=b_items)
    assert len(data) == 5 and data.batch(0, 0, 2)["B"].shape == (2, 3, 16, 16)
    with pytest.raises(ColorizeDataError, match="no such folder"):
        image_folder(tmp_path / "nope", "grey")


def test_colorize_pairs_cli(tmp_path):
    src = tmp_path / "colour"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(colour_page(rng, 64)).save(src / f"c{i}.jpg")
    out = tmp_path / "data"

    def cli(*args):
        return subprocess.run([sys.executable, "datasets/colorize_pairs.py", "--input", str(src), "--output",
                               str(out), "--no-progress", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)

    res = cli()
    assert res.returncode == 0, res.stderr
    grey = np.asarray(Image.open(out / "A" / "c0.png"))
    colour = np.asarray(Image.open(out / "B" / "c0.png").convert("RGB"))
    assert grey.ndim == 2 and colour.shape == (64, 64, 3)
    np.testing.assert_array_equal(grey, luma8(colour))
    assert paired_folders(out / "A", out / "B")[0].name == "c0"
    res = cli()
    assert res.returncode == 2 and "pass --overwrite" in res.stderr.strip().splitlines()[-1]
    res = cli("--overwrite", "--screentone")
    assert res.returncode == 0, res.stderr
    toned = np.asarray(Image.open(out / "A" / "c0.png"))
    assert toned.shape == grey.shape and not np.array_equal(toned, grey)
    mid = (grey > 0.3 * 255) & (grey < 0.8 * 255)  # screen tone: mid-tones become ink or paper dots
    assert np.mean((toned[mid] < 40) | (toned[mid] > 200)) > 0.7
    res = subprocess.run([sys.executable, "datasets/colorize_pairs.py", "--input", str(src), "--output",
                          str(tmp_path / "ab"), "--layout", "aligned", "--size", "32", "--no-progress"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "ab" / "c1.png").size == (64, 32)
    res = subprocess.run([sys.executable, "datasets/colorize_pairs.py", "--input", str(out / "B"), "--output",
                          str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "is an input" in res.stderr

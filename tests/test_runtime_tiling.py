"""Tiled inference: the plan covers the image on the stride grid, and tiles agree with the whole-image result.

Stated tolerances (toy LN model, 160×224 astronaut photo, 96-px tiles with 32-px overlap, 8-bit output levels):
- statistics captured from the full-size image: max |tiled − whole| ≤ 2 (measured: 0, i.e. identical);
- statistics from a half-resolution proxy (what huge images use): mean ≤ 4, 99th percentile ≤ 12
  (measured 2.5 / 5, max 7);
- per-tile statistics (the fallback) are far worse (measured mean 14, max 107), hence global statistics by default.
Seams: across every tile boundary the mean pixel-to-pixel step differs from the whole image's by < 1.5 levels
(measured 0.4; without overlap it is 20–35, with per-tile statistics and blending 1.9).
"""
import sys

import numpy as np
import pytest

from runtime.global_stats import GlobalStatsModel, NoGlobalStats, prepare_stats_graph
from runtime.session import Generator
from runtime.stylize import Stylizer, TileOptions
from runtime.tiling import blend_weights, plan_tiles
from tests._runtime_helpers import build_identity_model, build_toy_generator, photo

H, W, TILE, OVERLAP = 160, 224, 96, 32


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return Generator(build_toy_generator(tmp_path_factory.mktemp("tiling") / "toy.onnx", seed=1))


@pytest.fixture(scope="module")
def image():
    return photo(H, W, "astronaut")


@pytest.fixture(scope="module")
def whole(toy, image):
    return Stylizer(toy, TileOptions(above=10 ** 6)).stylize(image).astype(int)


def tiled(toy, image, **options):
    stylizer = Stylizer(toy, TileOptions(size=TILE, overlap=OVERLAP, above=0, **options), log=lambda m: None)
    return stylizer.stylize(image).astype(int), stylizer


@pytest.mark.parametrize("h, w, tile, overlap, m", [(160, 224, 96, 32, 4), (1000, 700, 256, 64, 8), (50, 50, 64, 16, 4),
                                                    (130, 97, 40, 12, 4)])
def test_plan_covers_image_aligned_with_overlap(h, w, tile, overlap, m):
    tiles = plan_tiles(h, w, tile, overlap, m)
    covered = np.zeros((h, w), int)
    for t in tiles:
        assert t.y0 % m == 0 and t.x0 % m == 0, "tile origins must sit on the stride grid"
        assert t.y1 - t.y0 < tile + m and t.x1 - t.x0 < tile + m
        covered[t.y0:t.y1, t.x0:t.x1] += 1
    assert covered.min() >= 1
    ys = sorted({(t.y0, t.y1) for t in tiles})
    for (a0, a1), (b0, b1) in zip(ys, ys[1:]):
        assert a1 - b0 >= min(overlap, tile // 2) - m, "neighbours must overlap"


def test_blend_weights_are_positive_and_fade_towards_shared_edges():
    tiles = plan_tiles(H, W, TILE, OVERLAP, 4)
    total = np.zeros((H, W))
    for t in tiles:
        w = blend_weights(tiles, t)
        assert w.min() > 0 and w.max() == 1
        total[t.y0:t.y1, t.x0:t.x1] += w
    assert total.min() > 0.5
    first = blend_weights(tiles, tiles[0])
    assert first[0, 0] == 1 and first[-1, -1] < 0.01  # image border keeps full weight; shared corner fades out


def test_spatial_reductions_found_in_every_layer_norm_spelling(toy, tmp_path):
    import onnx

    def count(generator):
        return len(prepare_stats_graph(generator, onnx.load(str(generator.path)))[1])

    assert count(toy) == 6   # 3 layer norms × (mean, variance)
    assert count(Generator(build_toy_generator(tmp_path / "nhwc.onnx", seed=1, layout="NHWC", batch=1))) == 6
    assert count(Generator(build_toy_generator(tmp_path / "inorm.onnx", seed=1, norm="instance_norm"))) == 6
    with pytest.raises(NoGlobalStats):
        GlobalStatsModel(Generator(build_identity_model(tmp_path / "id.onnx")))


def test_tiles_with_full_size_statistics_match_the_whole_image(toy, image, whole):
    result, stylizer = tiled(toy, image, stats_pixels=H * W)
    assert stylizer.tiling_mode == "global statistics"
    assert len(plan_tiles(H, W, TILE, OVERLAP, 4)) == 6
    assert np.abs(result - whole).max() <= 2


@pytest.mark.parametrize("norm, half, tolerance", [("instance_norm", False, 2), ("instance_norm", True, 3),
                                                   ("reduce_mean", True, 3)])
def test_exporter_spellings_and_fp16_graphs_tile_like_the_whole_image(tmp_path, image, norm, half, tolerance):
    """Our exporter writes layer norm as InstanceNormalization on a [N,1,C·H·W] view by default, and can
    write fp16 graphs; the statistics rewrite must handle both."""
    generator = Generator(build_toy_generator(tmp_path / "m.onnx", seed=1, norm=norm, half=half))
    reference = Stylizer(generator, TileOptions(above=10 ** 6)).stylize(image).astype(int)
    result, stylizer = tiled(generator, image, stats_pixels=H * W)
    assert stylizer.tiling_mode == "global statistics"
    assert np.abs(result - reference).max() <= tolerance
    assert np.abs(result - reference).mean() < 0.5


def test_tiles_with_downscaled_statistics_stay_close(toy, image, whole):
    result, _ = tiled(toy, image, stats_pixels=H * W // 4)
    error = np.abs(result - whole)
    assert error.mean() <= 4.0 and np.percentile(error, 99) <= 12


def test_per_tile_statistics_are_worse(toy, image, whole):
    global_result, _ = tiled(toy, image, stats_pixels=H * W // 4)
    local_result, stylizer = tiled(toy, image, global_stats=False)
    assert stylizer.tiling_mode == "per-tile statistics"
    assert np.abs(local_result - whole).mean() > 3 * np.abs(global_result - whole).mean()


def test_no_visible_seams_at_tile_boundaries(toy, image, whole):
    """Compare the pixel-to-pixel step across each tile boundary with the whole image's step there."""
    result, _ = tiled(toy, image, stats_pixels=H * W // 4)
    tiles = plan_tiles(H, W, TILE, OVERLAP, 4)
    edges_x = sorted({t.x1 for t in tiles if t.x1 < W} | {t.x0 for t in tiles if t.x0 > 0})
    edges_y = sorted({t.y1 for t in tiles if t.y1 < H} | {t.y0 for t in tiles if t.y0 > 0})
    assert edges_x and edges_y
    for x in edges_x:
        step_tiled = np.abs(result[:, x] - result[:, x - 1]).mean()
        step_whole = np.abs(whole[:, x] - whole[:, x - 1]).mean()
        assert abs(step_tiled - step_whole) < 1.5, f"seam at column {x}"
    for y in edges_y:
        step_tiled = np.abs(result[y] - result[y - 1]).mean()
        step_whole = np.abs(whole[y] - whole[y - 1]).mean()
        assert abs(step_tiled - step_whole) < 1.5, f"seam at row {y}"


def test_without_onnx_package_tiling_falls_back_to_per_tile(toy, image, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    messages = []
    stylizer = Stylizer(toy, TileOptions(size=TILE, overlap=OVERLAP, above=0), log=messages.append)
    assert stylizer.stylize(image).shape == image.shape
    assert stylizer.tiling_mode == "per-tile statistics" and "onnx" in messages[0]


def test_odd_sized_tiled_image_keeps_its_size(toy):
    odd = photo(131, 197, "coffee")
    out = Stylizer(toy, TileOptions(size=64, overlap=16, above=0), log=lambda m: None).stylize(odd)
    assert out.shape == odd.shape

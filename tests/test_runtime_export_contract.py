"""The runtime on graphs written by our own exporter (export/), in both layer-norm spellings.

This is the contract between the two layers: metadata read correctly, sizes kept, and the tiling rewrite finding
every layer norm. The export runs in a subprocess: with protobuf 7, importing `onnx` before `mindspore` makes
MindSpore's import fail ("Descriptors cannot be created directly"), and this test process has imported onnx
already. Skipped where MindSpore is absent (the runtime itself never needs it).
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.session import Generator
from runtime.stylize import Stylizer, TileOptions
from tests._runtime_helpers import photo

ROOT = Path(__file__).resolve().parents[1]
SPELLINGS = ("instance_norm", "primitive")
EXPORT_SCRIPT = """
import sys
import mindspore as ms
from export.api import export_generator
from mindspore_impl.models.animeganv2 import animeganv2_generator
ms.set_seed(0)
net = animeganv2_generator(width=0.125)  # its own initialisation: outputs span the range, not saturated
for spelling in {spellings!r}:
    export_generator(net, sys.argv[1] + "/" + spelling + ".onnx", family="animeganv2", style="random",
                     progress=False, options={{"layer_norm": spelling}}, check_batches=(1,))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if importlib.util.find_spec("mindspore") is None:
        pytest.skip("MindSpore is not installed")
    folder = tmp_path_factory.mktemp("exported")
    done = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT.format(spellings=SPELLINGS), str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return {spelling: folder / f"{spelling}.onnx" for spelling in SPELLINGS}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_exported_generator_runs_and_tiles_like_the_whole_image(exported, spelling):
    generator = Generator(exported[spelling])
    assert (generator.spec.layout, generator.spec.family, generator.spec.has_metadata) == ("NCHW", "animeganv2", True)
    image = photo(137, 203, "coffee")  # odd sizes: padded to the multiple, cropped back
    whole = Stylizer(generator, TileOptions(above=10 ** 6)).stylize(image).astype(int)
    assert whole.shape == image.shape
    # Two 144-px tiles sharing 128 px; statistics from the full image. Measured: mean 0.06, p99 1, max 10 levels
    # (the network's border effects reach ~100 px into a tile, hence the default overlap of 128). With per-tile
    # statistics instead: mean 4.6, p99 19 — so this also shows the rewrite is what makes tiles agree.
    stylizer = Stylizer(generator, TileOptions(size=144, overlap=128, above=0, stats_pixels=137 * 203),
                        log=lambda m: None)
    tiled = stylizer.stylize(image).astype(int)
    assert stylizer.tiling_mode == "global statistics"
    assert len(stylizer._global.stat_names) == 2 * 24  # 24 layer norms in AnimeGANv2 × (mean, variance)
    error = np.abs(tiled - whole)
    assert error.mean() < 0.3 and np.percentile(error, 99) <= 3

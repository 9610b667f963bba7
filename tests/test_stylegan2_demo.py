"""The bundled StyleGAN2 demo sampler: `python runtime/sample.py` with no arguments samples it (onnxruntime only),
it is a few MB, describes itself, and gives different, reproducible pictures per seed with the frames' layout
(a bright sky above dark hills, as in every demo frame)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from runtime.cli import DEMO_SAMPLERS

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "runtime/assets/demo_stylegan2.onnx"

pytestmark = pytest.mark.skipif(not DEMO.is_file(), reason="the StyleGAN2 demo is not built "
                                                            "(python mindspore_impl/build_demo.py stylegan2)")


def test_demo_is_listed_small_and_describes_itself():
    assert DEMO in DEMO_SAMPLERS
    assert DEMO.stat().st_size < 5 * 2 ** 20
    meta = {p.key: p.value for p in onnx.load(str(DEMO)).metadata_props}
    assert meta["family"] == "stylegan2" and meta["network"] == "G_ema" and meta["task"] == "sample"
    assert float(meta["parity_max_abs_diff"]) <= 1e-4


def test_sample_py_without_arguments_samples_the_demo(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "runtime/sample.py")], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    grid = tmp_path / "outputs" / "samples_stylegan2.png"
    assert f"wrote {Path('outputs') / grid.name}" in out.stdout
    img = np.asarray(Image.open(grid))
    assert img.shape == (4 * 34 + 2, 4 * 34 + 2, 3)  # seeds 0-15, 32 px, 2 px gutters
    first = grid.read_bytes()
    again = subprocess.run([sys.executable, str(ROOT / "runtime/sample.py"), "--overwrite"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert grid.read_bytes() == first  # same seeds, same bytes
    cells = [img[2 + 34 * r:34 + 34 * r, 2 + 34 * c:34 + 34 * c].astype(np.float64) for r in range(4) for c in range(4)]
    assert len({cell.tobytes() for cell in cells}) == 16
    top = np.mean([cell[:8].mean() for cell in cells])
    bottom = np.mean([cell[-8:].mean() for cell in cells])
    assert top > bottom + 20  # the frames' layout: a bright sky above dark hills (in every scene)

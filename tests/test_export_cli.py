"""export/to_onnx.py end to end (subprocess) and the checkpoint rules behind it (in process)."""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import onnx
import pytest
from PIL import Image
from skimage import data

import mindspore_impl.models  # noqa: F401
from mindspore_impl.checkpoint_io import CheckpointError, file_sha256, load_network_weights
from mindspore_impl.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """family: animeganv2
generator: {name: animeganv2_generator, width: 0.125}
data: {style: Testsuite}
"""


def tiny_generator(width=0.125, seed=0):
    ms.set_seed(seed)
    return MODELS.build("animeganv2_generator", width=width)


def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "export" / "to_onnx.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def write_photo_crops(folder: Path, photos, size=48, per_photo=2, seed=0):
    """Real-photo crops (scikit-image's bundled pictures) as PNG files."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i, photo in enumerate(photos):
        for k in range(per_photo):
            h, w = photo.shape[:2]
            y, x = rng.integers(0, h - 4 * size), rng.integers(0, w - 4 * size)
            Image.fromarray(photo[y:y + 4 * size, x:x + 4 * size, :3]).resize((size, size)).save(
                folder / f"{i}_{k}.png")
    return folder


def test_cli_exports_fp32_and_int8_from_a_training_checkpoint(tmp_path, config):
    net = tiny_generator()
    # A full training checkpoint: generator under G/, plus discriminator and optimiser entries to ignore.
    entries = [{"name": f"G/{p.name}", "data": p} for p in net.get_parameters()]
    entries += [{"name": "D/layers.0.conv.weight", "data": ms.Tensor(np.ones((2, 3, 3, 3), np.float32))},
                {"name": "opt_G/moment1.block_a.0.conv.weight", "data": ms.Tensor(np.ones(3, np.float32))}]
    ckpt = tmp_path / "step_00000010.ckpt"
    ms.save_checkpoint(entries, str(ckpt))
    calib = write_photo_crops(tmp_path / "calib", [data.astronaut(), data.coffee(), data.chelsea()])
    check = write_photo_crops(tmp_path / "check", [data.rocket()], seed=1)
    out = tmp_path / "out" / "tiny.onnx"

    proc = run_cli("--config", config, "--ckpt", ckpt, "--output", out, "--int8", "--calib", calib,
                   "--check-images", check, "--calib-size", 32, "--calib-percentile", 99.9, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "parity: max |onnxruntime - MindSpore|" in proc.stdout and "PSNR int8 vs fp32" in proc.stdout
    meta = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert meta["style"] == "Testsuite" and meta["source_checkpoint_sha256"] == file_sha256(ckpt)
    int8 = onnx.load(out.with_name("tiny.int8.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in int8.graph.node)
    int8_meta = {p.key: p.value for p in int8.metadata_props}
    assert int8_meta["precision"] == "int8-qdq" and int8_meta["int8_calibration"] == "percentile 99.9%, 6 images"
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.int8.onnx", "tiny.onnx"]


def test_cli_mismatched_checkpoint_is_one_line_and_exit_2(tmp_path, config):
    ckpt = tmp_path / "wide.ckpt"
    ms.save_checkpoint(tiny_generator(width=0.25), str(ckpt))
    out = tmp_path / "g.onnx"
    proc = run_cli("--config", config, "--ckpt", ckpt, "--output", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'block_a.0.conv.weight' has shape" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.pop("block_b.1.norm.beta"), "'block_b.1.norm.beta' is missing"),
    (lambda d: d.__setitem__("extra.weight", ms.Tensor(np.ones(1, np.float32))), "unexpected parameter 'extra.weight'"),
])
def test_checkpoint_missing_or_extra_key_is_named(tmp_path, damage, message):
    params = {p.name: p for p in tiny_generator().get_parameters()}
    damage(params)
    ckpt = tmp_path / "g.ckpt"
    ms.save_checkpoint([{"name": k, "data": v} for k, v in params.items()], str(ckpt))
    with pytest.raises(CheckpointError, match=message):
        load_network_weights(tiny_generator(seed=1), ckpt)


def test_plain_checkpoint_loads_exactly(tmp_path):
    source, target = tiny_generator(seed=0), tiny_generator(seed=1)
    ckpt = tmp_path / "generator.ckpt"
    ms.save_checkpoint(source, str(ckpt))
    assert load_network_weights(target, ckpt) == ("G", file_sha256(ckpt))
    for a, b in zip(source.get_parameters(), target.get_parameters()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


@pytest.mark.parametrize("kind", ["truncated", "garbage", "missing"])
def test_corrupt_truncated_or_missing_checkpoint(tmp_path, kind):
    ckpt = tmp_path / "bad.ckpt"
    good = tmp_path / "good.ckpt"
    ms.save_checkpoint(tiny_generator(), str(good))
    if kind == "truncated":
        ckpt.write_bytes(good.read_bytes()[:1000])
    elif kind == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.ckpt"):
        load_network_weights(tiny_generator(), ckpt)

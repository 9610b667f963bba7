"""VGG-encoder / mirrored-decoder autoencoder baseline: encoder = the VGG19 loss network's features, decoder
layout and size, a short training run with the shared trainer lowers the reconstruction loss, the trained
checkpoint runs through infer.py, and bad configs fail with a clear error."""
import csv
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from skimage import data as skdata

from datasets.demo_style import build_demo_dataset
from datasets.image_io import read_rgb, resize_rgb, write_image_atomic
import mindspore_impl.families  # noqa: F401  (registers the families)
from mindspore_impl import infer
from mindspore_impl.config import ConfigError, load_config
from mindspore_impl.layers import Upsample, count_params
from mindspore_impl.models.autoencoder import VGGAutoencoder, VGGEncoder
from mindspore_impl.models.vgg19 import VGG19Features, random_vgg19_checkpoint, random_vgg19_params
from mindspore_impl.distributed import Context
from mindspore_impl.registry import FAMILIES, MODELS

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/autoencoder/tiny.yaml"
STEPS = 8


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(scope="module")
def vgg_params():
    return random_vgg19_params(seed=3)


def load_params(net, params):
    ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in params.items()})
    return net


# ------------------------------------------------------------------------------------------------ the network
@pytest.mark.parametrize("layer", ["relu4_1", "conv4_4"])
def test_encoder_equals_the_vgg19_loss_network(vgg_params, layer):
    x = ms.Tensor(np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 48)).astype(np.float32))
    enc = VGGEncoder(layer)
    enc.load_vgg19_weights(vgg_params)
    ours = enc(x).asnumpy()
    reference = load_params(VGG19Features(with_taps=True), vgg_params)
    conv4_4, taps = reference(x)
    ref = (taps[3] if layer == "relu4_1" else conv4_4).asnumpy()
    assert ours.shape == ref.shape == (2, 512, 4, 6)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3 * float(np.abs(ref).max()))
    assert not any(p.requires_grad for p in enc.get_parameters())


def test_decoder_mirrors_vgg_and_keeps_the_size():
    net = VGGAutoencoder(width=1.0)
    # AdaIN decoder: 512→256, up, 256→256 ×3, 256→128, up, 128→128, 128→64, up, 64→64, 64→3 (3×3, no bias),
    # layer-norm γ/β on all but the last
    convs = [(512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64),
             (64, 3)]
    expected = sum(9 * i * o for i, o in convs) + sum(2 * o for _, o in convs[:-1])
    assert count_params(net) == expected == 3_506_624  # trainable = decoder only
    assert sum(isinstance(c, Upsample) for _, c in net.decoder.cells_and_names()) == 3
    assert VGGAutoencoder.size_multiple == 8
    small = VGGAutoencoder(width=0.125)
    y = small(ms.Tensor(np.zeros((1, 3, 24, 40), np.float32))).asnumpy()
    assert y.shape == (1, 3, 24, 40) and np.abs(y).max() <= 1.0
    assert "vgg_autoencoder" in MODELS and "autoencoder" in FAMILIES
    with pytest.raises(ValueError, match="unknown encoder output 'relu5_1'"):
        VGGAutoencoder(encoder_layer="relu5_1")


# ------------------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ae")
    build_demo_dataset(tmp / "dataset", size=32, count=2, style_count=2, eval_count=2, progress=False)
    vgg = random_vgg19_checkpoint(tmp / "vgg19_random.ckpt", seed=0)
    overrides = [f"data.root={tmp / 'dataset'}", f"loss.vgg_ckpt={vgg}", f"train.run_dir={tmp / 'run'}",
                 f"optim.epochs={STEPS}", f"train.max_steps={STEPS}", f"train.sample_every={STEPS}"]
    return tmp, overrides


@pytest.fixture(scope="module")
def trained(tiny_setup):
    """A few steps of `train.py` on two style images (batch 2 = the whole set: every step sees the same batch).

    A subprocess, because the trainer sets the device, which MindSpore refuses once kernels ran in this process.
    Returns (run dir, loss CSV rows).
    """
    tmp, overrides = tiny_setup
    args = [sys.executable, "mindspore_impl/train.py", "--config", str(TINY), "--no-progress"]
    for item in overrides:
        args += ["--set", item]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"done: step {STEPS}" in proc.stdout
    run_dir = tmp / "run"
    with open(run_dir / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    return run_dir, rows


def test_training_lowers_the_reconstruction_loss(trained):
    _, rows = trained
    rec = [float(r["G/rec"]) for r in rows]
    assert len(rec) == STEPS and all(np.isfinite(rec))
    assert rec[-1] < 0.9 * rec[0], rec
    assert min(rec[-3:]) < min(rec[:3]), rec
    assert {r["phase"] for r in rows} == {"reconstruct"}


def test_training_writes_samples_and_keeps_the_encoder_frozen(trained, tiny_setup):
    run_dir, _ = trained
    tmp, overrides = tiny_setup
    grid = read_rgb(run_dir / "samples" / f"step_{STEPS:08d}.png")
    assert grid.shape == (2 * 34 + 2, 2 * 34 + 2, 3)  # 2 rows of (photo | output), 32 px + 2 px gutters
    ckpt = ms.load_checkpoint(str(run_dir / "generator.ckpt"))
    vgg = ms.load_checkpoint(str(tmp / "vgg19_random.ckpt"))
    np.testing.assert_array_equal(ckpt["encoder.layers.conv3_2.conv.weight"].asnumpy(),
                                  vgg["conv3_2.weight"].asnumpy())
    family = FAMILIES.get("autoencoder")(load_config(TINY, overrides), Context())
    initial = {p.name: p.asnumpy() for p in family.generator.trainable_params()}
    assert initial and all(name.startswith("decoder.") for name in initial)  # only the decoder learns
    assert any(not np.array_equal(ckpt[n].asnumpy(), v) for n, v in initial.items())  # ... and it did


def test_trained_checkpoint_runs_through_infer(trained, tiny_setup, tmp_path):
    run_dir, _ = trained
    _, overrides = tiny_setup
    write_image_atomic(tmp_path / "cat.png", resize_rgb(skdata.chelsea(), (21, 30)))
    cfg = load_config(TINY, overrides)
    result = infer.run(cfg, run_dir / "generator.ckpt", [str(tmp_path / "cat.png")], tmp_path / "out",
                       use_jit=False, progress=False)
    assert result["written"] == 1
    out = read_rgb(tmp_path / "out" / "cat.png")
    assert out.shape == (21, 30, 3) and out.std() > 0.5


def test_trained_checkpoint_exports_and_runs_through_the_runtime(trained, tiny_setup, tmp_path):
    """The baseline exports through export/to_onnx.py (its max-pools have a converter now; parity is checked by the
    command) and photo2anime runs the file: same size as the input, and the same picture as MindSpore's infer.py
    within rounding. 32×40 needs no padding in either (their pad policies differ, and the decoder's layer norms see
    whole-image statistics)."""
    run_dir, _ = trained
    _, overrides = tiny_setup
    write_image_atomic(tmp_path / "cat.png", resize_rgb(skdata.chelsea(), (32, 40)))
    onnx_path = tmp_path / "ae.onnx"
    args = [sys.executable, "export/to_onnx.py", "--config", str(TINY), "--ckpt", str(run_dir / "generator.ckpt"),
            "--output", str(onnx_path), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "parity: max |onnxruntime - MindSpore|" in proc.stdout
    proc = subprocess.run([sys.executable, "runtime/photo2anime.py", "--model", str(onnx_path), "--input",
                           str(tmp_path / "cat.png"), "--output", str(tmp_path / "rt"), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runtime_out = read_rgb(tmp_path / "rt" / "cat_anime.png")
    infer.run(load_config(TINY, overrides), run_dir / "generator.ckpt", [str(tmp_path / "cat.png")],
              tmp_path / "ms", use_jit=False, progress=False)
    mindspore_out = read_rgb(tmp_path / "ms" / "cat.png")
    assert runtime_out.shape == mindspore_out.shape == (32, 40, 3)
    assert np.abs(runtime_out.astype(int) - mindspore_out).max() <= 2


@pytest.mark.parametrize("override, pattern", [
    ("generator.encoder_layer=relu5_1", "unknown encoder output"),
    ("generator.name=animeganv2_generator", "unknown config key 'generator.encoder_layer'"),
    ("generator.depth=3", "unknown config key 'generator.depth'"),
    ("loss.vgg_ckpt=/nonexistent/vgg.ckpt", "loss.vgg_ckpt"),
    ("data.image_size=36", "multiple of 8"),
    ("loss.rec_weight=-1", "non-negative"),
    ("optim.lr=0", "lr > 0"),
])
def test_bad_configs_name_the_problem(tiny_setup, override, pattern):
    _, overrides = tiny_setup
    with pytest.raises(ConfigError, match=pattern):
        FAMILIES.get("autoencoder")(load_config(TINY, overrides + [override]), Context())


def test_family_needs_the_autoencoder_network(tiny_setup):
    _, overrides = tiny_setup
    cfg = load_config(TINY, overrides)
    cfg["generator"] = {"name": "animeganv2_generator", "width": 0.125}
    with pytest.raises(ConfigError, match="needs generator.name: vgg_autoencoder"):
        FAMILIES.get("autoencoder")(cfg, Context())

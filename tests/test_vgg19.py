"""VGG19 loss network: conversion from the Caffe npy dict and from torchvision, numerics, loading errors."""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from mindspore_impl import vgg19_convert
from mindspore_impl.models.vgg19 import (VGG19_CONV_LAYERS, VGG_MEAN_BGR, VGG19Features, VGGWeightsError,
                                         load_vgg19, random_vgg19_checkpoint, random_vgg19_params,
                                         save_vgg19_checkpoint)

ROOT = Path(__file__).resolve().parents[1]
POOL_AFTER = ("conv1_2", "conv2_2", "conv3_4")
TAPS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def fake_caffe_dict(seed):
    """A random dict in the layout of vgg19.npy: {layer: [W (3,3,in,out), b]}, incl. layers the loss ignores."""
    rng = np.random.default_rng(seed)
    d = {}
    for name, cin, cout in VGG19_CONV_LAYERS:
        d[name] = [(rng.standard_normal((3, 3, cin, cout)) * np.sqrt(2 / (9 * cin))).astype(np.float32),
                   (rng.standard_normal(cout) * 0.1).astype(np.float32)]
    for name in ("conv5_1", "conv5_2", "conv5_3", "conv5_4", "fc6", "fc7", "fc8"):
        d[name] = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]  # unused by the loss; kept tiny
    return d


# --- NumPy reference of the official TF formulation (NHWC, HWIO, SAME conv and SAME max-pool) ------------------

def np_conv_same(x, w, b):
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = sliding_window_view(xp, (3, 3), axis=(1, 2))  # N, H, W, C, 3, 3
    return np.einsum("nhwcij,ijco->nhwo", win, w, optimize=True) + b


def np_maxpool_same(x):
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), constant_values=-np.inf)  # TF SAME: bottom/right
    return xp.reshape(n, xp.shape[1] // 2, 2, xp.shape[2] // 2, 2, c).max(axis=(2, 4))


def np_vgg_caffe(x_nchw, caffe):
    x = x_nchw.astype(np.float64).transpose(0, 2, 3, 1)
    h = (x + 1) * 127.5
    h = h[..., ::-1] - np.array(VGG_MEAN_BGR)
    taps = []
    for name, _, _ in VGG19_CONV_LAYERS:
        h = np_conv_same(h, caffe[name][0].astype(np.float64), caffe[name][1].astype(np.float64))
        if name == "conv4_4":
            break
        h = np.maximum(h, 0)
        if name in TAPS:
            taps.append(h.transpose(0, 3, 1, 2))
        if name in POOL_AFTER:
            h = np_maxpool_same(h)
    return h.transpose(0, 3, 1, 2), taps


def assert_close_rel(actual, expected, rel, what):
    scale = np.abs(expected).max()
    err = np.abs(actual - expected).max()
    assert err <= rel * scale, f"{what}: max abs err {err:.3g} > {rel} x max |ref| {scale:.3g}"


def test_caffe_npy_conversion_matches_tf_formulation(tmp_path):
    caffe = fake_caffe_dict(seed=1)
    npy = tmp_path / "vgg19.npy"
    np.save(npy, caffe, allow_pickle=True)
    ckpt = tmp_path / "vgg.ckpt"
    vgg19_convert.convert("caffe-npy", npy, ckpt)
    net = load_vgg19(ckpt, with_taps=True)
    # Odd, non-square size: exercises TF 'SAME' max-pooling (pads bottom/right on odd sizes).
    x = np.random.default_rng(2).uniform(-1, 1, (2, 3, 36, 44)).astype(np.float32)
    out, taps = net(ms.Tensor(x))
    ref, ref_taps = np_vgg_caffe(x, caffe)
    assert out.shape == ref.shape == (2, 512, 5, 6)
    # fp32 MindSpore vs float64 NumPy through 12 convolutions: 1e-4 of the output range.
    assert_close_rel(out.asnumpy(), ref, 1e-4, "conv4_4")
    for name, t, r in zip(TAPS, taps, ref_taps):
        assert_close_rel(t.asnumpy(), r, 1e-4, name)
    # The default output (no taps) is the same conv4_4 tensor.
    plain = load_vgg19(ckpt)
    np.testing.assert_array_equal(plain(ms.Tensor(x)).asnumpy(), out.asnumpy())
    assert all(not p.requires_grad for p in plain.get_parameters())
    assert not plain.training


def torchvision_reference(x_nchw, state, torch):
    """torchvision vgg19.features[:26] on its own front-end ((x/255 - mean)/std on RGB), float64."""
    F = torch.nn.functional
    t = torch.from_numpy(x_nchw.astype(np.float64))
    t = ((t + 1) / 2 - torch.tensor(vgg19_convert.TORCHVISION_MEAN_RGB, dtype=torch.float64).view(1, 3, 1, 1)) \
        / torch.tensor(vgg19_convert.TORCHVISION_STD_RGB, dtype=torch.float64).view(1, 3, 1, 1)
    taps = []
    for (name, _, _), idx in zip(VGG19_CONV_LAYERS, vgg19_convert.TORCHVISION_CONV_INDICES):
        t = F.conv2d(t, state[f"features.{idx}.weight"].double(), state[f"features.{idx}.bias"].double(),
                     padding=1)
        if name == "conv4_4":
            break
        t = F.relu(t)
        if name in TAPS:
            taps.append(t.numpy())
        if name in POOL_AFTER:
            t = F.max_pool2d(t, 2, 2)
    return t.numpy(), taps


def test_torchvision_conversion_folds_front_end(tmp_path):
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(3)
    state = {}
    for (name, cin, cout), idx in zip(VGG19_CONV_LAYERS, vgg19_convert.TORCHVISION_CONV_INDICES):
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * np.sqrt(2 / (9 * cin))
        state[f"features.{idx}.bias"] = torch.randn(cout, generator=gen) * 0.1
    for idx in vgg19_convert.TORCHVISION_UNUSED_CONV_INDICES:  # present in the real file, ignored
        state[f"features.{idx}.weight"] = torch.zeros(2, 2, 3, 3)
        state[f"features.{idx}.bias"] = torch.zeros(2)
    for idx in (0, 3, 6):
        state[f"classifier.{idx}.weight"] = torch.zeros(2, 2)
        state[f"classifier.{idx}.bias"] = torch.zeros(2)
    pth = tmp_path / "vgg19.pth"
    torch.save(state, pth)
    ckpt = tmp_path / "vgg.ckpt"
    assert vgg19_convert.main(["--from", "torchvision", "--input", str(pth), "--output", str(ckpt)]) == 0

    net = load_vgg19(ckpt, with_taps=True)
    x = np.random.default_rng(4).uniform(-1, 1, (1, 3, 128, 128)).astype(np.float32)
    out, taps = net(ms.Tensor(x))
    ref, ref_taps = torchvision_reference(x, state, torch)
    # Interior pixels (outside the ring that sees conv1_1's zero padding) are exact to fp32 tolerance.
    # The ring grows by 1 per conv and halves (rounding up) per pool: 1, 2, 3, 4 px at the four taps and at most
    # 7 px at conv4_4 (measured: 6).
    rings = {"conv1_1": 1, "conv2_1": 2, "conv3_1": 3, "conv4_1": 4}
    for name, t, r in zip(TAPS, taps, ref_taps):
        k = rings[name]
        assert_close_rel(t.asnumpy()[..., k:-k, k:-k], r[..., k:-k, k:-k], 1e-5, f"{name} interior")
    assert_close_rel(out.asnumpy()[..., 7:-7, 7:-7], ref[..., 7:-7, 7:-7], 1e-5, "conv4_4 interior")
    # Border pixels: a padded zero is the Caffe-mean grey here vs the ImageNet-mean grey in torchvision
    # (<= 0.5 grey levels apart); measured deviation 1.7e-4 of the output range with these seeds, bound 2e-3.
    assert_close_rel(out.asnumpy(), ref, 2e-3, "conv4_4 incl. borders")
    assert not np.allclose(out.asnumpy(), ref, rtol=0, atol=1e-6 * np.abs(ref).max()), \
        "border pixels were expected to differ slightly (test would not detect a broken fold otherwise)"


def test_fold_without_torch_reference_identity():
    """Folding is exact on a constant interior: the converted conv sees Caffe input, torchvision conv its own."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    pixel_rgb = rng.uniform(0, 255, 3)
    mean, std = np.array(vgg19_convert.TORCHVISION_MEAN_RGB), np.array(vgg19_convert.TORCHVISION_STD_RGB)
    tv_in = (pixel_rgb / 255 - mean) / std
    caffe_in = pixel_rgb[::-1] - np.array(VGG_MEAN_BGR)
    w2, b2 = vgg19_convert.fold_torchvision_front_end(w, b)
    expected = np.einsum("oihw,i->o", w, tv_in) + b
    got = np.einsum("oihw,i->o", w2, caffe_in) + b2
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_rename_table_rejects_unknown_missing_and_misshaped(tmp_path):
    base = fake_caffe_dict(seed=6)
    cases = {
        "unexpected tensor 'conv9_9/weights'": dict(base, conv9_9=[np.zeros(1), np.zeros(1)]),
        "missing tensor 'conv3_2/weights'": {k: v for k, v in base.items() if k != "conv3_2"},
        "'conv2_1/weights' -> 'conv2_1.weight' has shape": dict(
            base, conv2_1=[np.zeros((3, 3, 64, 127), np.float32), base["conv2_1"][1]]),
    }
    for expected, d in cases.items():
        npy = tmp_path / "bad.npy"
        np.save(npy, d, allow_pickle=True)
        with pytest.raises(vgg19_convert.ConversionError, match=expected.replace("(", r"\(")):
            vgg19_convert.convert("caffe-npy", npy, tmp_path / "out.ckpt")
        assert not (tmp_path / "out.ckpt").exists()


def test_load_vgg19_errors_name_the_problem(tmp_path):
    with pytest.raises(VGGWeightsError, match="not found"):
        load_vgg19(tmp_path / "nope.ckpt")
    params = random_vgg19_params(seed=0)
    bad_shape = dict(params, **{"conv4_2.bias": np.zeros(7, np.float32)})
    with pytest.raises(VGGWeightsError, match="conv4_2.bias"):
        save_vgg19_checkpoint(bad_shape, tmp_path / "x.ckpt")
    # Write a checkpoint missing one key directly (bypassing the checked writer) and load it.
    entries = [{"name": k, "data": ms.Tensor(v)} for k, v in params.items() if k != "conv3_3.weight"]
    partial = tmp_path / "partial.ckpt"
    ms.save_checkpoint(entries, str(partial))
    with pytest.raises(VGGWeightsError, match="missing key 'conv3_3.weight'"):
        load_vgg19(partial)
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(VGGWeightsError, match="cannot read checkpoint"):
        load_vgg19(corrupt)


def test_random_checkpoint_helper_is_deterministic(tmp_path):
    a = load_vgg19(random_vgg19_checkpoint(tmp_path / "a.ckpt", seed=7))
    b = load_vgg19(random_vgg19_checkpoint(tmp_path / "b.ckpt", seed=7))
    c = load_vgg19(random_vgg19_checkpoint(tmp_path / "c.ckpt", seed=8))
    x = ms.Tensor(np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    ya, yb, yc = a(x).asnumpy(), b(x).asnumpy(), c(x).asnumpy()
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(ya, yc)
    assert np.isfinite(ya).all() and np.abs(ya).max() > 1.0  # He init: activations neither vanish nor blow up
    assert [p.name for p in VGG19Features().get_parameters()][:2] == ["conv1_1.weight", "conv1_1.bias"]

    def features(x):  # how a jit'd train step calls the loss network
        return a(x)

    np.testing.assert_allclose(ms.jit(features)(x).asnumpy(), ya, rtol=1e-5, atol=1e-4)


def test_convert_cli_reports_errors(tmp_path):
    res = subprocess.run([sys.executable, "mindspore_impl/vgg19_convert.py", "--from", "caffe-npy", "--input",
                          str(tmp_path / "missing.npy"), "--output", str(tmp_path / "o.ckpt")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "missing.npy" in lines[-1]


class _RunsShell:
    """Unpickling this calls os.system(command): what a crafted vgg19.npy can do to np.load(allow_pickle=True)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os
        return os.system, (self.command,)


def test_caffe_npy_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    crafted = fake_caffe_dict(seed=9)
    crafted["conv1_1"] = [_RunsShell(f"touch {marker}"), crafted["conv1_1"][1]]
    npy = tmp_path / "vgg19.npy"
    np.save(npy, crafted, allow_pickle=True)
    with pytest.raises(vgg19_convert.ConversionError, match=r"forbidden global (posix|os|nt)\.system") as info:
        vgg19_convert.convert("caffe-npy", npy, tmp_path / "out.ckpt")
    assert "\n" not in str(info.value) and "vgg19.npy" in str(info.value)
    assert not marker.exists() and not (tmp_path / "out.ckpt").exists()
    # The file really is an exploit: the unrestricted loader runs the command (in tmp_path, harmlessly).
    np.load(npy, allow_pickle=True)
    assert marker.exists()


def test_caffe_npy_reader_accepts_both_numpy_spellings_and_rejects_other_files(tmp_path):
    caffe = fake_caffe_dict(seed=10)
    npy = tmp_path / "vgg19.npy"
    np.save(npy, caffe, allow_pickle=True)
    data = npy.read_bytes()
    # NumPy 1 writes numpy.core.multiarray._reconstruct, NumPy 2 numpy._core.multiarray._reconstruct
    # (protocol-3 GLOBAL opcodes are newline-terminated text, so the spelling can be swapped in place).
    spellings = [b"numpy.core.multiarray\n_reconstruct\n", b"numpy._core.multiarray\n_reconstruct\n"]
    written = [s for s in spellings if s in data]
    assert len(written) == 1 and data.count(written[0]) == 1
    swapped = tmp_path / "swapped.npy"
    swapped.write_bytes(data.replace(written[0], next(s for s in spellings if s not in written)))
    for path in (npy, swapped):
        flat = vgg19_convert.read_caffe_npy(path)
        np.testing.assert_array_equal(flat["conv3_2/weights"], caffe["conv3_2"][0])
        np.testing.assert_array_equal(flat["fc8/biases"], caffe["fc8"][1])

    np.save(tmp_path / "plain.npy", np.zeros(3, np.float32))
    (tmp_path / "text.npy").write_text("not numpy")
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    cases = {"plain.npy": "plain float32 array", "text.npy": "not a .npy file", "cut.npy": "damaged pickle",
             "absent.npy": "file not found"}
    for name, message in cases.items():
        with pytest.raises(vgg19_convert.ConversionError, match=message):
            vgg19_convert.read_caffe_npy(tmp_path / name)

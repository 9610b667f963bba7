"""The MindSpore AnimeGANv2 port's generator and VGG19 in our registry: parity with an independent NumPy formulation
of the port's layers on its own files (both namings), the checked name table, the leaves it needs and their ONNX
converters, export parity at odd sizes, and the port's VGG19-BN as a loss network.

Tolerance: 1e-4 max |ours - NumPy (float64)| for the generator (measured ~1e-5), 1e-4 relative for the VGG.
"""
from __future__ import annotations

import math

import mindspore as ms
import numpy as np
import pytest

from mindspore_impl import layers
from mindspore_impl.checkpoint_io import CheckpointError
from mindspore_impl.families.base import load_exported
from mindspore_impl.models.animeganv2_port import AnimeGANv2PortGenerator, PortInstanceNorm2d
from tests._export_helpers import assert_parity, images, op_types, randomize
from tests._port_helpers import (TRAINING_PREFIX, instance_norm, port_generator_numpy, port_shapes,
                                 port_vgg_numpy, port_vgg_weights, random_port_weights, resize_bilinear_tf1,
                                 same_pads, save_port_checkpoint)

C = 4  # tiny width: 4 → 8 → 16 → 32 channels, 64 in the inverted residuals
PORT_CONFIG = {"family": "animeganv2", "generator": {"name": "animeganv2_port_generator", "channels": C}}
ODD_AND_EVEN = [(17, 23), (16, 16), (13, 10), (9, 31)]  # odd, even, mixed: 'same' pads (1,1) vs (0,1)


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(scope="module")
def port_files(tmp_path_factory):
    """Random weights in the port's names, saved as its train.py (training wrapper) and a bare Generator save."""
    root = tmp_path_factory.mktemp("port")
    weights = random_port_weights(C, seed=3)
    save_port_checkpoint(weights, root / "netG_7.ckpt", training_wrapper=True)
    save_port_checkpoint(weights, root / "bare.ckpt", training_wrapper=False)
    return {"weights": weights, "training": root / "netG_7.ckpt", "bare": root / "bare.ckpt", "root": root}


def test_full_size_names_and_counts_equal_the_ports():
    """108 tensors, 2,115,264 values (the port's released files); convs only are trainable, as in the port,
    whose norms are built with affine=False."""
    net = AnimeGANv2PortGenerator()
    ours = {name: tuple(p.shape) for name, p in net.parameters_and_names()}
    assert ours == port_shapes(32)
    assert len(ours) == 108 and sum(math.prod(s) for s in ours.values()) == 2_115_264
    trainable = [name for name, p in net.parameters_and_names() if p.requires_grad]
    assert all(name.endswith("weight") for name in trainable) and len(trainable) == 24
    assert len(net.trainable_params()) == 24


@pytest.mark.parametrize("form", ["training", "bare"])
def test_port_files_load_and_match_numpy_formulation(port_files, form):
    net = load_exported(PORT_CONFIG, port_files[form]).net
    net.set_train(False)
    rng = np.random.default_rng(1)
    for h, w in ODD_AND_EVEN:
        x = rng.uniform(-1, 1, (2, 3, h, w)).astype(np.float32)
        got = net(ms.Tensor(x)).asnumpy()
        want = port_generator_numpy(x, port_files["weights"], C)
        assert got.shape == (2, 3, h, w)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=f"{form} {h}x{w}")


def test_the_parity_inputs_tell_the_modelled_details_apart(port_files):
    """Half-pixel resizing, or fixed stride-2 pads instead of 'same', change the reference by far more than the
    tolerance (or its size): the parity above checks the resize mode and the odd-size padding."""
    w = port_files["weights"]
    rng = np.random.default_rng(2)
    for h, wd in ((17, 23), (16, 16)):
        x = rng.uniform(-1, 1, (1, 3, h, wd))
        exact = port_generator_numpy(x, w, C)
        half = port_generator_numpy(x, w, C, resize=lambda t: resize_bilinear_tf1(t, half_pixel=True))
        assert np.abs(half - exact).max() > 1e-2
        wrong_pads = (0, 1) if h % 2 else (1, 1)  # the even-size pads on odd sizes, and vice versa
        other = port_generator_numpy(x, w, C, stride2_pads=wrong_pads)
        assert other.shape != exact.shape or np.abs(other - exact).max() > 1e-2


def test_wrong_checkpoints_name_the_first_mismatched_key(port_files, tmp_path):
    weights = dict(port_files["weights"])
    # an official-topology file: its first key matches no rule of the port's table
    from mindspore_impl.models.animeganv2 import AnimeGANv2Generator
    official = tmp_path / "official.ckpt"
    ms.save_checkpoint(AnimeGANv2Generator(width=0.125), str(official))
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'block_a\.0\.conv\.weight'"):
        load_exported(PORT_CONFIG, official)
    # a missing tensor is named in the file's own spelling
    del weights["generator.5.ins_norm2.moving_variance"]
    save_port_checkpoint(weights, tmp_path / "missing.ckpt", training_wrapper=True)
    with pytest.raises(CheckpointError, match=rf"missing tensor '{TRAINING_PREFIX}generator\.5\.ins_norm2\."
                                              r"moving_variance'"):
        load_exported(PORT_CONFIG, tmp_path / "missing.ckpt")
    # another width: the shape check names the key
    with pytest.raises(CheckpointError, match=r"'generator\.0\.conv\.weight' has shape \(4, 3, 7, 7\), but"):
        load_exported({**PORT_CONFIG, "generator": {"name": "animeganv2_port_generator", "channels": 8}},
                      port_files["bare"])
    # a file mixing both namings is refused at its first bare key
    mixed = {TRAINING_PREFIX + k: v for k, v in port_files["weights"].items()}
    mixed["generator.1.conv.weight"] = mixed.pop(TRAINING_PREFIX + "generator.1.conv.weight")
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in mixed.items()], str(tmp_path / "mixed.ckpt"))
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'generator\.1\.conv\.weight'"):
        load_exported(PORT_CONFIG, tmp_path / "mixed.ckpt")


def test_importer_writes_our_plain_checkpoint(port_files, tmp_path):
    """import_weights.py --family animeganv2_mindspore_port: the one rename table, both namings; a width other than
    the released 32 is refused naming the key."""
    from mindspore_impl import import_weights as cli
    from mindspore_impl.weights import WeightImportError, find_importer

    importer = find_importer("animeganv2_mindspore_port")
    full = random_port_weights(32, seed=5)
    save_port_checkpoint(full, tmp_path / "Hayao.ckpt", training_wrapper=True)
    summary = cli.import_weights(importer, tmp_path / "Hayao.ckpt", tmp_path / "G.ckpt")
    assert summary["tensors"] == 108 and summary["parameters"] == 2_115_264
    loaded = ms.load_checkpoint(str(tmp_path / "G.ckpt"))
    assert loaded["__family__"] == "animeganv2" and loaded["__network__"] == "G"
    np.testing.assert_array_equal(loaded["generator.5.depthwise_conv.weight"].asnumpy(),
                                  full["generator.5.depthwise_conv.weight"])
    with pytest.raises(WeightImportError, match="generator.0.conv.weight"):
        cli.import_weights(importer, port_files["bare"], tmp_path / "narrow.ckpt")


# ------------------------------------------------------------------------------------------------ leaves

@pytest.mark.parametrize("kernel,stride", [(3, 2), (3, 1), (7, 1), (1, 1), (4, 3)])
def test_same_padding_equals_mindspore_pad_mode_same(kernel, stride):
    """SamePad2d/same_zero_pad + a valid conv = MindSpore's own nn.Conv2d(pad_mode='same') and the NumPy rule, at
    odd and even sizes."""
    from mindspore import nn

    rng = np.random.default_rng(kernel * 10 + stride)
    ref = nn.Conv2d(3, 5, kernel, stride=stride, pad_mode="same", has_bias=False)
    ours = layers.Conv2d(3, 5, kernel, stride=stride)
    ours.weight.set_data(ref.weight.data)
    pad = layers.same_zero_pad(kernel, stride)
    for h, w in ODD_AND_EVEN:
        x = ms.Tensor(images(rng, 2, 3, h, w))
        padded = pad(x) if pad is not None else x
        np.testing.assert_allclose(ours(padded).asnumpy(), ref(x).asnumpy(), atol=1e-5)
        (t, b), (l, r) = same_pads(h, kernel, stride), same_pads(w, kernel, stride)
        assert padded.shape[2:] == (h + t + b, w + l + r)


@pytest.mark.parametrize("kernel,stride", [(3, 2), (3, 1), (4, 3)])
def test_same_pad_exports_one_graph_for_every_size(kernel, stride):
    from export.parity import make_session

    rng = np.random.default_rng(0)
    cell = layers.SamePad2d(kernel, stride)
    session = make_session(assert_parity(cell, images(rng, 2, 3, 9, 10)))
    for h, w in [(8, 8), (7, 11), (2, 1)]:
        x = images(rng, 1, 3, h, w)
        np.testing.assert_array_equal(session.run(None, {"x0": x})[0], cell(ms.Tensor(x)).asnumpy())


def test_same_pad_and_crop_gradients_agree_in_graph_mode_and_pynative():
    """Training the port's network runs these leaves inside ms.jit; their gradients equal PyNative's at odd sizes,
    over repeated calls (ops.pad's constant mode goes wrong from the second jit call on MindSpore 2.8.0)."""
    from mindspore import nn, ops

    class Probe(nn.Cell):
        def __init__(self):
            super().__init__()
            self.pad, self.conv, self.crop = layers.SamePad2d(3, 2), layers.Conv2d(2, 2, 3, stride=2), layers.CropLike()
            self.up = layers.Upsample(2, "asymmetric")

        def construct(self, x):
            return self.crop(self.up(self.conv(self.pad(x))), x)

    net = Probe()

    def loss(x):
        return (net(x) ** 2).sum()

    eager = ms.value_and_grad(loss, None, net.trainable_params())
    graph = ms.jit(ms.value_and_grad(loss, None, net.trainable_params()))
    for h, w in ((9, 11), (10, 12), (9, 11)):
        x = ms.Tensor(images(np.random.default_rng(h), 1, 2, h, w))
        (v1, g1), (v2, g2) = eager(x), graph(x)
        assert net(x).shape == (1, 2, h, w)
        np.testing.assert_allclose(float(v2), float(v1), rtol=1e-5)
        np.testing.assert_allclose(g2[0].asnumpy(), g1[0].asnumpy(), rtol=1e-4, atol=1e-5)


def test_upsample_asymmetric_is_the_tf1_resize_bilinear():
    """The removed nn.ResizeBilinear's coordinates: asymmetric (source = dest / 2), not half-pixel."""
    x = images(np.random.default_rng(5), 2, 3, 5, 7)
    got = layers.Upsample(2, "asymmetric")(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(got, resize_bilinear_tf1(x.astype(np.float64)), atol=1e-6)
    assert np.abs(got - resize_bilinear_tf1(x.astype(np.float64), half_pixel=True)).max() > 0.1


def test_crop_like_exports_a_slice_to_the_reference_size():
    from export.parity import make_session

    rng = np.random.default_rng(0)
    model = assert_parity(layers.CropLike(), images(rng, 2, 3, 12, 16), images(rng, 1, 1, 9, 13))
    assert "Slice" in op_types(model)
    out = make_session(model).run(None, {"x0": images(rng, 1, 3, 20, 20), "x1": images(rng, 1, 3, 17, 18)})[0]
    assert out.shape == (1, 3, 17, 18)


def test_port_instance_norm_uses_its_epsilon_and_gamma_beta():
    """eps 1e-5 inside the square root (a 1e-12 norm differs by far more on low-variance input), gamma and beta
    applied although not trainable, the stored moving statistics unused; exports with parity."""
    rng = np.random.default_rng(4)
    norm = randomize(PortInstanceNorm2d(6), seed=4)
    assert not any(p.requires_grad for p in norm.get_parameters())
    x = images(rng, 2, 6, 5, 7) * 3e-3  # variance ~3e-6: comparable to eps
    gamma, beta = norm.gamma.asnumpy(), norm.beta.asnumpy()
    got = norm(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(got, instance_norm(x.astype(np.float64), gamma, beta, 1e-5), atol=1e-4)
    assert np.abs(got - instance_norm(x.astype(np.float64), gamma, beta, 1e-12)).max() > 0.1
    assert_parity(norm, x, atol=1e-5)


# ------------------------------------------------------------------------------------------------ export

def test_export_parity_at_odd_sizes_and_the_runtime_size_contract(port_files, tmp_path):
    """The exported graph equals our variant (the export layer's check) at odd and even sizes and batches 1 and
    4, returns the input's size, and runs in the runtime's Generator at any size."""
    from export.api import export_generator
    from runtime.session import Generator

    net = load_exported(PORT_CONFIG, port_files["training"]).net
    path = tmp_path / "port.onnx"
    result = export_generator(net, path, family="animeganv2", style="port", check_sizes=[(17, 23), (16, 16)],
                              progress=False)
    assert result.parity.max_abs_diff < 1e-4 and result.interface.size_multiple == 1
    generator = Generator(path)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (1, 35, 21, 3), dtype=np.uint8)
    out = generator(photo)
    assert out.shape == photo.shape
    want = port_generator_numpy(photo.transpose(0, 3, 1, 2) / 127.5 - 1.0, port_files["weights"], C)
    want8 = np.clip(np.rint((want.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255)
    assert np.abs(out.astype(np.int64) - want8).max() <= 1


# ------------------------------------------------------------------------------------------------ VGG19-BN

@pytest.mark.parametrize("full_file", [True, False])
def test_port_vgg_features_match_numpy_formulation(tmp_path, full_file):
    """vgg.ckpt-named random weights (a whole VGG19-BN file, or only the port's layers) → PortVGG19BN's conv4_4+BN
    equals NumPy's truncated VGG19-BN in eval mode on raw [-1, 1] RGB."""
    from mindspore_impl.models.vgg19 import load_loss_vgg

    weights = port_vgg_weights(seed=1, full_vgg19_bn=full_file)
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in weights.items()], str(tmp_path / "vgg.ckpt"))
    vgg = load_loss_vgg("mindspore_port", tmp_path / "vgg.ckpt")
    assert not vgg.trainable_params() and not vgg.training
    x = images(np.random.default_rng(0), 2, 3, 24, 32)
    got = vgg(ms.Tensor(x)).asnumpy()
    want = port_vgg_numpy(x, weights)
    assert got.shape == (2, 512, 3, 4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())


def test_port_vgg_refuses_unknown_and_missing_tensors(tmp_path):
    from mindspore_impl.models.vgg19 import VGGWeightsError, load_loss_vgg

    weights = port_vgg_weights(seed=1, full_vgg19_bn=False)
    extra = {**weights, "layers.0.bias": np.zeros(64, np.float32)}
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in extra.items()], str(tmp_path / "a.ckpt"))
    with pytest.raises(VGGWeightsError, match=r"unexpected tensor 'layers\.0\.bias'"):
        load_loss_vgg("mindspore_port", tmp_path / "a.ckpt")
    del weights["layers.37.moving_mean"]
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in weights.items()], str(tmp_path / "b.ckpt"))
    with pytest.raises(VGGWeightsError, match=r"missing tensor 'layers\.37\.moving_mean'"):
        load_loss_vgg("mindspore_port", tmp_path / "b.ckpt")
    with pytest.raises(VGGWeightsError, match="unknown VGG variant 'torch'"):
        load_loss_vgg("torch", tmp_path / "b.ckpt")

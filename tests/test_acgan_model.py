"""ACGAN networks: full-size parameter counts, the study's torch G and D against ours through the importers (random
study-format weights), the importers' strictness and CLI, and the ONNX export against the study's G in eval mode.

The reference here is the study's formulation (bchao1/Anime-Generation old/old_src/ACGAN.py) rebuilt in torch
from its layer list; torch tests skip where torch is not installed. Tolerances: 1e-4 absolute on tanh / sigmoid
outputs (float32 convolutions summed in another order), 2e-4 on the exported graph (BatchNorm folded into the convs).
"""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import onnx
import pytest

from datasets.acgan_tags import EYES, HAIR, one_hot
from mindspore_impl.layers import count_params
from mindspore_impl.models.acgan import ACGANDiscriminator, ACGANGenerator
from mindspore_impl.weights import WeightImportError, apply_table, find_importer
from mindspore_impl.weights.acgan_pt import ACGAN_D_TABLE, ACGAN_G_TABLE
from runtime.interface import Interface

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def test_full_size_parameter_counts_are_the_studys():
    g, d = ACGANGenerator(), ACGANDiscriminator()
    assert count_params(g) == 13_018_883 and count_params(d) == 19_437_591
    assert len(g.parameters_dict()) + 4 == 26  # the study's state dict adds one num_batches_tracked per BatchNorm


def test_interface_and_shapes():
    g = ACGANGenerator(ngf=2, image_size=32)
    spec = g.interface()
    assert spec.task == "sample" and [p.name for p in spec.inputs] == ["z", "tags"]
    assert spec.port("tags").groups == (("hair", HAIR), ("eye", EYES)) and spec.port("image").shape == (
        "batch", 3, 32, 32)
    assert spec.metadata["sample_sigma"] == "0.9"
    z = ms.Tensor(np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32))
    image = g(z, ms.Tensor(one_hot([0, 1, 2], [3, 4, 5])))
    assert image.shape == (3, 3, 32, 32) and float(abs(image).max()) <= 1
    score, classes = ACGANDiscriminator(ndf=2, image_size=32)(image)
    assert score.shape == (3,) and classes.shape == (3, 22)
    with pytest.raises(ValueError, match="image_size must be one of"):
        ACGANGenerator(image_size=48)


# -- the study's networks in torch -------------------------------------------------------------------------------
def study_generator(torch, z_dim=100, ngf=64, size=64):
    """old/old_src/ACGAN.py's Generator.gen, with its widths scaled by ngf/64 and size/64 for speed."""
    nn = torch.nn
    widths = [16 * ngf // 2 ** k for k in range(int(np.log2(size)) - 2)]
    cells = [nn.ConvTranspose2d(z_dim + 22, widths[0], 4, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for a, b in zip(widths, widths[1:]):
        cells += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
    cells += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1), nn.Tanh()]
    module = nn.Module()
    module.gen = nn.Sequential(*cells)
    return module


def study_discriminator(torch, ndf=64):
    """old/old_src/ACGAN.py's Discriminator (64² input), widths scaled by ndf/64."""
    nn = torch.nn
    w = [2 * ndf, 4 * ndf, 8 * ndf, 16 * ndf]
    module = nn.Module()
    module.conv_layers = nn.Sequential(
        nn.Conv2d(3, w[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(w[0], w[1], 4, 2, 1, bias=False), nn.BatchNorm2d(w[1]), nn.LeakyReLU(0.2),
        nn.Conv2d(w[1], w[2], 4, 2, 1, bias=False), nn.BatchNorm2d(w[2]), nn.LeakyReLU(0.2),
        nn.Conv2d(w[2], w[3], 4, 2, 1, bias=False), nn.BatchNorm2d(w[3]), nn.LeakyReLU(0.2))
    module.discriminator_layer = nn.Sequential(nn.Conv2d(w[3], 1, 4, 1), nn.Sigmoid())
    module.bottleneck = nn.Sequential(nn.Conv2d(w[3], 8 * ndf, 4, 1), nn.BatchNorm2d(8 * ndf), nn.LeakyReLU(0.2))
    module.classifier_layer = nn.Sequential(nn.Linear(8 * ndf, 22), nn.Sigmoid())
    return module


def randomize_batch_norms(torch, module, seed=0):
    """Non-trivial running statistics and affine terms, so eval-mode BatchNorm is really tested."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.num_batches_tracked.fill_(50000)
    return module.eval()


def save_study_checkpoint(torch, module, path):
    """old/old_src/utils.save_model: {'model', 'optim', 'step', 'log'} under a MindSpore-looking name."""
    optim = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))
    torch.save({"model": module.state_dict(), "optim": optim.state_dict(), "step": 50000, "log": (1.2, 0.7)}, path)
    return path


def import_cli(*args):
    return subprocess.run([sys.executable, "mindspore_impl/import_weights.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def study_g(tmp_path_factory):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    g = randomize_batch_norms(torch, study_generator(torch, ngf=2, size=64))
    d = tmp_path_factory.mktemp("study_g")
    return torch, g, save_study_checkpoint(torch, g, d / "G_50000.ckpt")


def test_generator_importer_matches_the_studys_generator(study_g, tmp_path):
    torch, g, ckpt = study_g
    done = import_cli("--family", "acgan", "--input", ckpt, "--output", tmp_path / "G.ckpt")
    assert done.returncode == 0, done.stderr
    assert "22 tensors" in done.stdout and f"--config {tmp_path / 'G.yaml'}" in done.stdout
    from mindspore_impl.config import load_config
    from mindspore_impl.families.base import load_exported

    cfg = load_config(tmp_path / "G.yaml")
    assert cfg["generator"] == {"name": "acgan_generator", "z_dim": 100, "ngf": 2, "image_size": 64}
    net = load_exported(cfg, tmp_path / "G.ckpt").net
    net.set_train(False)
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 100)).astype(np.float32)
    tags = one_hot(rng.integers(0, 12, 4), rng.integers(0, 10, 4))
    want = g.gen(torch.cat([torch.tensor(z), torch.tensor(tags)], 1)[:, :, None, None]).detach().numpy()
    got = net(ms.Tensor(z), ms.Tensor(tags)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert np.abs(want).mean() > 0.05  # not a trivially flat output


def test_export_equals_the_studys_generator_in_eval_mode(study_g, tmp_path):
    from export.to_onnx import main as to_onnx
    from mindspore_impl.import_weights import main as import_weights

    torch, g, ckpt = study_g
    import_weights(["--family", "acgan", "--input", str(ckpt), "--output", str(tmp_path / "G.ckpt")])
    assert to_onnx(["--config", str(tmp_path / "G.yaml"), "--ckpt", str(tmp_path / "G.ckpt"), "--output",
                    str(tmp_path / "acgan.onnx"), "--quiet"]) == 0
    model = onnx.load(tmp_path / "acgan.onnx")
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims == {"z": ["batch", 100], "tags": ["batch", 22]}
    assert [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [
        "batch", 3, 64, 64]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["task"] == "sample" and meta["sample_sigma"] == "0.9" and meta["hair_tags"] == ",".join(HAIR)
    assert Interface.from_json(meta["interface"]).port("tags").groups == (("hair", HAIR), ("eye", EYES))
    from runtime.session import make_session

    session = make_session(tmp_path / "acgan.onnx")
    for n in (1, 5):
        rng = np.random.default_rng(n)
        z = rng.standard_normal((n, 100)).astype(np.float32)
        tags = one_hot(rng.integers(0, 12, n), rng.integers(0, 10, n))
        want = g.gen(torch.cat([torch.tensor(z), torch.tensor(tags)], 1)[:, :, None, None]).detach().numpy()
        got = session.run(None, {"z": z, "tags": tags})[0]
        assert got.shape == (n, 3, 64, 64)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)


def test_discriminator_importer_matches_the_studys_discriminator(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    d = randomize_batch_norms(torch, study_discriminator(torch, ndf=2), seed=3)
    ckpt = save_study_checkpoint(torch, d, tmp_path / "D_50000.ckpt")
    from mindspore_impl.import_weights import main as import_weights

    import_weights(["--family", "acgan", "--network", "D", "--input", str(ckpt), "--output", str(tmp_path / "D.ckpt")])
    from mindspore_impl.checkpoint_io import load_network_weights

    net = ACGANDiscriminator(ndf=2)
    assert load_network_weights(net, tmp_path / "D.ckpt", "D", ("G", "D"))[0] == "D"
    net.set_train(False)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 3, 64, 64)).astype(np.float32)
    score, classes = net(ms.Tensor(x))
    feats = d.conv_layers(torch.tensor(x))
    t_score = d.discriminator_layer(feats).view(-1).detach().numpy()
    t_classes = d.classifier_layer(d.bottleneck(feats).squeeze()).detach().numpy()
    np.testing.assert_allclose(score.asnumpy(), t_score, rtol=0, atol=1e-4)
    np.testing.assert_allclose(classes.asnumpy(), t_classes, rtol=0, atol=1e-4)


def test_full_size_study_keys_map_onto_our_full_size_networks():
    """The rename tables at the study's real size, from its key list (no torch needed)."""
    g_keys = {"gen.0.weight": (122, 1024, 4, 4), "gen.12.weight": (128, 3, 4, 4), "gen.12.bias": (3,)}
    for i, c, w in ((3, 512, (1024, 512, 4, 4)), (6, 256, (512, 256, 4, 4)), (9, 128, (256, 128, 4, 4))):
        g_keys[f"gen.{i}.weight"] = w
    for i, c in ((1, 1024), (4, 512), (7, 256), (10, 128)):
        g_keys.update({f"gen.{i}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")})
        g_keys[f"gen.{i}.num_batches_tracked"] = ()
    g = ACGANGenerator()
    state = {k: np.zeros(s, np.float32) for k, s in g_keys.items()}
    params = apply_table(state, ACGAN_G_TABLE, {n: tuple(p.shape) for n, p in g.parameters_and_names()}, "G")
    assert len(state) == 26 and len(params) == 22 and params["gen.1.gamma"].shape == (1024,)
    d = ACGANDiscriminator()
    d_keys = {"conv_layers.0.weight": (128, 3, 4, 4), "discriminator_layer.0.weight": (1, 1024, 4, 4),
              "discriminator_layer.0.bias": (1,), "bottleneck.0.weight": (512, 1024, 4, 4), "bottleneck.0.bias": (512,),
              "classifier_layer.0.weight": (22, 512), "classifier_layer.0.bias": (22,)}
    for conv, norm, c_in, c in ((2, 3, 128, 256), (5, 6, 256, 512), (8, 9, 512, 1024)):
        d_keys[f"conv_layers.{conv}.weight"] = (c, c_in, 4, 4)
        d_keys.update({f"conv_layers.{norm}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")})
        d_keys[f"conv_layers.{norm}.num_batches_tracked"] = ()
    d_keys.update({f"bottleneck.1.{k}": (512,) for k in ("weight", "bias", "running_mean", "running_var")})
    d_keys["bottleneck.1.num_batches_tracked"] = ()
    state = {k: np.zeros(s, np.float32) for k, s in d_keys.items()}
    params = apply_table(state, ACGAN_D_TABLE, {n: tuple(p.shape) for n, p in d.parameters_and_names()}, "D")
    assert len(params) == 26 and params["conv_layers.3.norm.moving_variance"].shape == (1024,)


def test_importer_is_strict_and_never_chooses_the_format_by_suffix(study_g, tmp_path):
    from mindspore_impl.checkpoint_io import save_checkpoint_atomic
    from mindspore_impl.import_weights import import_weights

    torch, g, _ = study_g
    importer = find_importer("acgan")
    state = g.state_dict()
    missing = dict(state)
    del missing["gen.4.running_var"]
    torch.save({"model": missing, "step": 1}, tmp_path / "G_missing.ckpt")
    with pytest.raises(WeightImportError, match="missing tensor 'gen.4.running_var'"):
        import_weights(importer, tmp_path / "G_missing.ckpt", tmp_path / "a.ckpt")
    torch.save({"model": {**state, "gen.13.weight": torch.zeros(3)}}, tmp_path / "G_extra.ckpt")
    with pytest.raises(WeightImportError, match="unexpected tensor 'gen.13.weight'"):
        import_weights(importer, tmp_path / "G_extra.ckpt", tmp_path / "b.ckpt")
    # a real MindSpore checkpoint with the same suffix is read as what it is, and refused as not a torch file
    save_checkpoint_atomic(ACGANGenerator(ngf=2), tmp_path / "G_ms.ckpt")
    with pytest.raises(WeightImportError, match="not a readable PyTorch state dict"):
        import_weights(importer, tmp_path / "G_ms.ckpt", tmp_path / "c.ckpt")
    assert not any((tmp_path / n).exists() for n in ("a.ckpt", "b.ckpt", "c.ckpt"))
    with pytest.raises(WeightImportError, match="has no importer for network 'G_ema'"):
        find_importer("acgan", "G_ema")


def test_conv_transpose_gradients_in_graph_mode_equal_torch():
    """layers.ConvTranspose2d trained under ms.jit (as the trainer runs G): loss, input and weight gradients equal
    torch's (its Conv2DTranspose once carried the wrong out_channel, which only graph-mode gradients reject)."""
    torch = pytest.importorskip("torch")
    from mindspore_impl import layers

    for c_in, c_out, stride, pad in ((6, 3, 2, 1), (5, 8, 1, 0)):
        cell = layers.ConvTranspose2d(c_in, c_out, 4, stride=stride, padding=pad, bias=True)
        ref = torch.nn.ConvTranspose2d(c_in, c_out, 4, stride, pad)
        ref.weight.data = torch.tensor(cell.weight.asnumpy())
        ref.bias.data = torch.normal(0, 1, (c_out,))
        cell.bias.set_data(ms.Tensor(ref.bias.detach().numpy()))
        x = np.random.default_rng(c_in).standard_normal((2, c_in, 5, 5)).astype(np.float32)
        r = np.random.default_rng(c_out).standard_normal(tuple(ref(torch.tensor(x)).shape)).astype(np.float32)

        def loss(v):
            return (cell(v) * ms.Tensor(r)).sum()

        value, (dx, (dw, db)) = ms.jit(ms.value_and_grad(loss, 0, cell.trainable_params()))(ms.Tensor(x))
        tx = torch.tensor(x, requires_grad=True)
        t_loss = (ref(tx) * torch.tensor(r)).sum()
        t_loss.backward()
        assert abs(float(value) - t_loss.item()) < 1e-4
        np.testing.assert_allclose(dx.asnumpy(), tx.grad.numpy(), atol=1e-4)
        np.testing.assert_allclose(dw.asnumpy(), ref.weight.grad.numpy(), atol=1e-4)
        np.testing.assert_allclose(db.asnumpy(), ref.bias.grad.numpy(), atol=1e-4)

"""Export from a network's declared interface: 1-channel images, (z, tags) → image, z (+ truncation_psi) → image;
parity inputs and metadata come from the ports, outputs are checked against them, `to_onnx --network` picks the
named network of a training run, and a sampling network samples through the runtime's sampler."""
import json

import mindspore as ms
import numpy as np
import onnx
import pytest
from mindspore import nn

from export.api import export_generator, interface_of, parity_feeds
from export.errors import ExportError
from mindspore_impl import layers
from runtime.interface import Interface, Port, image_port, image_to_image
from tests._export_helpers import randomize

HAIR, EYES = ("orange", "white", "aqua"), ("black", "blue")


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


class GreyToColour(nn.Cell):
    """1-channel page → 3-channel image, same size (a colorizer's shape)."""

    def __init__(self):
        super().__init__()
        self.body = nn.SequentialCell([layers.ConvNormAct(1, 4, 3, padding=1, norm="none", act="lrelu"),
                                       layers.ConvNormAct(4, 3, 3, padding=1, norm="none", act="tanh")])

    def interface(self):
        return image_to_image("colorize", in_channels=1, out_channels=3, size_multiple=2)

    def construct(self, x):
        return self.body(x)


class TagSampler(nn.Cell):
    """(z [N, 6], tags [N, 5]) → [N, 3, 8, 8], the ACGAN shape: concat, project, reshape, upsample, tanh."""

    def __init__(self, z_dim=6):
        super().__init__()
        self.z_dim = z_dim
        self.cat = layers.Concat(axis=1)
        self.fc = layers.Dense(z_dim + 5, 8 * 4 * 4)
        self.to_map = layers.Reshape((-1, 8, 4, 4))
        self.up = layers.ConvTranspose2d(8, 3, 4, stride=2, padding=1, bias=True)
        self.out = layers.Tanh()

    def interface(self):
        return Interface("sample", (Port("z", "noise", ("batch", self.z_dim)),
                                    Port("tags", "onehot", ("batch", 5), groups=(("hair", HAIR), ("eye", EYES)))),
                         (Port("image", "image", ("batch", 3, 8, 8), range=(-1, 1)),),
                         metadata={"tag_note": "toy"})

    def construct(self, z, tags):
        return self.out(self.up(self.to_map(self.fc(self.cat(z, tags)))))


class PsiSampler(nn.Cell):
    """(z, truncation_psi) → image: the latent is scaled by psi around 0 (truncation toward w_avg = 0)."""

    def __init__(self):
        super().__init__()
        self.fc = layers.Dense(4, 3 * 4 * 4)
        self.to_map = layers.Reshape((-1, 3, 4, 4))
        self.out = layers.Tanh()

    def interface(self):
        return Interface("sample", (Port("z", "noise", ("batch", 4)),
                                    Port("truncation_psi", "scalar", (), default=1.0)),
                         (Port("image", "image", ("batch", 3, 4, 4), range=(-1, 1)),))

    def construct(self, z, psi):
        return self.out(self.to_map(self.fc(z * psi)))


def meta_of(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def test_one_channel_image_network_exports_with_its_channels(tmp_path):
    net = randomize(GreyToColour())
    result = export_generator(net, tmp_path / "c.onnx", family="toy", check_batches=(1, 3), progress=False)
    assert result.parity.max_abs_diff <= 1e-4 and len(result.parity.cases) == 4
    assert {tuple(s[0][0]) for s in result.parity.shapes} == {(1, 1, 32, 32), (3, 1, 32, 32), (1, 1, 48, 64),
                                                             (3, 1, 48, 64)}
    model = onnx.load(tmp_path / "c.onnx")
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]
    meta = meta_of(tmp_path / "c.onnx")
    assert meta["task"] == "colorize" and meta["size_multiple"] == "2"
    assert Interface.from_json(meta["interface"]).inputs[0].channels == 1


def test_tag_sampler_exports_from_its_ports(tmp_path):
    net = randomize(TagSampler())
    result = export_generator(net, tmp_path / "s.onnx", family="toy", network="G", progress=False)
    assert result.parity.max_abs_diff <= 1e-4
    assert [s[0] for s in result.parity.shapes] == [[[1, 6], [1, 5]], [[4, 6], [4, 5]]]
    model = onnx.load(tmp_path / "s.onnx")
    assert [i.name for i in model.graph.input] == ["z", "tags"] and model.graph.output[0].name == "image"
    meta = meta_of(tmp_path / "s.onnx")
    assert meta["task"] == "sample" and meta["tag_note"] == "toy" and "layout" not in meta
    assert Interface.from_json(meta["interface"]).port("tags").groups == (("hair", HAIR), ("eye", EYES))


def test_parity_feeds_follow_the_ports():
    feeds = parity_feeds(TagSampler().interface(), [(32, 32)], (1, 4), seed=3)
    for feed in feeds:
        hair, eye = feed["tags"][:, :3], feed["tags"][:, 3:]
        assert np.all(hair.sum(1) == 1) and np.all(eye.sum(1) == 1) and set(np.unique(feed["tags"])) == {0, 1}
    assert feeds[1]["z"].shape == (4, 6) and abs(feeds[1]["z"].std() - 1) < 0.5
    psi = [f["truncation_psi"] for f in parity_feeds(PsiSampler().interface(), [], (1, 4))]
    assert [p.shape for p in psi] == [(), ()] and [float(p) for p in psi] == [1.0, pytest.approx(0.7)]


def test_scalar_truncation_input_exports(tmp_path):
    net = randomize(PsiSampler())
    export_generator(net, tmp_path / "p.onnx", family="toy", progress=False)
    model = onnx.load(tmp_path / "p.onnx")
    psi = next(i for i in model.graph.input if i.name == "truncation_psi")
    assert len(psi.type.tensor_type.shape.dim) == 0
    from runtime.session import make_session

    session = make_session(str(tmp_path / "p.onnx"))
    z = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    for value in (1.0, 0.5):
        got = session.run(None, {"z": z, "truncation_psi": np.array(value, np.float32)})[0]
        want = net(ms.Tensor(z), ms.Tensor(np.array(value, np.float32))).asnumpy()
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_output_that_breaks_its_declared_shape_is_refused(tmp_path):
    class Halves(nn.Cell):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2d(3, 3, 2, stride=2)

        def interface(self):
            return image_to_image(size_multiple=2)  # claims same size out

        def construct(self, x):
            return self.conv(x)

    with pytest.raises(ExportError, match=r"declares \['batch', 3, 'height', 'width'\]"):
        export_generator(randomize(Halves()), tmp_path / "h.onnx", progress=False)
    assert not (tmp_path / "h.onnx").exists()


def test_networks_without_a_declaration_are_refused(tmp_path):
    with pytest.raises(ExportError, match="neither interface"):
        interface_of(layers.ReLU())
    spec = interface_of(GreyToColour(), task="stylize")
    assert spec.task == "stylize" and spec.inputs[0] == image_port("input", 1)


def test_exported_tag_sampler_samples_through_the_runtime(tmp_path):
    """MindSpore's network and the runtime's Sampler give the same images for the same seeds and tags."""
    from runtime.sampler import Sampler, make_grid

    net = randomize(TagSampler())
    export_generator(net, tmp_path / "s.onnx", family="toy", progress=False)
    sampler = Sampler(tmp_path / "s.onnx", provider="cpu")
    assert sampler.z_dim == 6 and sampler.tag_groups == {"hair": HAIR, "eye": EYES}
    z = sampler.latents([0, 1, 2])
    np.testing.assert_array_equal(z[1], np.random.RandomState(1).randn(6).astype(np.float32))
    tags = sampler.encode_tags({"hair": "aqua", "eye": "blue"})
    np.testing.assert_array_equal(tags, [0, 0, 1, 0, 1])
    images = sampler(z, tags)
    want = net(ms.Tensor(z), ms.Tensor(np.tile(tags, (3, 1)))).asnumpy()
    want = np.rint((np.clip(want, -1, 1) + 1) * 127.5).transpose(0, 2, 3, 1)
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.uint8
    assert np.abs(images.astype(int) - want).max() <= 1  # rounding at a pixel-level boundary
    grid = make_grid(images, 1, 3)
    assert grid.shape[0] >= 8 and grid.shape[1] >= 24


def test_mindspore_generate_gives_the_runtimes_images(tmp_path):
    """mindspore_impl/generate.py (MindSpore) and runtime/sample.py (the ONNX export) write the same pictures for
    the same seeds and tags, within one grey level of float rounding."""
    import yaml

    from mindspore_impl.generate import main as generate
    from mindspore_impl.registry import MODELS
    from runtime.imaging import load_image
    from runtime.sample import main as sample

    if "toy_tag_sampler" not in MODELS:
        MODELS.register("toy_tag_sampler")(TagSampler)
    net = randomize(TagSampler())
    ckpt = tmp_path / "G.ckpt"
    ms.save_checkpoint(net, str(ckpt))
    config = tmp_path / "G.yaml"
    config.write_text(yaml.safe_dump({"generator": {"name": "toy_tag_sampler", "z_dim": 6}}))
    export_generator(net, tmp_path / "G.onnx", family="toy", progress=False)
    common = ["--seeds", "3-5", "--tag", "hair=white", "--tag", "eye=black"]
    generate(["--config", str(config), "--network", str(ckpt), "--outdir", str(tmp_path / "ms"), *common])
    sample(["--model", str(tmp_path / "G.onnx"), "--outdir", str(tmp_path / "ort"), *common])
    for seed in (3, 4, 5):
        a = load_image(tmp_path / "ms" / f"seed{seed:04d}.png").rgb.astype(int)
        b = load_image(tmp_path / "ort" / f"seed{seed:04d}.png").rgb.astype(int)
        assert a.shape == (8, 8, 3) and np.abs(a - b).max() <= 1

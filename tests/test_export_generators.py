"""Every registered generator exports through `export_generator` and matches MindSpore; failures are clear and
leave no file; the metadata the runtime relies on round-trips."""
import json
import os

import mindspore as ms
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from mindspore import nn

import mindspore_impl.models  # noqa: F401  (registers the factories)
from export import registry
from export.api import export_generator
from export.errors import ParityError, UnsupportedCellError
from mindspore_impl import layers
from mindspore_impl.registry import MODELS
from tests._export_helpers import randomize

# Tiny builds of every registered generator, in each numerics variant it supports. A new `*_generator` factory
# must add its entry here (test_every_generator_has_tiny_variants fails until it does).
TINY_VARIANTS = {
    "animeganv2_generator": [dict(width=0.125, upsample=up, norm_eps=eps)
                             for up in ("asymmetric", "align_corners") for eps in (1e-12, 1e-5)],
    "animeganv2_port_generator": [dict(channels=4)],
}
# Generators whose inputs are not one image: this file's size sweep does not apply, so each names the test that
# checks its export instead (a new one must be listed in one table or the other).
EXPORTED_ELSEWHERE = {
    "acgan_generator": "tests/test_acgan_model.py::test_export_equals_the_studys_generator_in_eval_mode",
    "stylegan2_generator": "tests/test_stylegan2_train.py::test_export_and_identical_sampling_in_onnx_and_mindspore",
    "frame_predictor": "tests/test_frame_predictor.py::test_export_parity_and_runtime_step",
}
SIZES, BATCHES = [(32, 32), (48, 64)], (1, 3)


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def generator_names():
    return [n for n in MODELS.names() if n.endswith("_generator") and n not in EXPORTED_ELSEWHERE]


def tiny(name="animeganv2_generator", index=0, seed=0):
    ms.set_seed(seed)
    return randomize(MODELS.build(name, **TINY_VARIANTS[name][index]), seed)


def test_every_generator_has_tiny_variants():
    names = generator_names()
    assert "animeganv2_generator" in names
    assert sorted(set(names) - set(TINY_VARIANTS)) == []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name, where in EXPORTED_ELSEWHERE.items():
        assert name in MODELS.names()
        path, function = where.split("::")
        with open(os.path.join(root, path), encoding="utf-8") as f:
            assert f"def {function}(" in f.read(), where


@pytest.mark.parametrize("name, index", [(n, i) for n in generator_names() for i in range(len(TINY_VARIANTS[n]))])
def test_generator_exports_with_parity(tmp_path, name, index):
    net = tiny(name, index, seed=index)
    path = tmp_path / "g.onnx"
    result = export_generator(net, path, family=name, style="t", check_sizes=SIZES, check_batches=BATCHES,
                              progress=False)
    assert path.is_file() and result.parity.max_abs_diff <= 1e-4
    assert len(result.parity.cases) == len(SIZES) * len(BATCHES)
    # The written file is the checked one, and it serves a size the check did not use.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 40, 24)).astype(np.float32)
    want = net(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], want, atol=2e-4)


def test_metadata_round_trips(tmp_path):
    net = tiny()
    config = {"family": "animeganv2", "generator": {"name": "animeganv2_generator", "width": 0.125}}
    path = tmp_path / "g.onnx"
    export_generator(net, path, family="animeganv2", style="Hayao", config=config,
                     source_checkpoint_sha256="ab" * 32, check_sizes=[(32, 32)], check_batches=(1,), progress=False)
    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    assert {k: meta[k] for k in ("family", "task", "layout", "input_range", "output_range", "channel_order",
                                 "size_multiple", "style", "source_checkpoint_sha256")} == {
        "family": "animeganv2", "task": "stylize", "layout": "NCHW", "input_range": "-1,1",
        "output_range": "-1,1", "channel_order": "RGB", "size_multiple": "4", "style": "Hayao",
        "source_checkpoint_sha256": "ab" * 32}
    assert json.loads(meta["config"]) == config and "mindspore" in meta["producer"]
    from runtime.interface import Interface, image_to_image

    assert Interface.from_json(meta["interface"]) == image_to_image("stylize", size_multiple=4)
    assert meta["network"] == "G"
    assert model.opset_import[0].version == 17
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert model.graph.input[0].name == "input" and dims == ["batch", 3, "height", "width"]
    assert model.graph.output[0].name == "output"
    # The runtime reads the same contract.
    from runtime.session import Generator

    spec = Generator(path, provider="cpu").spec
    assert (spec.layout, spec.size_multiple, spec.style, spec.max_batch) == ("NCHW", 4, "Hayao", None)


def test_unsupported_block_fails_naming_type_and_path(tmp_path):
    class Mystery(nn.Cell):
        def construct(self, x):
            return x * 2

    net = tiny()
    net.block_c[2].layers[1].act = Mystery()
    with pytest.raises(UnsupportedCellError, match=r"Mystery at 'block_c\.2\.layers\.1\.act'"):
        export_generator(net, tmp_path / "g.onnx", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_sabotaged_converter_is_refused_and_leaves_no_file(tmp_path, monkeypatch):
    original = registry._CONVERTERS[layers.LeakyReLU]

    def wrong_slope(g, cell, x):
        cell_copy = layers.LeakyReLU(cell.alpha + 0.05)
        return original(g, cell_copy, x)

    monkeypatch.setitem(registry._CONVERTERS, layers.LeakyReLU, wrong_slope)
    with pytest.raises(ParityError, match="nothing was written"):
        export_generator(tiny(), tmp_path / "g.onnx", check_sizes=[(32, 32)], check_batches=(1,), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fp16_within_its_tolerance_and_refused_at_zero(tmp_path):
    net = tiny()
    result = export_generator(net, tmp_path / "half.onnx", precision="fp16", check_sizes=[(32, 32)],
                              check_batches=(1,), progress=False)
    model = onnx.load(tmp_path / "half.onnx")
    weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert weights and model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert 0 < result.parity.max_abs_diff <= 2e-2
    with pytest.raises(ParityError):
        export_generator(net, tmp_path / "zero.onnx", precision="fp16", tolerance=0.0, check_sizes=[(32, 32)],
                         check_batches=(1,), progress=False)
    assert sorted(os.listdir(tmp_path)) == ["half.onnx"]

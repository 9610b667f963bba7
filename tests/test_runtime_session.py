"""Session handling: provider choice, metadata parsing, NCHW/NHWC layouts, fixed batch, value ranges."""
import numpy as np
import pytest

from runtime.errors import ConversionError
from runtime.session import OFFICIAL_DEFAULTS, Generator, choose_providers, parse_spec
from tests._runtime_helpers import build_identity_model, build_toy_generator, contract_metadata, photo


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("session_models")
    return {
        "toy": build_toy_generator(d / "toy.onnx", seed=3),
        "toy_nhwc": build_toy_generator(d / "toy_nhwc.onnx", seed=3, layout="NHWC", batch=1),
        "identity": build_identity_model(d / "identity.onnx"),
        "d": d,
    }


def test_parse_spec_reads_our_metadata():
    spec = parse_spec(contract_metadata(size_multiple=4, style="Hayao"), ["batch", 3, "height", "width"])
    assert (spec.layout, spec.size_multiple, spec.input_range, spec.channel_order) == ("NCHW", 4, (-1.0, 1.0), "RGB")
    assert spec.has_metadata and spec.style == "Hayao" and spec.max_batch is None


def test_parse_spec_detects_official_nhwc_layout_and_applies_defaults():
    spec = parse_spec({}, [1, "h", "w", 3])
    assert spec.layout == "NHWC" and spec.max_batch == 1 and not spec.has_metadata
    assert spec.size_multiple == int(OFFICIAL_DEFAULTS["size_multiple"]) == 8
    assert spec.input_range == spec.output_range == (-1.0, 1.0)


@pytest.mark.parametrize("metadata, shape, message", [
    ({"size_multiple": "abc"}, ["n", 3, "h", "w"], "size_multiple"),
    ({"size_multiple": "0"}, ["n", 3, "h", "w"], "size_multiple"),
    ({"input_range": "1,-1"}, ["n", 3, "h", "w"], "input_range"),
    ({"input_range": "minus one"}, ["n", 3, "h", "w"], "input_range"),
    ({"layout": "NHWC"}, ["n", 3, "h", "w"], "NHWC"),
    ({"channel_order": "GBR"}, ["n", 3, "h", "w"], "channel_order"),
    ({}, ["n", 4, "h", "w"], "3-channel"),
    ({}, ["n", 3, "h"], "rank 3"),
    ({}, [1, 3, 512, 512], "fixed input size"),
])
def test_parse_spec_rejects_bad_metadata_and_shapes(metadata, shape, message):
    with pytest.raises(ConversionError, match=message):
        parse_spec(metadata, shape)


def test_provider_choice():
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ConversionError, match="not available"):
        choose_providers("cuda", ["CPUExecutionProvider"])
    with pytest.raises(ConversionError, match="unknown provider"):
        choose_providers("tpu", ["CPUExecutionProvider"])


def test_generator_threads_and_provider_are_applied(models):
    generator = Generator(models["toy"], provider="cpu", threads=1)
    assert generator.active_provider == "CPUExecutionProvider"
    assert "size multiple 4" in generator.describe()


def test_identity_model_round_trips_pixels_exactly(models):
    generator = Generator(models["identity"])
    images = photo(32, 48)[None].repeat(2, axis=0)
    np.testing.assert_array_equal(generator(images), images)


def test_nhwc_official_layout_gives_the_same_result_as_nchw(models):
    """Same weights behind Transpose nodes: the NHWC path must feed and read the model correctly."""
    nchw, nhwc = Generator(models["toy"]), Generator(models["toy_nhwc"])
    assert nhwc.spec.layout == "NHWC" and nhwc.spec.max_batch == 1 and not nhwc.spec.has_metadata
    images = np.stack([photo(32, 40), photo(32, 40, "coffee"), photo(32, 40, "chelsea")])
    out_nchw, out_nhwc = nchw(images), nhwc(images)  # the NHWC model takes 1 frame per run: split internally
    assert out_nhwc.shape == images.shape
    assert np.abs(out_nchw.astype(int) - out_nhwc.astype(int)).max() <= 1
    assert np.abs(out_nchw.astype(int) - images.astype(int)).mean() > 10  # the toy really changes the images


def test_channel_order_and_ranges_from_metadata(models):
    d = models["d"]
    images = photo(32, 32)[None]
    bgr_flip = Generator(build_identity_model(d / "bgr.onnx", flip_channels=True,
                                              metadata=contract_metadata(channel_order="BGR")))
    rgb_flip = Generator(build_identity_model(d / "rgb.onnx", flip_channels=True))
    # A model that swaps R and B returns a channel-reversed image whatever the declared order.
    np.testing.assert_array_equal(rgb_flip(images), images[..., ::-1])
    np.testing.assert_array_equal(bgr_flip(images), images[..., ::-1])
    # input in [0,1], output read as [-1,1]: pixel p comes back as (p/255 + 1) * 127.5
    ranged = Generator(build_identity_model(d / "range.onnx", metadata=contract_metadata(input_range="0,1")))
    expected = np.rint((images / 255.0 + 1.0) * 127.5).astype(np.uint8)
    assert np.abs(ranged(images).astype(int) - expected).max() <= 1


def test_wrong_size_multiple_is_reported(models):
    generator = Generator(models["toy"])
    with pytest.raises(ConversionError, match="size multiple"):
        generator(photo(33, 35)[None])  # not padded: the stride-2/upsample pair changes the size


@pytest.mark.parametrize("content, message", [(None, "model not found"), (b"not an onnx file", "cannot load model")])
def test_bad_model_files(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConversionError, match=message):
        Generator(path)


def test_make_session_takes_a_path_bytes_or_a_model_proto(models):
    """The one session factory (export/parity.py uses it too): CPU by default, same results from every source."""
    import onnx

    from runtime.session import ModelLoadError, make_session

    path = models["identity"]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    for source in (path, str(path), path.read_bytes(), onnx.load(str(path))):
        session = make_session(source, threads=1, spin=False)
        assert session.get_providers() == ["CPUExecutionProvider"]
        np.testing.assert_array_equal(session.run(None, {"input": x})[0], x)
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load the model") as info:
        make_session(b"not an onnx file")
    assert "\n" not in str(info.value) and info.value.reason

"""int8 quantization (export/quantize.py): the reflect-pad rewrite, the calibration/check split, the PSNR report."""
import mindspore as ms
import numpy as np
import pytest
from PIL import Image
from skimage import data

import export.quantize as Q
import mindspore_impl.models  # noqa: F401
from export.api import build_model, interface_of, model_metadata
from export.errors import CalibrationError
from export.parity import make_session
from mindspore_impl.registry import MODELS


@pytest.fixture(scope="module")
def tiny_fp32():
    ms.set_seed(0)
    net = MODELS.build("animeganv2_generator", width=0.125)
    net.set_train(False)
    spec = interface_of(net)
    return build_model(net, spec, model_metadata(spec, family="animeganv2", style="test"))


def photo_batches(size=32, count=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for photo in (data.astronaut(), data.coffee(), data.chelsea()):
        for _ in range(count // 3):
            y, x = rng.integers(0, photo.shape[0] - 4 * size), rng.integers(0, photo.shape[1] - 4 * size)
            crop = np.asarray(Image.fromarray(photo[y:y + 4 * size, x:x + 4 * size]).resize((size, size)))
            out.append((crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy())
    return out


def test_reflect_pads_run_on_uint8_with_bit_identical_outputs(tiny_fp32):
    calib, check = photo_batches(), photo_batches(count=3, seed=1)
    rewritten = Q.quantize_int8(tiny_fp32, calib)
    plain = Q.quantize_int8(tiny_fp32, calib, pads_on_uint8=False)

    producer = {o: n for n in rewritten.graph.node for o in n.output}
    consumers = {}
    for n in rewritten.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    reflect = [n for n in rewritten.graph.node if n.op_type == "Pad"
               and any(a.name == "mode" and a.s == b"reflect" for a in n.attribute)]
    # A pad in front of a quantized conv (its output dequantized) now pads the QuantizeLinear output (uint8);
    # the others feed a float conv (depthwise) directly. None is left between float data and a quantizer.
    feeds_quantized = [p for p in reflect if consumers[p.output[0]] == ["DequantizeLinear"]]
    assert len(feeds_quantized) >= 3
    assert all(producer[p.input[0]].op_type == "QuantizeLinear" for p in feeds_quantized)
    assert all(consumers[p.output[0]] in (["DequantizeLinear"], ["Conv"]) for p in reflect)
    assert sum(n.op_type == "Pad" for n in plain.graph.node) == len(reflect)

    a, b = make_session(rewritten), make_session(plain)
    for x in check:
        np.testing.assert_array_equal(a.run(None, {"input": x})[0], b.run(None, {"input": x})[0])


def test_int8_report_compares_with_fp32_and_keeps_metadata(tiny_fp32):
    int8 = Q.quantize_int8(tiny_fp32, photo_batches())
    assert {p.key: p.value for p in int8.metadata_props} == {p.key: p.value for p in tiny_fp32.metadata_props}
    check = photo_batches(count=3, seed=1)
    report = Q.int8_quality(tiny_fp32, int8, check, ["a", "b", "c"])
    assert [name for name, _ in report.per_image] == ["a", "b", "c"]
    assert 15 < report.worst <= report.mean < 80  # lossy, but close to fp32
    assert Q.int8_quality(tiny_fp32, tiny_fp32, check[:1], ["same"]).worst == float("inf")


def test_check_images_shared_with_calibration_are_refused(tmp_path):
    calib, check = tmp_path / "calib", tmp_path / "check"
    calib.mkdir(), check.mkdir()
    for i, photo in enumerate((data.astronaut(), data.coffee())):
        Image.fromarray(photo[:64, :64]).save(calib / f"{i}.png")
    Image.fromarray(data.coffee()[:64, :64]).save(check / "copy.png")  # same pixels, other name
    with pytest.raises(CalibrationError, match="also a calibration image"):
        Q.split_calibration(calib, check)
    held_calib, held_check = Q.split_calibration(calib, None)
    assert len(held_calib) == 1 and len(held_check) == 1 and not set(held_calib) & set(held_check)

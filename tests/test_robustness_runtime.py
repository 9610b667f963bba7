"""The runtime sweep: a model whose output is not finite writes nothing and fails (not a black image with exit
0); absurd metadata in a foreign ONNX file is refused on load; `reformat` refuses a truncated input instead of
copying it short with exit 0."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime.errors import ConversionError, run_main
from runtime.interface import image_to_image
from runtime.session import Generator
from runtime.sampler import Sampler
from tests._runtime_helpers import (GraphBuilder, _save, build_identity_model, build_toy_sampler, contract_metadata,
                                    interface_metadata, photo, toy_sampler_interface, write_test_video)

ROOT = Path(__file__).resolve().parents[1]


def nan_generator(path: Path) -> Path:
    """output = input × NaN, with the export layer's metadata."""
    b = GraphBuilder(0)
    y = b.op("Mul", ["x_nchw", b.const(np.array(np.nan, np.float32), "nan")])
    return _save(b, "x_nchw", y, path, "NCHW", contract_metadata(size_multiple=4), "batch")


def test_a_model_that_outputs_nan_writes_nothing_and_fails(tmp_path, capsys):
    from runtime import photo2anime

    model = nan_generator(tmp_path / "nan.onnx")
    Image.fromarray(photo(40, 48)).save(tmp_path / "a.png")
    with pytest.raises(SystemExit) as exit_info:
        run_main(photo2anime.main, ["--model", str(model), "--input", str(tmp_path / "a.png"), "--output",
                                    str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "not finite" in err and "nan.onnx" in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_sampler_that_outputs_nan_fails(tmp_path):
    import onnx
    from onnx import numpy_helper

    path = build_toy_sampler(tmp_path / "s.onnx", seed=1)
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name.startswith("w_"):
            init.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(init).shape, np.inf, np.float32),
                                                  init.name))
    onnx.save(model, str(path))
    sampler = Sampler(path)
    with pytest.raises(ConversionError, match="not finite"):
        sampler(sampler.latents([0, 1]), sampler.seeded_tags([0, 1]))


def test_mindspore_inference_refuses_a_non_finite_output():
    import mindspore as ms

    from mindspore_impl.infer import stylize_rgb

    def forward(x):
        return ms.Tensor(np.full(x.shape, np.nan, np.float32))

    with pytest.raises(ConversionError, match="not finite"):
        stylize_rgb(forward, photo(8, 8), 4)


def _with_interface(tmp_path, edit) -> Path:
    interface = image_to_image("stylize", size_multiple=4)
    meta = interface_metadata(interface)
    data = json.loads(meta["interface"])
    edit(data)
    meta["interface"] = json.dumps(data)
    meta.pop("size_multiple"), meta.pop("input_range"), meta.pop("output_range")
    return build_identity_model(tmp_path / "m.onnx", metadata=meta)


@pytest.mark.parametrize("flat,needle", [
    ({"size_multiple": "1000000000"}, "size_multiple"),
    ({"output_range": "-inf,inf"}, "output_range"),
    ({"input_range": "0,1e300"}, "input_range"),
    ({"input_range": "nan,1"}, "input_range"),
])
def test_absurd_flat_metadata_is_refused(tmp_path, flat, needle):
    path = build_identity_model(tmp_path / "m.onnx", metadata=contract_metadata(**flat))
    with pytest.raises(ConversionError, match=needle):
        Generator(path)


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d.update(size_multiple=10 ** 9), "size_multiple"),
    (lambda d: d["outputs"][0].update(range=[-1e300, 1e300]), "range"),
    (lambda d: d["inputs"][0].update(range=[float("-inf"), 1.0]), "range"),
])
def test_absurd_interface_metadata_is_refused(tmp_path, edit, needle):
    with pytest.raises(ConversionError, match=needle):
        Generator(_with_interface(tmp_path, edit))


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d["inputs"][2].update(default=float("nan")), "default"),
    (lambda d: d["inputs"][2].update(default=1e308), "default"),
    (lambda d: d["inputs"][0].update(shape=["batch", 10 ** 9]), "feature size"),
])
def test_absurd_sampler_metadata_is_refused(tmp_path, edit, needle):
    meta = interface_metadata(toy_sampler_interface())
    data = json.loads(meta["interface"])
    edit(data)
    meta["interface"] = json.dumps(data)
    with pytest.raises(ConversionError, match=needle):
        Sampler(build_toy_sampler(tmp_path / "s.onnx", metadata=meta))


@pytest.mark.parametrize("container", ["matroska", "mp4 faststart"])
def test_reformat_refuses_a_truncated_input(tmp_path, container):
    import av

    if container == "matroska":
        write_test_video(tmp_path / "whole.mkv", n_frames=48, size=(48, 32), container_format="matroska")
        source, fmt = tmp_path / "whole.mkv", "mp4"
    else:  # the index first, so the cut file opens and the damage shows only as it is read
        write_test_video(tmp_path / "plain.mp4", n_frames=48, size=(48, 32))
        source, fmt = tmp_path / "whole.mp4", "mkv"
        with av.open(str(tmp_path / "plain.mp4")) as inp, \
                av.open(str(source), "w", options={"movflags": "faststart"}) as out:
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for packet in inp.demux():
                if packet.dts is not None:
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
    cut = tmp_path / f"cut{source.suffix}"
    data = source.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.55)])
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "datasets/manganime/preprocess.py", "reformat", "--path", str(cut),
                           "--out", str(out), "--format", fmt], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line.strip() for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "truncated or corrupt" in errors[0]
    assert os.listdir(out) == []
    whole = subprocess.run([sys.executable, "datasets/manganime/preprocess.py", "reformat", "--path", str(source),
                            "--out", str(out), "--format", fmt], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert whole.returncode == 0, whole.stderr  # the intact file still converts

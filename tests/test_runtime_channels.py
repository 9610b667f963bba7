"""Image models as their `interface` metadata describes them: 1- or 3-channel input and output, older files read as
3-channel stylize models, contradicting metadata refused, and sampling models sent to sample.py."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import photo2anime, video2anime
from runtime.errors import run_main
from runtime.errors import ConversionError
from runtime.interface import TASKS, image_to_image
from runtime.session import Generator
from runtime.stylize import Stylizer, TileOptions
from runtime.tasks import ROUTES
from tests._runtime_helpers import (build_channel_model, build_toy_generator, build_toy_sampler, interface_metadata,
                                    photo)

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = [(1, 3), (3, 1), (1, 1), (3, 3)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("channel_models")
    found = {pair: build_channel_model(d / f"c{pair[0]}{pair[1]}.onnx", *pair) for pair in CHANNELS}
    found["sampler"] = build_toy_sampler(d / "sampler.onnx")
    return found


def pillow_luma(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("L"))


def test_grey_input_gets_pillow_luma_and_the_model_sees_exactly_that(models):
    generator = Generator(models[(1, 3)])
    assert (generator.spec.in_channels, generator.spec.out_channels, generator.task) == (1, 3, "stylize")
    assert "1→3 channels" in generator.describe()
    image = photo(32, 48)
    x = generator.encode(image[None])
    assert x.shape == (1, 1, 32, 48)
    luma = pillow_luma(image)
    np.testing.assert_array_equal(np.rint((x[0, 0] + 1.0) * 127.5).astype(np.uint8), luma)
    out = generator(image[None])[0]  # the model copies its grey input into R, G and B
    np.testing.assert_array_equal(out, np.repeat(luma[..., None], 3, axis=2))
    assert np.abs(luma.astype(int) - image[..., 1]).mean() > 3  # luma is not just one of the channels


@pytest.mark.parametrize("pair, expected", [((3, 1), lambda im: im[..., 1]), ((1, 1), pillow_luma)])
def test_grey_output_is_replicated_to_rgb(models, pair, expected):
    image = photo(36, 40, "coffee")
    out = Generator(models[pair])(image[None])[0]
    assert out.shape == image.shape
    np.testing.assert_array_equal(out, np.repeat(expected(image)[..., None], 3, axis=2))


def test_photo2anime_converts_a_photo_with_a_grey_model(tmp_path, models, capsys):
    image = photo(37, 53, "chelsea")  # odd sides: reflect-padded to the multiple 4 and cropped back
    Image.fromarray(image).save(tmp_path / "cat.png")
    with pytest.raises(SystemExit) as done:
        run_main(photo2anime.main, ["--model", str(models[(1, 3)]), "--input", str(tmp_path / "cat.png"),
                                    "--output", str(tmp_path / "out"), "--no-progress"])
    assert done.value.code == 0, capsys.readouterr().err
    result = Image.open(tmp_path / "out" / "cat_anime.png")
    assert result.mode == "RGB" and result.size == (53, 37)
    np.testing.assert_array_equal(np.asarray(result), np.repeat(pillow_luma(image)[..., None], 3, axis=2))


def test_grey_model_runs_in_tiles(models):
    image = photo(70, 90, "rocket")
    stylizer = Stylizer(Generator(models[(1, 3)]), TileOptions(size=32, overlap=8, above=0), log=lambda m: None)
    out = stylizer.stylize(image)
    assert out.shape == image.shape and stylizer.tiling_mode == "per-tile statistics"  # no norms in this model
    assert np.abs(out.astype(int) - pillow_luma(image)[..., None]).max() <= 1  # blended tile borders may round


def test_legacy_metadata_still_loads_as_a_3_channel_stylize_model(tmp_path):
    ours = Generator(build_toy_generator(tmp_path / "old.onnx"))  # task image2image, flat keys, no interface
    assert ours.metadata["task"] == "image2image" and "interface" not in ours.metadata
    assert ours.task == ours.interface.task == "stylize"
    port = ours.interface.inputs[0]
    assert (port.name, port.channels, ours.interface.size_multiple) == ("input", 3, 4)
    official = Generator(build_toy_generator(tmp_path / "nhwc.onnx", layout="NHWC", batch=1))  # no metadata at all
    assert official.task == "stylize" and official.spec.layout == "NHWC" and official.interface.size_multiple == 8


def test_an_interface_alone_is_enough(tmp_path):
    interface = image_to_image("colorize", in_channels=1, size_multiple=4)
    path = build_channel_model(tmp_path / "m.onnx", 1, 3, metadata={"interface": interface.to_json()})
    generator = Generator(path)
    assert generator.task == "colorize" and generator.spec.has_metadata
    assert generator.spec.size_multiple == 4  # the interface's, not the official files' default of 8


def _bad(case: str) -> dict:
    grey = image_to_image(in_channels=1, size_multiple=4)
    return {
        "flat key contradicts": interface_metadata(grey, size_multiple=8),
        "task key contradicts": interface_metadata(grey, task="sample"),
        "port names": interface_metadata(image_to_image(in_channels=1, size_multiple=4, input_name="image")),
        "channels": interface_metadata(image_to_image(in_channels=3, size_multiple=4)),
        "malformed": {"interface": "{not json"},
        "unknown legacy task": {"task": "draw"},
    }[case]


@pytest.mark.parametrize("case, message", [
    ("flat key contradicts", "size_multiple='8' disagrees with its interface"),
    ("task key contradicts", "task='sample' disagrees with its interface"),
    ("port names", "are not its interface's"),
    ("channels", "has shape ['batch', 1, 'height', 'width'], but its interface says ['batch', 3,"),
    ("malformed", "model metadata interface"),
    ("unknown legacy task", "task='draw' is not one of"),
])
def test_contradicting_metadata_is_refused(tmp_path, case, message):
    path = build_channel_model(tmp_path / "m.onnx", 1, 3, metadata=_bad(case))
    with pytest.raises(ConversionError, match=message.replace("[", r"\[")):
        Generator(path)


@pytest.mark.parametrize("cli, extra", [(photo2anime, []), (video2anime, ["--output", "{out}/clip.mp4"])])
def test_image_clis_send_a_sampling_model_to_sample_py(tmp_path, models, capsys, cli, extra):
    args = ["--model", str(models["sampler"]), *[a.format(out=tmp_path / "out") for a in extra], "--no-progress"]
    if cli is photo2anime:
        args += ["--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as done:
        run_main(cli.main, args)
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2
    assert err[-1] == "error: sampler.onnx is a sampling model (task sample); use runtime/sample.py"
    assert not (tmp_path / "out").exists()


def test_the_task_table_covers_every_task_with_existing_commands():
    assert set(ROUTES) == set(TASKS)
    for route in ROUTES.values():
        assert route.runner in ("image", "sample", "predict") and all((ROOT / c).is_file() for c in route.commands)
    # colorize models: runtime/colorize.py first, and the photo/video CLIs still run them
    assert ROUTES["colorize"].commands == ("runtime/colorize.py", *ROUTES["stylize"].commands)


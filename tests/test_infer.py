"""MindSpore folder inference: size preservation, plain and training checkpoints, resizing options,
skipped unreadable images, no overwritten inputs, clear errors. Uses a tiny random AnimeGANv2 generator."""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from skimage import data as skdata

from datasets.image_io import read_rgb, resize_rgb, write_image_atomic
from mindspore_impl import infer
from mindspore_impl.config import load_config
from mindspore_impl.registry import build_network
from runtime.errors import run_main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/animeganv2/tiny.yaml"


@pytest.fixture(autouse=True)
def pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)


def random_generator(seed=0, width=0.125):
    """A tiny generator with random weights, random norm γ/β included, so outputs depend on every layer."""
    cfg = load_config(TINY, [f"generator.width={width}"])
    net = build_network(cfg, "generator")
    rng = np.random.default_rng(seed)
    for name, p in net.parameters_and_names():
        if name.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, p.shape)
        elif name.endswith(("beta", "bias")):
            value = rng.normal(0.0, 0.3, p.shape)
        else:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(p.shape[1:])), p.shape)
        p.set_data(ms.Tensor(value.astype(np.float32)))
    net.set_train(False)
    return net


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """(plain generator ckpt, training-style ckpt with G/ D/ opt_ prefixes, the network)."""
    folder = tmp_path_factory.mktemp("ckpt")
    net = random_generator()
    plain = folder / "generator.ckpt"
    ms.save_checkpoint(net, str(plain))
    entries = [{"name": f"G/{n}", "data": p} for n, p in net.parameters_and_names()]
    entries += [{"name": "D/layers.0.conv.weight", "data": ms.Tensor(np.ones((4, 3, 3, 3), np.float32))},
                {"name": "opt_G/moment1.block_a.0.conv.weight", "data": ms.Tensor(np.ones(3, np.float32))}]
    training = folder / "step_00000002.ckpt"
    ms.save_checkpoint(entries, str(training))
    return plain, training, net


@pytest.fixture()
def photos(tmp_path):
    """Three small real photos of odd and even sizes, plus a corrupt one."""
    folder = tmp_path / "in"
    folder.mkdir()
    write_image_atomic(folder / "astronaut.png", resize_rgb(skdata.astronaut(), (37, 50)))
    write_image_atomic(folder / "coffee.jpg", resize_rgb(skdata.coffee(), (32, 48)))
    write_image_atomic(folder / "chelsea.png", resize_rgb(skdata.chelsea(), (9, 5)))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    return folder


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        run_main(infer.main, argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def base_args(ckpt, inputs, output):
    return ["--config", str(TINY), "--ckpt", str(ckpt), "--input", *map(str, inputs), "--output", str(output),
            "--no-progress"]


def direct(net, rgb):
    """The generator on an image whose sides are already valid multiples (no padding involved)."""
    x = ms.Tensor((rgb.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy())
    y = net(x).asnumpy()[0].transpose(1, 2, 0)
    return np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)


def test_folder_inference_keeps_sizes_and_skips_unreadable(ckpts, photos, tmp_path, capsys):
    plain, _, net = ckpts
    out = tmp_path / "out"
    code, stdout, err = cli(base_args(plain, [photos], out) + ["--no-jit"], capsys)
    assert code == 1, err  # finished, but an input was skipped
    assert "wrote 3 image(s)" in stdout and "1 unreadable skipped" in stdout
    assert "broken.png" in err and err.count("warning: skipped") == 1
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.png", "chelsea.png", "coffee.png"]
    for name, size in (("astronaut", (37, 50)), ("coffee", (32, 48)), ("chelsea", (9, 5))):
        assert read_rgb(out / f"{name}.png").shape == size + (3,)
    # 32×48 needs no padding: the file must be exactly the generator's output
    coffee_in = read_rgb(photos / "coffee.jpg")
    np.testing.assert_array_equal(read_rgb(out / "coffee.png"), direct(net, coffee_in))
    # 37×50 is padded to 40×52 by reflection: the result is the top-left crop of that padded image's output
    astro_in = read_rgb(photos / "astronaut.png")
    padded = np.pad(astro_in, ((0, 3), (0, 2), (0, 0)), mode="reflect")
    expected = direct(net, padded)[:37, :50]
    assert np.abs(read_rgb(out / "astronaut.png").astype(int) - expected.astype(int)).max() <= 1
    assert read_rgb(out / "astronaut.png").std() > 1.0  # not a constant picture
    assert read_rgb(photos / "coffee.jpg").shape == (32, 48, 3)  # inputs untouched


def test_training_checkpoint_equals_plain_and_jit_equals_eager(ckpts, photos, tmp_path, capsys):
    plain, training, _ = ckpts
    files = [photos / "coffee.jpg"]
    assert cli(base_args(plain, files, tmp_path / "a") + ["--no-jit"], capsys)[0] == 0
    assert cli(base_args(training, files, tmp_path / "b"), capsys)[0] == 0  # compiled (jit) path
    a, b = read_rgb(tmp_path / "a/coffee.png"), read_rgb(tmp_path / "b/coffee.png")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_size_and_max_side(ckpts, photos, tmp_path, capsys):
    plain = ckpts[0]
    code, _, err = cli(base_args(plain, [photos / "astronaut.png"], tmp_path / "s") + ["--size", "24", "--no-jit"],
                       capsys)
    assert code == 0, err
    assert read_rgb(tmp_path / "s/astronaut.png").shape == (24, 24, 3)
    code, _, err = cli(base_args(plain, [photos / "astronaut.png"], tmp_path / "m")
                       + ["--max-side", "25", "--ext", "jpg", "--no-jit"], capsys)
    assert code == 0, err
    assert read_rgb(tmp_path / "m/astronaut.jpg").shape == (18, 25, 3)


def test_refuses_to_overwrite_inputs(ckpts, photos, capsys):
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    code, _, err = cli(base_args(ckpts[0], [photos], photos) + ["--no-jit"], capsys)
    assert code == 2 and "would overwrite the input" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def test_name_clashes_get_distinct_outputs(tmp_path):
    a, b = tmp_path / "x" / "a.png", tmp_path / "y" / "a.png"
    plan = infer.plan_outputs([a, b], tmp_path / "out", ".png")
    assert [p.name for p in plan.values()] == ["a.png", "a_1.png"]


@pytest.mark.parametrize("case, pattern", [
    ("wrong_width", "has shape"), ("corrupt", "cannot read checkpoint"), ("absent", "checkpoint not found"),
    ("no_images", "could be read"), ("bad_size", "--size must be"), ("bad_ext", "--ext"),
    ("missing_input", "no such file or folder"), ("bad_upsample", "unknown upsample mode 'cubic'"),
    ("output_is_a_file", "cannot create the output folder"),
])
def test_errors_are_one_line_exit_2(ckpts, photos, tmp_path, capsys, case, pattern):
    plain = ckpts[0]
    inputs, extra = [photos], []
    if case == "wrong_width":
        extra = ["--set", "generator.width=0.25"]
    elif case == "corrupt":
        plain = tmp_path / "bad.ckpt"
        plain.write_bytes(b"\x00\x01not a checkpoint" * 10)
    elif case == "absent":
        plain = tmp_path / "none.ckpt"
    elif case == "no_images":
        inputs = [photos / "broken.png"]
    elif case == "bad_size":
        extra = ["--size", "0"]
    elif case == "bad_ext":
        extra = ["--ext", ".xyz"]
    elif case == "missing_input":
        inputs = [tmp_path / "nothere"]
    elif case == "bad_upsample":
        extra = ["--set", "generator.upsample=cubic"]
    out = tmp_path / "out"
    if case == "output_is_a_file":
        out = tmp_path / "taken"
        out.write_text("not a folder")
    code, _, err = cli(base_args(plain, inputs, out) + extra + ["--no-jit"], capsys)
    assert code == 2, err
    last = err.strip().splitlines()[-1]  # an unreadable image's warning may come first
    assert last.startswith("error: ") and pattern in last, err
    assert not list(tmp_path.glob("out/*.png"))


def test_script_end_to_end(ckpts, photos, tmp_path):
    args = base_args(ckpts[1], [photos / "coffee.jpg"], tmp_path / "o") + ["--no-jit"]
    proc = subprocess.run([sys.executable, "mindspore_impl/infer.py", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert read_rgb(tmp_path / "o/coffee.png").shape == (32, 48, 3)

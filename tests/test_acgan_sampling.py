"""Sampling an exported ACGAN: every --mode grid (shape, labels, what goes in each cell), byte-identical reruns, bad
colour names, the sigma default read from the model, MindSpore's generate.py against the runtime, and the
no-argument run on the bundled demo sampler."""
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from runtime import sample
from runtime.errors import run_main
from runtime.sampler import Sampler, default_sigma, grid_plan, latents, make_grid
from tests._export_helpers import randomize
from tests._runtime_helpers import build_toy_sampler

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "runtime" / "assets" / "demo_acgan.onnx"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random narrow 16² ACGAN G: its config, plain checkpoint and ONNX export."""
    from export.api import export_generator
    from mindspore_impl.checkpoint_io import save_checkpoint_atomic
    from mindspore_impl.config import dump_yaml, load_config
    from mindspore_impl.models.acgan import ACGANGenerator

    ms.set_context(mode=ms.PYNATIVE_MODE)
    d = tmp_path_factory.mktemp("acgan_sampling")
    net = randomize(ACGANGenerator(ngf=2, image_size=16), seed=3)
    for p in net.get_parameters():  # gentler weights than randomize's, so tanh does not saturate every pixel
        if p.name.endswith("weight"):
            p.set_data(ms.Tensor(p.asnumpy() * 0.3))
    cfg = load_config(ROOT / "configs/acgan/tiny.yaml")
    cfg["generator"].update(ngf=2, image_size=16)
    (d / "G.yaml").write_text(dump_yaml(cfg))
    save_checkpoint_atomic(net, d / "G.ckpt", meta={"network": "G", "family": "acgan"})
    export_generator(net, d / "acgan.onnx", family="acgan", progress=False)
    return d


def run_sample(argv, capsys):
    with pytest.raises(SystemExit) as done:
        run_main(sample.main, [str(a) for a in argv])
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


@pytest.mark.parametrize("args, rows, cols, first_row", [
    (["--mode", "fix_noise"], 10, 12, "eye black"),
    (["--mode", "fix_hair_eye", "--hair", "aqua", "--eye", "blue", "--n", "6"], 2, 3, "hair=aqua, eye=blue, seed 4"),
    (["--mode", "change_hair", "--eye", "red", "--n", "2"], 2, 12, "seed 4, eye=red"),
    (["--mode", "change_eye", "--tag", "hair=pink"], 1, 10, "seed 4, hair=pink"),
    (["--mode", "interpolate", "--n", "2"], 2, 12, "seed 4 -> 5"),
])
def test_every_mode_writes_its_labelled_grid(exported, tmp_path, capsys, args, rows, cols, first_row):
    out = tmp_path / "grid.png"
    code, stdout, err = run_sample(["--model", exported / "acgan.onnx", *args, "--seed", "4", "--output", out], capsys)
    assert code == 0, err
    sampler = Sampler(exported / "acgan.onnx")
    tags = sample.parse_tags([a for a in args if "=" in a] + [f"{k[2:]}={v}" for k, v in zip(args, args[1:])
                                                               if k in ("--hair", "--eye")])
    n = int(args[args.index("--n") + 1]) if "--n" in args else None
    plan = grid_plan(args[1], sampler.interface, seed=4, n=n, tags=tags, sigma=0.9)
    assert (plan.rows, plan.cols) == (rows, cols) and plan.row_labels[0] == first_row
    images = sampler(plan.z, plan.tags)
    expected = make_grid(images, rows, cols, plan.row_labels, plan.col_labels)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)
    grid_only = make_grid(images, rows, cols)
    assert expected.shape[1] > grid_only.shape[1]  # a left margin for the row labels
    assert (expected.shape[0] > grid_only.shape[0]) == (plan.col_labels is not None)  # a top one for column labels


def test_grid_plans_put_the_right_latent_and_tags_in_each_cell(exported):
    spec = Sampler(exported / "acgan.onnx").interface
    fix = grid_plan("fix_noise", spec, seed=2, sigma=0.5)
    np.testing.assert_array_equal(fix.z, np.repeat(latents(100, [2], 0.5), 120, axis=0))
    assert [tuple(np.flatnonzero(t)) for t in fix.tags[:2]] == [(0, 12), (1, 12)]  # hair varies along a row
    assert tuple(np.flatnonzero(fix.tags[12])) == (0, 13)  # the eye colour along the column
    hair = grid_plan("change_hair", spec, seed=3, n=2, tags={"eye": "green"})
    assert (hair.tags[:, 12:].argmax(1) == 6).all() and (hair.tags[:12, :12].argmax(1) == np.arange(12)).all()
    np.testing.assert_array_equal(hair.z[12], latents(100, [4], 1.0)[0])
    inter = grid_plan("interpolate", spec, seed=6, tags={"hair": "red", "eye": "blue"})
    np.testing.assert_allclose(inter.z[[0, -1]], latents(100, [6, 7], 1.0), atol=1e-6)
    za, zb = latents(100, [6, 7], 1.0)
    np.testing.assert_allclose(inter.z[6], za + (zb - za) * 6 / 11, atol=1e-6)
    assert inter.col_labels[0] == "0.00" and inter.col_labels[-1] == "1.00" and len(inter.col_labels) == 12
    assert (inter.tags[:, 5] == 1).all() and (inter.tags[:, 21] == 1).all()
    free = grid_plan("interpolate", spec, seed=6)  # tags not given: the study interpolates them too
    np.testing.assert_allclose(free.tags[6], free.tags[0] + (free.tags[-1] - free.tags[0]) * 6 / 11, atol=1e-6)
    np.testing.assert_allclose(free.tags.sum(1), 2.0, atol=1e-5)


def test_same_seed_gives_byte_identical_files_and_sigma_comes_from_the_model(exported, tmp_path, capsys):
    model = exported / "acgan.onnx"
    for name, extra in (("a", []), ("b", []), ("c", ["--sigma", "0.9"]), ("d", ["--sigma", "1.0"])):
        assert run_sample(["--model", model, "--mode", "change_hair", "--seed", "9", "--output",
                           tmp_path / f"{name}.png", *extra], capsys)[0] == 0
    data = {n: (tmp_path / f"{n}.png").read_bytes() for n in "abcd"}
    assert data["a"] == data["b"] == data["c"] and data["d"] != data["a"]
    assert default_sigma(Sampler(model).metadata) == 0.9
    plain = build_toy_sampler(tmp_path / "stylegan_like.onnx", seed=1, tags=False, psi=False)
    assert default_sigma(Sampler(plain).metadata) == 1.0  # no sample_sigma: StyleGAN2 keeps sigma 1
    for name, extra in (("e", []), ("f", ["--sigma", "1"])):
        assert run_sample(["--model", plain, "--seeds", "0-3", "--output", tmp_path / f"{name}.png", *extra],
                          capsys)[0] == 0
    assert (tmp_path / "e.png").read_bytes() == (tmp_path / "f.png").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--mode", "change_eye", "--hair", "teal"],
     "unknown hair value 'teal'; one of orange, white, aqua, gray, green, red, purple, pink, blue, black, brown, "
     "blonde"),
    (["--mode", "fix_hair_eye", "--eye", "white"], "unknown eye value 'white'; one of black, orange, pink, yellow"),
    (["--seeds", "0-3", "--tag", "hair=red", "--tag", "eye=silver"], "unknown eye value 'silver'"),
    (["--mode", "change_nose"], "unknown mode 'change_nose'; this model's modes: fix_noise, fix_hair_eye, "
                                "change_hair, change_eye, interpolate"),
    (["--mode", "fix_noise", "--seeds", "1-2"], "--seeds does not apply with --mode"),
    (["--n", "3"], "--seed and --n apply with --mode"),
])
def test_bad_names_and_options_exit_2_listing_the_valid_ones_and_write_nothing(exported, tmp_path, capsys, args,
                                                                               message):
    code, _, err = run_sample(["--model", exported / "acgan.onnx", *args, "--output", tmp_path / "o" / "g.png"],
                              capsys)
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "o").exists()


def test_tag_modes_need_a_model_with_tags(tmp_path, capsys):
    plain = build_toy_sampler(tmp_path / "plain.onnx", seed=2, tags=False, psi=False)
    code, _, err = run_sample(["--model", plain, "--mode", "fix_noise", "--output", tmp_path / "g.png"], capsys)
    assert code == 2 and "mode fix_noise needs a model with tags" in err and not (tmp_path / "g.png").exists()
    code, _, err = run_sample(["--model", plain, "--mode", "interpolate", "--output", tmp_path / "i.png"], capsys)
    assert code == 0, err
    assert np.asarray(Image.open(tmp_path / "i.png")).shape[1] > 12 * 8  # 12 cells of 8 px plus the margins


@pytest.mark.parametrize("args", [["--mode", "change_hair", "--eye", "blue", "--n", "2", "--seed", "3"],
                                  ["--mode", "interpolate", "--seed", "1"], ["--seeds", "0-5", "--grid", "2x3"]])
def test_mindspore_generate_gives_the_runtimes_grid(exported, tmp_path, capsys, args):
    from mindspore_impl.generate import main as generate

    assert generate(["--config", str(exported / "G.yaml"), "--network", str(exported / "G.ckpt"), *args,
                     "--output", str(tmp_path / "ms.png")]) == 0
    assert run_sample(["--model", exported / "acgan.onnx", *args, "--output", tmp_path / "rt.png"], capsys)[0] == 0
    ms_grid = np.asarray(Image.open(tmp_path / "ms.png")).astype(int)
    rt_grid = np.asarray(Image.open(tmp_path / "rt.png")).astype(int)
    assert ms_grid.shape == rt_grid.shape
    diff = np.abs(ms_grid - rt_grid)
    assert diff.max() <= 1 and diff.mean() < 0.01  # float rounding between MindSpore and onnxruntime at most


def test_no_argument_run_samples_the_bundled_demo(tmp_path):
    assert DEMO.is_file(), "the bundled demo is missing: python mindspore_impl/build_demo.py acgan"
    done = subprocess.run([sys.executable, str(ROOT / "runtime" / "sample.py")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "outputs" / "samples_acgan.png"
    assert f"wrote {Path('outputs') / 'samples_acgan.png'}" in done.stdout and out.is_file()
    sampler = Sampler(DEMO)
    grid = np.asarray(Image.open(out))
    expected = make_grid(sampler(sampler.latents(range(16), 0.9), sampler.seeded_tags(range(16))), 4, 4)
    np.testing.assert_array_equal(grid, expected)
    assert DEMO.stat().st_size < 8 * 2 ** 20  # a few MB

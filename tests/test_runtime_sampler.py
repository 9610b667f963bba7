"""Sampling models (task `sample`): NVlabs seed → z, tag encoding, the output against NumPy, grids, and sample.py."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import sample
from runtime.errors import run_main
from runtime.errors import ConversionError
from runtime.sampler import Sampler, make_grid, near_square
from tests._runtime_helpers import TOY_TAG_GROUPS, build_channel_model, build_toy_generator, build_toy_sampler

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("sampler_models")
    return {"full": build_toy_sampler(d / "acgan.onnx", seed=5),
            "plain": build_toy_sampler(d / "dcgan.onnx", seed=6, tags=False, psi=False),
            "grey": build_toy_sampler(d / "grey.onnx", seed=7, channels=1, output_range=(0.0, 1.0)),
            "stylizer": build_toy_generator(d / "stylizer.onnx"),
            "stylizer_v2": build_channel_model(d / "grey_stylizer.onnx", 1, 3)}


def reference(path: Path, z: np.ndarray, tags: np.ndarray | None, psi: float | None,
              value_range=(-1.0, 1.0)) -> np.ndarray:
    """The toy sampler in NumPy (float64), from the weights stored in the file → uint8 NHWC."""
    import onnx
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    w = next(v for k, v in weights.items() if k.startswith("w_")).astype(np.float64)
    b = next(v for k, v in weights.items() if k.startswith("b_")).astype(np.float64)
    shape = next(v for k, v in weights.items() if k.startswith("shape_"))
    x = z.astype(np.float64) if tags is None else np.concatenate([z, np.broadcast_to(tags, (len(z), 5))], axis=1)
    y = x @ w + b
    if psi is not None:
        y = y * psi
    lo, hi = value_range
    y = (np.tanh(y.reshape(shape)) + 1) / 2 * (hi - lo) + lo
    y = np.rint((np.clip(y, lo, hi) - lo) / (hi - lo) * 255).transpose(0, 2, 3, 1)
    return np.repeat(y, 3, axis=-1) if y.shape[-1] == 1 else y


def test_latents_follow_numpys_randomstate_rule(models):
    sampler = Sampler(models["full"])
    seeds = [0, 7, 123, 2 ** 32 - 1]
    z = sampler.latents(seeds, sigma=0.5)
    assert z.dtype == np.float32 and z.shape == (4, 8)
    for row, seed in zip(z, seeds):
        np.testing.assert_array_equal(row, (np.random.RandomState(seed).randn(1, 8) * 0.5).astype(np.float32)[0])
    np.testing.assert_array_equal(sampler.latents([7]), sampler.latents([0, 7])[1:])  # a seed's z stands alone
    with pytest.raises(ConversionError, match="outside"):
        sampler.latents([2 ** 32])


def test_tags_are_encoded_by_group_and_bad_names_list_the_valid_ones(models):
    sampler = Sampler(models["full"])
    assert sampler.tag_groups == dict(TOY_TAG_GROUPS)
    np.testing.assert_array_equal(sampler.encode_tags({"eye": "black", "hair": "aqua"}), [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(sampler.encode_tags({"hair": "orange", "eye": "blue"}), [1, 0, 0, 0, 1])
    for tags, message in [({"hair": "pink", "eye": "blue"}, "unknown hair value 'pink'; one of orange, white, aqua"),
                          ({"hair": "aqua", "eye": "blue", "nose": "x"}, "unknown tag group 'nose'; groups: hair, eye"),
                          ({"hair": "aqua"}, "missing tag group 'eye' (one of black, blue)")]:
        with pytest.raises(ConversionError) as info:
            sampler.encode_tags(tags)
        assert message in str(info.value)
    with pytest.raises(ConversionError, match="takes no tags"):
        Sampler(models["plain"]).encode_tags({"hair": "aqua"})


def test_seeded_tags_pick_one_value_per_group_per_seed(models):
    sampler = Sampler(models["full"])
    rows = sampler.seeded_tags(range(40))
    assert rows.shape == (40, 5) and (rows[:, :3].sum(1) == 1).all() and (rows[:, 3:].sum(1) == 1).all()
    np.testing.assert_array_equal(rows, sampler.seeded_tags(range(40)))
    assert len({tuple(r) for r in rows}) == 6  # all 3 × 2 combinations occur over 40 seeds


def test_images_match_numpy_and_do_not_depend_on_the_batch(models):
    sampler = Sampler(models["full"])
    z = sampler.latents(range(5))
    tags = sampler.encode_tags({"hair": "white", "eye": "blue"})
    out = sampler(z, {"hair": "white", "eye": "blue"})
    assert out.shape == (5, 8, 8, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - reference(models["full"], z, tags, 0.7)).max() <= 1  # psi: the port's default
    np.testing.assert_array_equal(sampler(z, tags, batch=2), out)
    np.testing.assert_array_equal(sampler(z, np.tile(tags, (5, 1)), psi=0.7), out)
    truncated = sampler(z, tags, psi=0.2)
    assert np.abs(truncated.astype(int) - reference(models["full"], z, tags, 0.2)).max() <= 1
    assert np.abs(truncated.astype(int) - out).mean() > 10
    other = sampler(z, {"hair": "orange", "eye": "black"})
    assert np.abs(other.astype(int) - out).mean() > 5  # the tags reach the image


def test_grey_output_and_its_range_come_from_the_port(models):
    sampler = Sampler(models["grey"])
    z = sampler.latents([1, 2])
    tags = sampler.encode_tags({"hair": "orange", "eye": "black"})
    out = sampler(z, tags)
    assert out.shape == (2, 8, 8, 3) and (out == out[..., :1]).all()
    assert np.abs(out.astype(int) - reference(models["grey"], z, tags, 0.7, (0.0, 1.0))).max() <= 1


def test_wrong_inputs_and_wrong_models_are_refused(models):
    sampler, plain = Sampler(models["full"]), Sampler(models["plain"])
    z = sampler.latents([0])
    for call, message in [(lambda: sampler(z), "needs tags: hair, eye"),
                          (lambda: sampler(np.zeros((1, 4), np.float32), [0, 0, 1, 1, 0]), r"z must be \[N, 8\]"),
                          (lambda: plain(z, psi=0.5), "no scalar"),
                          (lambda: plain(z, [0, 0, 1, 1, 0]), "takes no tags"),
                          (lambda: Sampler(models["stylizer"]), "task stylize\\); use runtime/photo2anime.py"),
                          (lambda: Sampler(models["stylizer_v2"]), "task stylize\\); use runtime/photo2anime.py")]:
        with pytest.raises(ConversionError, match=message):
            call()
    assert plain(z).shape == (1, 8, 8, 3)


def test_grid_layout_gutters_and_labels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 200, (5, 8, 6, 3), dtype=np.uint8)  # never pure white: gutters are told apart
    grid = make_grid(images, 2, 3)
    assert grid.shape == (2 + 2 * 10, 2 + 3 * 8, 3)
    for i, image in enumerate(images):
        y, x = 2 + (i // 3) * 10, 2 + (i % 3) * 8
        np.testing.assert_array_equal(grid[y:y + 8, x:x + 6], image)
    assert (grid[12:20, 18:24] == 255).all()  # the sixth cell is empty
    assert (grid[:2] == 255).all() and (grid[:, :2] == 255).all() and (grid[10:12] == 255).all()
    labelled = make_grid(images, 2, 3, row_labels=["hair=aqua", "eye"], col_labels=["a", "b", "c"])
    top, left = labelled.shape[0] - grid.shape[0], labelled.shape[1] - grid.shape[1]
    assert top > 0 and left > 0
    np.testing.assert_array_equal(labelled[top:, left:], grid)  # the images move by the margins only
    assert (labelled[:top] < 128).any() and (labelled[top:, :left] < 128).any()  # text drawn in both margins
    np.testing.assert_array_equal(labelled, make_grid(images, 2, 3, ["hair=aqua", "eye"], ["a", "b", "c"]))
    assert near_square(16) == (4, 4) and near_square(5) == (2, 3) and near_square(1) == (1, 1)
    with pytest.raises(ConversionError, match="do not fit"):
        make_grid(images, 2, 2)
    with pytest.raises(ConversionError, match="2 column labels for 3 columns"):
        make_grid(images, 2, 3, col_labels=["a", "b"])


@pytest.mark.parametrize("text, seeds", [("0-3", [0, 1, 2, 3]), ("1,5,9", [1, 5, 9]), ("3-4, 10", [3, 4, 10])])
def test_seed_lists(text, seeds):
    assert sample.parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [("a-b", "not a seed"), ("5-2", "backwards"), ("1,2,1", "more than once"),
                                           ("0-4294967296", "seeds go up to"), ("0-70000", "more than 65536"),
                                           ("-1", "not a seed")])
def test_bad_seed_lists(text, message):
    with pytest.raises(ConversionError, match=message):
        sample.parse_seeds(text)


# -- sample.py ------------------------------------------------------------------------------------------------------
def run_sample(*args, cwd=ROOT):
    done = subprocess.run([sys.executable, str(ROOT / "runtime" / "sample.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def only_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and stderr.rstrip().endswith(errors[0]) and "Traceback" not in stderr, stderr
    return errors[0]


def test_sample_py_writes_the_same_grid_for_the_same_seeds(tmp_path, models):
    args = ["--model", models["full"], "--seeds", "0-4", "--tag", "hair=aqua", "--tag", "eye=blue"]
    code, out, err = run_sample(*args, "--output", tmp_path / "a.png")
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'a.png'}"
    assert run_sample(*args, "--grid", "1x5", "--output", tmp_path / "b.png")[0] == 0
    assert run_sample(*args, "--output", tmp_path / "c.png")[0] == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "c.png").read_bytes()
    grid, row = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    assert grid.shape == (2 + 2 * 10, 2 + 3 * 10, 3) and row.shape == (2 + 10, 2 + 5 * 10, 3)  # 5 seeds: 2×3
    sampler = Sampler(models["full"])
    expected = sampler(sampler.latents(range(5)), {"hair": "aqua", "eye": "blue"})
    np.testing.assert_array_equal(grid, make_grid(expected, 2, 3))


def test_sample_py_outdir_writes_one_png_per_seed(tmp_path, models):
    code, out, err = run_sample("--model", models["full"], "--seeds", "3,12", "--trunc", "0.5", "--sigma", "0.8",
                                "--outdir", tmp_path / "o")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["seed0003.png", "seed0012.png"]
    sampler = Sampler(models["full"])
    expected = sampler(sampler.latents([3, 12], 0.8), sampler.seeded_tags([3, 12]), psi=0.5)  # no --tag: per seed
    for seed, image in zip([3, 12], expected):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / f"seed{seed:04d}.png")), image)


def test_sample_py_unknown_tag_fails_and_writes_nothing(tmp_path, models):
    code, _, err = run_sample("--model", models["full"], "--tag", "hair=pink", "--tag", "eye=blue",
                              "--output", tmp_path / "out" / "g.png")
    assert code == 2 and "unknown hair value 'pink'; one of orange, white, aqua" in only_error(err)
    assert not (tmp_path / "out").exists()


def test_sample_py_refuses_trunc_without_a_scalar_port(tmp_path, models):
    code, _, err = run_sample("--model", models["plain"], "--trunc", "0.7", "--output", tmp_path / "g.png")
    assert code == 2 and "no truncation (scalar) input; --trunc does not apply" in only_error(err)
    assert not (tmp_path / "g.png").exists()


def test_sample_py_sends_an_image_model_to_the_image_clis(tmp_path, models):
    code, _, err = run_sample("--model", models["stylizer"], "--output", tmp_path / "g.png")
    assert code == 2
    assert only_error(err) == ("error: stylizer.onnx is an image-to-image model (task stylize); "
                               "use runtime/photo2anime.py or runtime/video2anime.py")


@pytest.mark.parametrize("args, message", [
    (["--grid", "2x2"], "holds 4 images but 5 seeds"), (["--grid", "big"], "not ROWSxCOLS"),
    (["--tag", "hair"], "not GROUP=VALUE"), (["--tag", "hair=aqua"], "missing tag group 'eye'"),
    (["--output", "g.gif"], "unsupported image type"), (["--outdir", "o", "--grid", "1x5"], "--grid applies"),
    (["--sigma", "-1"], "--sigma"), (["--model", "none.onnx"], "model not found"),
])
def test_sample_py_bad_options(tmp_path, models, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    argv = ["--model", str(models["full"]), "--seeds", "0-4", *args]
    with pytest.raises(SystemExit) as done:
        run_main(sample.main, argv)
    assert done.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sample_py_without_a_demo_sampler_names_the_rebuild_command(tmp_path, monkeypatch, capsys):
    present = build_toy_sampler(tmp_path / "demo_first.onnx", seed=5)
    monkeypatch.setattr(sample, "DEMO_SAMPLERS", (present, tmp_path / "demo_acgan.onnx"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        run_main(sample.main, [])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and err == [f"error: demo sampler {tmp_path / 'demo_acgan.onnx'} is missing; rebuild "
                                            "it with `python mindspore_impl/build_demo.py acgan` (or pass --model)"]
    assert not (tmp_path / "outputs").exists()  # the present demo is not sampled either


def test_sample_py_without_arguments_samples_every_demo(tmp_path, monkeypatch, capsys):
    demos = (build_toy_sampler(tmp_path / "demo_one.onnx", seed=5),
             build_toy_sampler(tmp_path / "demo_two.onnx", seed=6, tags=False, psi=False))
    monkeypatch.setattr(sample, "DEMO_SAMPLERS", demos)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        run_main(sample.main, [])
    assert done.value.code == 0, capsys.readouterr().err
    for path, name in zip(demos, ("one", "two")):
        sampler = Sampler(path)
        z = sampler.latents(range(16))
        expected = make_grid(sampler(z, sampler.seeded_tags(range(16)) if sampler.tags else None), 4, 4)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "outputs" / f"samples_{name}.png")), expected)


def test_demo_options_go_to_the_demos_that_take_them(tmp_path, monkeypatch, capsys):
    """Without --model, --trunc reaches only the demo with a truncation input and --tag only the one with tags;
    with --model the same options on a model without those inputs stay errors (test above)."""
    demos = (build_toy_sampler(tmp_path / "demo_tagged.onnx", seed=5, psi=False),
             build_toy_sampler(tmp_path / "demo_plain.onnx", seed=6, tags=False))
    monkeypatch.setattr(sample, "DEMO_SAMPLERS", demos)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        run_main(sample.main, ["--trunc", "0.5", "--tag", "hair=aqua", "--tag", "eye=blue", "--seeds", "0-3"])
    assert done.value.code == 0, capsys.readouterr().err
    tagged, plain = (Sampler(p) for p in demos)
    expected_tagged = make_grid(tagged(tagged.latents(range(4)), tagged.encode_tags({"hair": "aqua", "eye": "blue"})),
                                2, 2)
    expected_plain = make_grid(plain(plain.latents(range(4)), None, psi=0.5), 2, 2)
    assert not np.array_equal(expected_plain, make_grid(plain(plain.latents(range(4)), None, psi=1.0), 2, 2))
    for name, expected in (("tagged", expected_tagged), ("plain", expected_plain)):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "outputs" / f"samples_{name}.png")), expected)

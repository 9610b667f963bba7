"""photo2anime: sizes preserved, inputs expanded and never overwritten, bad inputs → one-line errors, exit 2."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime import photo2anime
from runtime.errors import ConversionError
from runtime.photo import collect_inputs, plan_jobs
from tests._runtime_helpers import build_identity_model, build_toy_generator, photo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_generator(tmp_path_factory.mktemp("photo_models") / "toy.onnx", seed=2)


def run_cli(args, capsys):
    """photo2anime in-process; returns (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        from runtime.errors import run_main
        run_main(photo2anime.main, [*map(str, args), "--no-progress"])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


@pytest.mark.parametrize("h, w", [(37, 53), (65, 31), (7, 5), (64, 64)])
def test_output_keeps_the_exact_input_size(tmp_path, toy, capsys, h, w):
    src = save(tmp_path / "in" / f"p{h}x{w}.png", photo(h, w, "coffee"))
    code, out, _ = run_cli(["--model", toy, "--input", src, "--output", tmp_path / "out"], capsys)
    assert code == 0
    result = np.asarray(Image.open(tmp_path / "out" / f"p{h}x{w}_anime.png"))
    assert result.shape == (h, w, 3)
    assert f"wrote {tmp_path / 'out' / f'p{h}x{w}_anime.png'}" in out


def test_padding_not_resizing_the_identity_model_returns_the_input(tmp_path, capsys):
    model = build_identity_model(tmp_path / "id.onnx")
    image = photo(45, 71)
    src = save(tmp_path / "x.png", image)
    assert run_cli(["--model", model, "--input", src, "--output", tmp_path / "o"], capsys)[0] == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "x_anime.png")), image)


def test_folders_globs_batches_and_formats(tmp_path, toy, capsys):
    save(tmp_path / "a" / "one.jpg", photo(40, 48), quality=95)
    save(tmp_path / "a" / "two.png", photo(40, 48, "chelsea"))
    (tmp_path / "a" / "notes.txt").write_text("not an image; folders skip it")
    save(tmp_path / "b" / "three.png", photo(33, 20, "rocket"))
    code, out, _ = run_cli(["--model", toy, "--input", tmp_path / "a", str(tmp_path / "b" / "*.png"),
                            "--output", tmp_path / "out", "--batch", "2", "--format", "webp"], capsys)
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["one_anime.webp", "three_anime.webp", "two_anime.webp"]
    assert Image.open(tmp_path / "out" / "three_anime.webp").size == (20, 33)
    assert out.count("wrote ") == 3


def test_batched_and_single_runs_agree(tmp_path, toy, capsys):
    for i, name in enumerate(["astronaut", "coffee", "chelsea"]):
        save(tmp_path / "in" / f"{i}.png", photo(36, 44, name))
    run_cli(["--model", toy, "--input", tmp_path / "in", "--output", tmp_path / "b1"], capsys)
    run_cli(["--model", toy, "--input", tmp_path / "in", "--output", tmp_path / "b3", "--batch", "3"], capsys)
    for i in range(3):
        one = np.asarray(Image.open(tmp_path / "b1" / f"{i}_anime.png")).astype(int)
        three = np.asarray(Image.open(tmp_path / "b3" / f"{i}_anime.png")).astype(int)
        assert np.abs(one - three).max() <= 1  # layer norm is per sample: batching is exact up to rounding


def test_max_side_and_brightness_options(tmp_path, toy, capsys):
    src = save(tmp_path / "big.png", photo(120, 90))
    code, _, _ = run_cli(["--model", toy, "--input", src, "--output", tmp_path / "o", "--max-side", "48",
                          "--match-brightness"], capsys)
    assert code == 0
    out = np.asarray(Image.open(tmp_path / "o" / "big_anime.png")).astype(float)
    assert out.shape == (120, 90, 3)
    luma = np.array([0.299, 0.587, 0.114])
    assert abs((out @ luma).mean() - (photo(120, 90) @ luma).mean()) < 3


def test_inputs_are_never_overwritten(tmp_path, toy, capsys):
    src = save(tmp_path / "pic.png", photo(32, 32))
    before = src.read_bytes()
    code, _, err = run_cli(["--model", toy, "--input", src, "--output", tmp_path, "--suffix", ""], capsys)
    assert code == 2 and "refusing to overwrite the input" in err
    assert src.read_bytes() == before


def test_two_inputs_with_one_output_name_are_refused(tmp_path):
    a = save(tmp_path / "x" / "p.png", photo(8, 8))
    b = save(tmp_path / "y" / "p.png", photo(8, 8))
    with pytest.raises(ConversionError, match="would both be written"):
        plan_jobs(collect_inputs([a, b]), tmp_path / "out")


def test_glob_without_matches_is_an_error(tmp_path):
    with pytest.raises(ConversionError, match="no images match"):
        collect_inputs([str(tmp_path / "*.png")])


def test_nhwc_official_layout_model_through_the_cli(tmp_path, capsys):
    model = build_toy_generator(tmp_path / "nhwc.onnx", layout="NHWC", batch=1)
    src = save(tmp_path / "p.png", photo(30, 41))
    code, _, err = run_cli(["--model", model, "--input", src, "--output", tmp_path / "o"], capsys)
    assert code == 0 and "NHWC" in err and "no metadata" in err
    assert np.asarray(Image.open(tmp_path / "o" / "p_anime.png")).shape == (30, 41, 3)


# -- bad inputs through a real process: one line on stderr, exit status 2, nothing written -----------------------
def _bad_cases(tmp: Path, toy: Path):
    save(tmp / "ok.png", photo(16, 16))
    (tmp / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    Image.fromarray(photo(16, 16)).save(tmp / "anim.gif")
    (tmp / "blocker").write_text("a file where the output folder should be")
    return {
        "missing file": (["--model", toy, "--input", tmp / "nope.png"], "input not found"),
        "corrupt image": (["--model", toy, "--input", tmp / "corrupt.jpg"], "cannot read image"),
        "unsupported extension": (["--model", toy, "--input", tmp / "anim.gif"], "unsupported image type"),
        "unwritable output": (["--model", toy, "--input", tmp / "ok.png", "--output", tmp / "blocker" / "x"],
                              "cannot create output folder"),
        "missing model": (["--model", tmp / "none.onnx", "--input", tmp / "ok.png"], "model not found"),
        "bad option value": (["--model", toy, "--input", tmp / "ok.png", "--tile-size", "8"], "too small"),
    }


@pytest.mark.parametrize("case", ["missing file", "corrupt image", "unsupported extension", "unwritable output",
                                  "missing model", "bad option value"])
def test_bad_inputs_give_one_line_errors_and_exit_2(tmp_path, toy, case):
    args, message = _bad_cases(tmp_path, toy)[case]
    if "--output" not in args:
        args += ["--output", tmp_path / "out"]
    done = subprocess.run([sys.executable, "runtime/photo2anime.py", *map(str, args), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert done.stderr.rstrip().endswith(errors[0]) and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

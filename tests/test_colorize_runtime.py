"""runtime/colorize.py and runtime/colorize_eval.py on a tiny pix2pix trained here: the luminance recombination is
exact, pages of any size keep their size and name, bad pages stop the run before anything is written, the overwrite
policy, and the evaluation, where the trained model must beat the grey page's PSNR on held-out pairs.

The model: configs/pix2pix/tiny.yaml widened to 16 filters, lr 2e-3, 200 steps at batch 2 on 32 generated pairs
(tests/_colorize_helpers.py: colours that are a function of luma). Measured on the 8 held-out pairs: grey page
14.14 dB, model 16.93 dB (+2.79 dB); the test asserts a margin of at least 1.5 dB."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime.colorization import Colorizer, keep_luma, read_page, training_side
from runtime.errors import ConversionError
from runtime.imaging import luma8
from runtime.session import Generator
from tests._colorize_helpers import colour_page, write_pairs

ROOT = Path(__file__).resolve().parents[1]
STEPS, MARGIN_DB = 200, 1.5


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny pix2pix trained STEPS steps, exported through export/to_onnx.py."""
    from export.to_onnx import main as export_main
    from mindspore_impl.config import load_config
    from mindspore_impl.trainer import build_trainer

    root = tmp_path_factory.mktemp("colorize_model")
    write_pairs(root / "train", 32, size=40, seed=0)
    write_pairs(root / "held_out", 8, size=40, seed=99)
    cfg = load_config(ROOT / "configs/pix2pix/tiny.yaml", [
        f"data.root={root / 'train'}", f"train.run_dir={root / 'run'}", "generator.ngf=16", "optim.lr=2.0e-3",
        "optim.n_epochs=13", "optim.n_epochs_decay=0", f"train.max_steps={STEPS}", "train.jit=true",
        "train.log_every=50", "train.ckpt_every=100000"])
    build_trainer(cfg).fit(progress=False)
    export_main(["--config", str(root / "run/config.yaml"), "--ckpt", str(root / "run/generator.ckpt"),
                 "--output", str(root / "G.onnx"), "--quiet"])
    return root


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "runtime/colorize.py"), "--no-progress", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_keep_luma_gives_the_page_luma_exactly_and_keeps_the_colours():
    rng = np.random.default_rng(0)
    page = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    page[:8] = 0
    page[8:16] = 255  # luma at the ends of the range: most colours are out of gamut there
    coloured = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    coloured[16:24] = [255, 0, 0]
    out = keep_luma(page, coloured)
    np.testing.assert_array_equal(luma8(out), luma8(page))
    # in gamut, the chroma (colour minus its luma) is the model's, up to 8-bit rounding
    grey = np.repeat(luma8(page)[..., None], 3, axis=2).astype(float)
    chroma = coloured - (coloured.astype(float) @ [0.299, 0.587, 0.114])[..., None]
    target = grey + chroma
    inside = (target.min(-1) >= 1) & (target.max(-1) <= 254)
    assert inside.mean() > 0.2
    assert np.abs(out[inside] - target[inside]).max() <= 2.0
    # out of gamut the hue is kept while the colour moves toward grey
    assert np.abs(out.astype(int) - grey).sum(-1)[~inside].mean() > 0


def test_keep_luma_on_a_grey_page_with_colour_noise():
    page = np.repeat(np.linspace(0, 255, 97).astype(np.uint8)[None, :, None], 3, axis=2).repeat(5, axis=0)
    coloured = np.clip(page.astype(int) + np.random.default_rng(1).integers(-90, 90, page.shape), 0, 255)
    np.testing.assert_array_equal(luma8(keep_luma(page, coloured.astype(np.uint8))), luma8(page))


def test_colorize_cli_keeps_size_name_and_luma(model, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    rng = np.random.default_rng(5)
    for name, (h, w) in {"odd.png": (45, 70), "tall.jpg": (90, 33), "grey.png": (40, 40)}.items():
        page = luma8(colour_page(rng, max(h, w))[:h, :w])
        Image.fromarray(page if name != "tall.jpg" else np.repeat(page[..., None], 3, axis=2)).save(pages / name)
    out = tmp_path / "out"
    res = cli("--model", model / "G.onnx", "--input", pages, "--output", out, "--batch", "2")
    assert res.returncode == 0, res.stderr
    assert "runs at longer side scaled to at most 32" in res.stderr  # the training size from the metadata
    for name in ("odd.png", "tall.jpg", "grey.png"):
        source, result = np.asarray(Image.open(pages / name).convert("RGB")), np.asarray(Image.open(out / name))
        assert result.shape == source.shape
        if name.endswith(".png"):  # lossless output: the page's luma exactly
            np.testing.assert_array_equal(luma8(result), luma8(source))
        assert np.abs(result.astype(int) - result.mean(-1, keepdims=True)).mean() > 1  # coloured
    res = cli("--model", model / "G.onnx", "--input", pages / "odd.png", "--output", out)
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == \
        f"error: {out / 'odd.png'} exists; pass --overwrite to replace it"
    res = cli("--model", model / "G.onnx", "--input", pages / "odd.png", "--output", out, "--overwrite",
              "--no-keep-luma", "--work-side", "0")
    assert res.returncode == 0, res.stderr
    assert not np.array_equal(luma8(np.asarray(Image.open(out / "odd.png"))),
                              luma8(np.asarray(Image.open(pages / "odd.png").convert("RGB"))))


def _bad_pages(folder: Path) -> dict[str, str]:
    """name → the phrase its error must contain."""
    good = luma8(colour_page(np.random.default_rng(0), 32))
    Image.fromarray(good).save(folder / "truncated.png")
    data = (folder / "truncated.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[:len(data) // 2])
    (folder / "corrupt.png").write_bytes(b"\x89PNG not really" * 20)
    Image.new("RGBA", (16, 16), (10, 20, 30, 128)).save(folder / "rgba.png")
    Image.fromarray(np.full((16, 16), 40000, np.uint16)).save(folder / "deep.png")
    Image.new("L", (1, 1)).save(folder / "dot.png")
    return {"truncated.png": "corrupt, truncated", "corrupt.png": "corrupt, truncated",
            "rgba.png": "alpha channel", "deep.png": "16-bit", "dot.png": "too small"}


def test_bad_pages_stop_the_run_before_anything_is_written(model, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, phrase in _bad_pages(bad).items():
        good = tmp_path / "good.png"
        Image.fromarray(luma8(colour_page(np.random.default_rng(1), 32))).save(good)
        out = tmp_path / f"out_{name}"
        res = cli("--model", model / "G.onnx", "--input", good, bad / name, "--output", out)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines[-1].startswith("error: ") and phrase in lines[-1], (name, lines)
        assert str(bad / name) in lines[-1]
        assert not out.exists(), f"{name}: partial output was written"
    with pytest.raises(ConversionError, match="too small"):
        read_page(bad / "dot.png")


def test_colorize_refuses_a_stylize_model(model, tmp_path):
    from tests._runtime_helpers import build_channel_model

    path = build_channel_model(tmp_path / "style.onnx", 3, 3, task="stylize")
    with pytest.raises(ConversionError, match="stylize.*not a colorization model; use runtime/photo2anime.py"):
        Colorizer(Generator(path))
    generator = Generator(model / "G.onnx")
    assert generator.task == "colorize" and training_side(generator.metadata) == 32


def test_trained_model_beats_the_grey_page_on_held_out_pairs(model, tmp_path, capsys):
    from runtime import colorize_eval

    code = colorize_eval.main(["--model", str(model / "G.onnx"), "--pairs", str(model / "held_out"),
                               "--csv", str(tmp_path / "eval.csv"), "--grid", str(tmp_path / "grid.png"),
                               "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    rows = {line.split(",")[0]: line.split(",")[1:] for line in (tmp_path / "eval.csv").read_text().splitlines()}
    baseline, trained = float(rows["grey page (baseline)"][0]), float(rows["G"][0])
    print(f"held-out PSNR: grey page {baseline:.2f} dB, trained tiny pix2pix {trained:.2f} dB")
    assert trained >= baseline + MARGIN_DB, printed
    assert float(rows["grey page (baseline)"][2]) == 0.0 and float(rows["G"][2]) > 5.0  # colourfulness
    assert 0 < float(rows["G"][1]) <= 1 and "(8 held-out pages)" in printed
    assert Image.open(tmp_path / "grid.png").size[1] > 4 * 150


def test_no_arguments_colour_the_bundled_demo_page(tmp_path):
    """The demo: runtime/assets/demo_pix2pix.onnx (python mindspore_impl/build_demo.py pix2pix) on demo_page.png."""
    res = cli(cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    page = np.asarray(Image.open(ROOT / "runtime/assets/demo_page.png").convert("RGB"))
    out = np.asarray(Image.open(tmp_path / "outputs" / "demo_page.png"))
    assert out.shape == page.shape
    np.testing.assert_array_equal(luma8(out), luma8(page))
    chroma = np.abs(out.astype(int) - out.mean(-1, keepdims=True)).mean()
    assert chroma > 2.0, f"the demo output is nearly grey (mean chroma {chroma:.2f})"

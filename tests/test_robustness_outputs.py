"""The overwrite policy of every CLI that writes results: an existing output is refused, naming it, before any
work, unless --overwrite (runtime.outputs.refuse_existing); --suffix cannot leave the output folder; a batch of
photos skips an unreadable one with one line and exits 1 at the end; numeric options must be finite."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runtime.errors import UserError, run_main
from tests._runtime_helpers import build_toy_generator, build_toy_sampler, photo, write_test_video

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/animeganv2/tiny.yaml"
OLD = b"an older result the user wants to keep"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("outputs_assets")
    Image.fromarray(photo(40, 48)).save(d / "a.png")
    write_test_video(d / "clip.mp4", n_frames=4, size=(48, 32), audio_codec=None)
    return {"dir": d, "photo": d / "a.png", "clip": d / "clip.mp4",
            "model": build_toy_generator(d / "toy.onnx", seed=3), "sampler": build_toy_sampler(d / "s.onnx", seed=1)}


def _existing(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(OLD)
    return path


def case_photo2anime(a, t):
    return "runtime.photo2anime", ["--model", a["model"], "--input", a["photo"], "--output", t / "out",
                                   "--no-progress"], _existing(t / "out" / "a_anime.png")


def case_photo2anime_suffix_format(a, t):  # --suffix "" --format jpg reaches an unrelated a.jpg
    return "runtime.photo2anime", ["--model", a["model"], "--input", a["photo"], "--output", t / "out",
                                   "--suffix", "", "--format", "jpg", "--no-progress"], _existing(t / "out" / "a.jpg")


def case_video2anime(a, t):
    return "runtime.video2anime", ["--model", a["model"], "--input", a["clip"], "--output", t / "o.mp4",
                                   "--no-progress"], _existing(t / "o.mp4")


def case_sample_grid(a, t):
    return "runtime.sample", ["--model", a["sampler"], "--seeds", "0-3", "--output", t / "g.png"], \
        _existing(t / "g.png")


def case_sample_outdir(a, t):
    return "runtime.sample", ["--model", a["sampler"], "--seeds", "0-3", "--outdir", t / "s"], \
        _existing(t / "s" / "seed0002.png")


def case_infer(a, t):
    return "mindspore_impl.infer", ["--config", TINY, "--ckpt", t / "none.ckpt", "--input", a["photo"],
                                    "--output", t / "out", "--no-progress"], _existing(t / "out" / "a.png")


def case_to_onnx(a, t):
    return "export.to_onnx", ["--config", TINY, "--ckpt", t / "none.ckpt", "--output", t / "g.onnx"], \
        _existing(t / "g.onnx")


def case_generate(a, t):
    return "mindspore_impl.generate", ["--config", TINY, "--network", t / "none.ckpt", "--seeds", "0-1",
                                       "--output", t / "grid.png"], _existing(t / "grid.png")


def case_import_weights(a, t):
    return "mindspore_impl.import_weights", ["--family", "animeganv2", "--input", t / "none.pt",
                                             "--output", t / "G.ckpt"], _existing(t / "G.ckpt")


def case_vgg19_convert(a, t):
    return "mindspore_impl.vgg19_convert", ["--from", "caffe-npy", "--input", t / "none.npy",
                                            "--output", t / "vgg.ckpt"], _existing(t / "vgg.ckpt")


def case_style_transfer(a, t):
    return "mindspore_impl.style_transfer", ["--content", a["photo"], "--style", a["photo"], "--vgg",
                                             t / "none.ckpt", "--output", t / "st.png"], _existing(t / "st.png")


def case_edge_smooth(a, t):
    Image.fromarray(photo(32, 32)).save(_existing(t / "S" / "style" / "x.png"))
    return "datasets.edge_smooth", ["--dataset", t / "S"], _existing(t / "S" / "smooth" / "x.png")


def case_demo_style(a, t):
    return "datasets.demo_style", ["--output", t / "d", "--size", "16", "--count", "2"], \
        _existing(t / "d" / "train_photo" / "0001.png")


def case_demo_clip(a, t):
    return "datasets.demo_clip", ["--out-dir", t], _existing(t / "demo_clip.mp4")


def case_reformat(a, t):
    return "datasets.manganime.preprocess", ["reformat", "--path", a["clip"], "--out", t, "--format", "mkv"], \
        _existing(t / "clip.mkv")


def case_anime(a, t):
    (t / "episodes").mkdir()
    (t / "episodes" / "0.mp4").write_bytes(a["clip"].read_bytes())
    return "datasets.manganime.preprocess", ["anime", "--path", t / "episodes", "--out", t / "pre", "--size", "32"], \
        _existing(t / "pre" / "0.mp4")


def case_chunks(a, t):
    return "datasets.manganime.preprocess", ["chunks", "--path", a["clip"], "--out", t / "c.json"], \
        _existing(t / "c.json")


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_cli_refuses_an_existing_output_before_any_work(name, assets, tmp_path, monkeypatch):
    import importlib

    module_name, argv, existing = CASES[name](assets, tmp_path)
    module = importlib.import_module(module_name)
    if name == "demo_clip":  # refusing must come before the frames are rendered
        monkeypatch.setattr(module, "render_frames", lambda *a: pytest.fail("rendered before refusing"))
    with pytest.raises(UserError, match=r"exists.*; pass --overwrite to replace it") as info:
        module.main([str(v) for v in argv])
    assert str(existing) in str(info.value) and existing.read_bytes() == OLD
    hidden = [p for p in existing.parent.rglob(".*")]
    assert hidden == []


def test_overwrite_replaces_and_the_default_refuses_each_photo_first(assets, tmp_path, capsys):
    from runtime import photo2anime

    argv = ["--model", str(assets["model"]), "--input", str(assets["photo"]), "--output", str(tmp_path),
            "--no-progress"]
    target = _existing(tmp_path / "a_anime.png")
    photo2anime.main(argv + ["--overwrite"])
    assert np.asarray(Image.open(target)).shape == (40, 48, 3)


@pytest.mark.parametrize("suffix", ["/../escaped", "sub/x", "..\\x", "a\0b"])
def test_suffix_with_a_path_separator_is_refused(assets, tmp_path, suffix):
    from runtime import photo2anime

    with pytest.raises(UserError, match="--suffix .* must not contain a path separator"):
        photo2anime.main(["--model", str(assets["model"]), "--input", str(assets["photo"]),
                          "--output", str(tmp_path / "out"), "--suffix", suffix, "--no-progress"])
    assert not (tmp_path / "out").exists() and not list(tmp_path.parent.glob("*escaped*"))


def test_one_unreadable_photo_is_skipped_and_reported_and_the_exit_status_says_so(assets, tmp_path, capsys):
    from runtime import photo2anime

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("1.png", "3.png"):
        Image.fromarray(photo(24, 32)).save(folder / name)
    (folder / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(SystemExit) as exit_info:
        run_main(photo2anime.main, ["--model", str(assets["model"]), "--input", str(folder), "--output",
                                    str(tmp_path / "out"), "--no-progress", "--batch", "3"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1_anime.png", "3_anime.png"]
    skipped = [line for line in err.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and "2.png" in skipped[0] and "Traceback" not in err
    (folder / "1.png").write_bytes(b"broken too")
    (folder / "3.png").write_bytes(b"and this")
    with pytest.raises(SystemExit) as exit_info:
        run_main(photo2anime.main, ["--model", str(assets["model"]), "--input", str(folder), "--output",
                                    str(tmp_path / "none"), "--no-progress"])
    assert exit_info.value.code == 2 and "none of the 3 photo(s) could be read" in capsys.readouterr().err


@pytest.mark.parametrize("module_name,argv", [
    ("runtime.video2anime", ["--start", "nan"]),
    ("runtime.video2anime", ["--end", "inf"]),
    ("runtime.sample", ["--sigma", "inf"]),
    ("runtime.sample", ["--trunc", "nan"]),
    ("mindspore_impl.generate", ["--config", "c.yaml", "--network", "n.ckpt", "--trunc", "nan"]),
    ("mindspore_impl.generate", ["--config", "c.yaml", "--network", "n.ckpt", "--sigma=-inf"]),
    ("export.to_onnx", ["--config", "c.yaml", "--ckpt", "n.ckpt", "--output", "o.onnx", "--tolerance", "inf"]),
    ("mindspore_impl.style_transfer", ["--content", "a", "--style", "b", "--vgg", "v", "--output", "o.png",
                                       "--lr", "nan"]),
    ("datasets.demo_clip", ["--seconds", "nan"]),
    ("datasets.manganime.preprocess", ["search", "--path", ".", "--type", "intro", "--minutes", "nan"]),
    ("datasets.manganime.label", ["--cut-threshold", "nan"]),
])
def test_non_finite_numeric_options_are_usage_errors(module_name, argv, capsys):
    import importlib

    module = importlib.import_module(module_name)
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2 and "finite number" in capsys.readouterr().err

"""The MindSpore AnimeGANv2 port's commands with its option names: train.py (its whole parameter table, --resume
read as a bool, the device that exists), infer.py and video2anime.py on a tiny port checkpoint and odd-sized
photos, export straight from its file, the .ckpt → ONNX cache of the runtime, one-line errors for wrong files.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

from mindspore_impl import port_cli
from tests._port_helpers import (port_generator_numpy, port_vgg_weights, random_port_weights,
                                 save_port_checkpoint)

ROOT = Path(__file__).resolve().parents[1]
C = 4
# The port's train.py parser, option by option (its `parse_args`, written here from its source).
PORT_TRAIN_FLAGS = ["--device_target", "--device_id", "--dataset", "--data_dir", "--checkpoint_dir", "--vgg19_path",
                    "--save_image_dir", "--resume", "--phase", "--epochs", "--init_epochs", "--batch_size",
                    "--num_parallel_workers", "--save_interval", "--debug_samples", "--lr_g", "--lr_d", "--init_lr",
                    "--gan_loss", "--wadvg", "--wadvd", "--wcon", "--wgra", "--wcol", "--img_ch", "--ch", "--n_dis"]
PORT_INFER_FLAGS = ["--device_target", "--device_id", "--infer_dir", "--infer_output", "--ckpt_file_name"]
PORT_VIDEO_FLAGS = ["--device_target", "--device_id", "--video_ckpt_file_name", "--video_input", "--video_output",
                    "--output_format", "--img_size"]


def run(*args, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    """A tiny port checkpoint (training-wrapper names), its weights, a random vgg.ckpt, a tiny dataset, photos."""
    root = tmp_path_factory.mktemp("port_cli")
    weights = random_port_weights(C, seed=11)
    save_port_checkpoint(weights, root / "netG_3.ckpt", training_wrapper=True)
    vgg = port_vgg_weights(seed=0, full_vgg19_bn=False)
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in vgg.items()], str(root / "vgg.ckpt"))
    subprocess.run([sys.executable, "datasets/demo_style.py", "--output", str(root / "dataset"), "--size", "32",
                    "--count", "4", "--style-count", "4", "--eval-count", "2"], cwd=ROOT, check=True,
                   capture_output=True)
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 23, 3), dtype=np.uint8)).save(photos / "odd.png")
    Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).save(photos / "wide.png")
    return {"root": root, "weights": weights, "ckpt": root / "netG_3.ckpt", "vgg": root / "vgg.ckpt",
            "data": root / "dataset", "photos": photos}


def numpy_stylized(weights, rgb: np.ndarray) -> np.ndarray:
    y = port_generator_numpy(rgb.transpose(2, 0, 1)[None] / 127.5 - 1.0, weights, C)[0]
    return np.clip(np.rint((y.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255)


# ------------------------------------------------------------------------------------------------ the tables

def test_every_port_option_is_mapped_and_documented():
    """Each option of the port's three parsers is accepted by our CLI and appears in docs/mindspore_port.md's
    side-by-side tables."""
    from mindspore_impl import infer, train
    import runtime.video2anime as video

    assert [o.flag for o in port_cli.TRAIN_OPTIONS] == PORT_TRAIN_FLAGS
    assert [o.flag for o in port_cli.INFER_OPTIONS] == PORT_INFER_FLAGS
    from runtime.port_options import VIDEO_OPTIONS
    assert [o[0] for o in VIDEO_OPTIONS] == PORT_VIDEO_FLAGS
    docs = (ROOT / "docs/mindspore_port.md").read_text()
    for flag in PORT_TRAIN_FLAGS + PORT_INFER_FLAGS + PORT_VIDEO_FLAGS:
        assert f"| `{flag}` |" in docs, flag
    parsers = {"train": (PORT_TRAIN_FLAGS, lambda a: train.parse_args(a)),
               "infer": (PORT_INFER_FLAGS, lambda a: infer.parse_args(a)),
               "video": (PORT_VIDEO_FLAGS, lambda a: video.build_parser().parse_args(a))}
    for name, (flags, parse) in parsers.items():
        for flag in flags:
            value = {"--device_target": "CPU", "--resume": "False", "--img_size": "256"}.get(flag, "1")
            base = ["--ckpt_file_name", "x.ckpt", "--infer_dir", "d", "--infer_output", "o"] if name == "infer" else []
            parse(base + [flag, value])  # accepted (argparse would exit on an unknown option)


def test_the_train_table_lands_on_our_config_keys(port, monkeypatch):
    from mindspore_impl import train

    monkeypatch.setattr(port_cli, "available_device", lambda: "CPU")
    args = train.parse_args([
        "--dataset", "demo", "--data_dir", str(port["data"]), "--checkpoint_dir", str(port["root"] / "ck"),
        "--vgg19_path", str(port["vgg"]), "--epochs", "40", "--init_epochs", "5", "--batch_size", "2",
        "--save_interval", "2", "--lr_g", "3e-4", "--lr_d", "5e-4", "--init_lr", "2e-3", "--gan_loss", "lsgan",
        "--wadvg", "1.2", "--wadvd", "200", "--wcon", "1.1", "--wgra", "2.5", "--wcol", "12", "--img_ch", "3",
        "--ch", "16", "--n_dis", "2", "--phase", "train", "--debug_samples", "6", "--num_parallel_workers", "4",
        "--save_image_dir", "imgs"])
    cfg, notes = train.resolve(args)
    assert cfg["generator"]["name"] == "animeganv2_port_generator"
    assert cfg["data"] == {**cfg["data"], "style": "demo", "root": str(port["data"])}
    assert cfg["train"]["run_dir"] == str(port["root"] / "ck" / "demo") and cfg["train"]["batch_size"] == 2
    assert cfg["train"]["ckpt_every"] == cfg["train"]["sample_every"] == 2 * (4 // 2)  # 4 photos, batch 2
    assert cfg["train"]["max_steps"] == 40 * (6 // 2)
    assert cfg["train"]["device"] == "CPU"
    assert cfg["optim"] == {**cfg["optim"], "epochs": 40, "init_epochs": 5, "g_lr": 3e-4, "d_lr": 5e-4,
                            "init_lr": 2e-3}
    assert cfg["loss"] == {**cfg["loss"], "vgg_ckpt": str(port["vgg"]), "vgg_variant": "mindspore_port",
                           "g_adv_weight": 1.2, "d_adv_weight": 200.0, "con_weight": 1.1, "sty_weight": 2.5,
                           "color_weight": 12.0}
    assert cfg["discriminator"]["ch"] == 16 and cfg["discriminator"]["n_dis"] == 2
    assert any("samples/" in n for n in notes) and any("in memory" in n for n in notes)
    for bad, match in ((["--gan_loss", "hinge"], "LSGAN only"), (["--img_ch", "1"], "only RGB"),
                       (["--phase", "test"], "only 'train'")):
        with pytest.raises(port_cli.PortOptionError, match=match):
            train.resolve(train.parse_args(bad))


def test_resume_is_read_as_a_bool_and_the_device_is_what_exists(monkeypatch):
    """The port's type=bool reads 'False' as True; ours does not. Its device default GPU; ours: what exists."""
    from mindspore_impl import train

    assert bool("False") is True  # what the port's argparse type=bool does with `--resume False`
    assert [port_cli.resume_value(v) for v in (None, "False", "false", "0", "True", "latest", "runs/x.ckpt")] == \
        [None, None, None, None, "latest", "latest", "runs/x.ckpt"]
    assert train.parse_args(["--resume"]).resume == "latest"
    assert port_cli.available_device() == "CPU"  # MindSpore's CPU build here: no GPU, no Ascend
    cfg, _ = train.resolve(train.parse_args([]))
    assert cfg["train"]["device"] == "CPU"
    monkeypatch.setattr(port_cli, "available_device", lambda: "GPU")
    assert train.resolve(train.parse_args([]))[0]["train"]["device"] == "GPU"
    assert train.resolve(train.parse_args(["--device_target", "CPU"]))[0]["train"]["device"] == "CPU"
    tiny = str(ROOT / "configs/animeganv2/tiny.yaml")  # with --config, the config's device stays
    assert train.resolve(train.parse_args(["--config", tiny]))[0]["train"].get("device") is None


# ------------------------------------------------------------------------------------------------ train.py

def test_train_with_the_ports_options_then_resume_true(port):
    """A port-style command trains our trainer on the port's network and VGG (`--resume False` starts fresh: the
    port's parser would have asked to resume an empty run), writes loadable checkpoints in the port's names, and
    `--resume True` continues the same run."""
    ck = port["root"] / "ck"
    common = ["mindspore_impl/train.py", "--dataset", "demo", "--data_dir", port["data"], "--checkpoint_dir", ck,
              "--vgg19_path", port["vgg"], "--batch_size", "2", "--epochs", "2", "--init_epochs", "1", "--ch", "16",
              "--save_interval", "1", "--set", f"generator.channels={C}", "--set", "data.image_size=32",
              "--set", "data.sample_count=2", "--no-progress"]
    done = run(*common, "--resume", "False")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "done: step 4" in done.stdout and "MindSpore port's network" in done.stderr
    run_dir = ck / "demo"
    saved = ms.load_checkpoint(str(run_dir / "generator.ckpt"))
    assert "generator.5.depthwise_conv.weight" in saved and "generator.0.ins_norm.moving_mean" in saved
    log = (run_dir / "losses.csv").read_text().splitlines()
    header = log[0].split(",")
    content = [float(row.split(",")[header.index("G/content")]) for row in log[1:] if row.split(",")[
        header.index("G/content")]]
    assert content and all(c > 0 for c in content)  # the port's VGG19 is the loss network
    again = run(*common, "--resume", "True")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "done: step 4" in again.stdout  # resumed at the end of the run: nothing left to train


# ------------------------------------------------------------------------------------------------ infer.py / export

def test_infer_with_the_ports_options_on_odd_photos(port):
    out = port["root"] / "infer_out"
    done = run("mindspore_impl/infer.py", "--infer_dir", port["photos"], "--infer_output", out,
               "--ckpt_file_name", port["ckpt"], "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "holds the MindSpore port's generator (channels 4)" in done.stderr
    for name in ("odd.png", "wide.png"):
        src = np.asarray(Image.open(port["photos"] / name).convert("RGB"))
        got = np.asarray(Image.open(out / name).convert("RGB"))  # same file name, same size
        assert got.shape == src.shape
        assert np.abs(got.astype(np.int64) - numpy_stylized(port["weights"], src)).max() <= 1


def cli_error(main, argv, capsys) -> list[str]:
    """Run a CLI's main in this process through run_main; returns its `error:` lines (exit status 2 asserted)."""
    from runtime.errors import run_main

    with pytest.raises(SystemExit) as stop:
        run_main(main, [str(a) for a in argv])
    assert stop.value.code == 2
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def test_export_straight_from_the_ports_file_and_wrong_files_fail_in_one_line(port, tmp_path, capsys):
    from export import to_onnx
    from mindspore_impl import infer

    config = "configs/animeganv2/mindspore_port.yaml"
    done = run("export/to_onnx.py", "--config", config, "--set", f"generator.channels={C}", "--ckpt", port["ckpt"],
               "--output", tmp_path / "port.onnx", "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"parity: max \|onnxruntime - MindSpore\| = [0-9.e-]+ over 4 cases", done.stdout)
    # the released width: this tiny file's first tensor is the first mismatch, named in the file's spelling
    wrong = cli_error(to_onnx.main, ["--config", config, "--ckpt", port["ckpt"], "--output", tmp_path / "w.onnx"],
                      capsys)
    assert len(wrong) == 1
    assert "'train_one_step_cell_d.network.generator.generator.0.conv.weight' has shape (4, 3, 7, 7)" in wrong[0]
    assert not (tmp_path / "w.onnx").exists()
    # an official-topology checkpoint: not the port's names, no run beside it
    from mindspore_impl.models.animeganv2 import AnimeGANv2Generator
    ms.save_checkpoint(AnimeGANv2Generator(width=0.125), str(tmp_path / "official.ckpt"))
    port_style = ["--infer_dir", port["photos"], "--infer_output", tmp_path / "o", "--ckpt_file_name",
                  tmp_path / "official.ckpt"]
    assert cli_error(infer.main, port_style, capsys) == [
        "error: official.ckpt: its parameter names are not the MindSpore port's generator's and no run config.yaml "
        "is beside it; pass --config"]
    forced = cli_error(infer.main, ["--config", config, *port_style], capsys)
    assert len(forced) == 1 and "unexpected tensor 'block_a.0.conv.weight'" in forced[0]
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------ video2anime.py

def test_video_with_the_ports_options_exports_the_checkpoint_once(port, tmp_path):
    from tests._runtime_helpers import read_video, write_test_video

    clip = tmp_path / "clip.mp4"
    written = write_test_video(clip, n_frames=6, size=(50, 38))  # sides not multiples of 4: the graph crops
    ckpt = tmp_path / "netG_3.ckpt"
    ckpt.write_bytes(port["ckpt"].read_bytes())
    command = ["runtime/video2anime.py", "--video_input", clip, "--video_ckpt_file_name", ckpt,
               "--output_format", "mp4v", "--img_size", "256", "256", "--device_target", "CPU", "--no-progress"]
    first = run(*command, "--video_output", tmp_path / "a.mp4")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "is a MindSpore checkpoint; the runtime runs ONNX, so it is exported once" in first.stderr
    assert "H.264" in first.stderr and (tmp_path / "netG_3.ckpt.onnx").is_file()
    video = read_video(tmp_path / "a.mp4")
    assert len(video["frames"]) == len(written["frames"]) and video["frames"][0].shape == (38, 50, 3)
    assert video["audio"] is not None  # the port dropped the audio
    second = run(*command, "--video_output", tmp_path / "b.mp4")
    assert second.returncode == 0 and "exported earlier from netG_3.ckpt (same SHA-256)" in second.stderr


def test_a_changed_checkpoint_is_exported_again(port, tmp_path, monkeypatch):
    """The cache is reused only while the SHA-256 it records is the checkpoint's; the export runs in a separate
    process, and its one-line error becomes the runtime's."""
    from runtime import checkpoint_export as ce
    from runtime.errors import ConversionError

    ckpt = tmp_path / "G.ckpt"
    ckpt.write_bytes(port["ckpt"].read_bytes())
    calls = []

    class Done:
        returncode, stderr = 2, "note: ...\nerror: checkpoint G.ckpt does not match network G\n"

    monkeypatch.setattr(ce.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    (tmp_path / "G.ckpt.onnx").write_bytes(b"not a model")  # a cache that records no SHA-256
    with pytest.raises(ConversionError, match=r"cannot export G\.ckpt to ONNX: checkpoint G\.ckpt does not match"):
        ce.onnx_model_for(ckpt, log=lambda m: None)
    assert calls and calls[0][1].endswith("export/to_onnx.py") and "--config" not in calls[0]
    assert ce.onnx_model_for(tmp_path / "model.onnx") == tmp_path / "model.onnx"  # ONNX files pass through

"""Rebuild a bundled demo model from nothing, with one command per demo:

    python mindspore_impl/build_demo.py animeganv2     # runtime/assets/demo_animeganv2.onnx, 95-100 min, 2 cores
    python mindspore_impl/build_demo.py pix2pix        # runtime/assets/demo_pix2pix.onnx, demo_page.png, demo_pairs/
    python mindspore_impl/build_demo.py acgan          # runtime/assets/demo_acgan.onnx (procedural faces)
    python mindspore_impl/build_demo.py stylegan2      # runtime/assets/demo_stylegan2.onnx
    python mindspore_impl/build_demo.py predictor      # runtime/assets/demo_predictor.onnx + its page, first frame

Every demo is the same pipeline, described by one `Demo` record in `DEMOS`:
1. its training data, made offline (no datasets can be downloaded here), e.g. the "demo" cel-shading style that
   datasets/demo_style.py applies to scikit-image photos;
2. training with the shared trainer on the demo's config (tiny networks, minutes on a CPU; the config says why
   each setting was chosen);
3. export through export/to_onnx.py (parity-checked against MindSpore) to runtime/assets/.
Steps whose output already exists are skipped (`--force` redoes them), training resumes if interrupted, and a run
directory holding a run of other settings is refused rather than bundled.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.atomic import write_text_atomic  # noqa: E402
from runtime.errors import UserError, run_main  # noqa: E402


class DemoError(UserError):
    """The demo cannot be rebuilt as asked (a run directory of other settings, a failed step)."""


@dataclass(frozen=True)
class Demo:
    config: Path  # the training config; its train.run_dir is where the run lives
    output: Path  # the bundled ONNX file
    prepare: Callable[[dict, bool], None]  # (config, force) → build the training data (and anything else needed)
    network: str | None = None  # which exported network (None: the family's default)


def run(*cmd) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    if subprocess.run([str(c) for c in cmd], cwd=ROOT).returncode:
        raise DemoError(f"step failed: {' '.join(str(c) for c in cmd)}")


ANIMEGANV2_PHOTOS = 1600  # training photos (and their renderings): crops of 7 source pictures, many views of each


def recorded_settings(record: Path) -> dict | None:
    """The settings a finished dataset build recorded, or None (none recorded, or an unreadable record)."""
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None


def prepare_animeganv2(cfg: dict, force: bool) -> None:
    """The demo cel-shading dataset (ANIMEGANV2_PHOTOS crops at the config's image size, each photo's own rendering
    in demo/paired/) and a fixed random VGG19 (seed 0: no real VGG weights can be downloaded here; the demo config
    gives the VGG terms weight 0)."""
    data_root = ROOT / cfg["data"]["root"]
    style = cfg["data"]["style"]
    folders = ("train_photo", f"{style}/style", f"{style}/smooth", f"{style}/paired")
    # a dataset of other settings (an earlier build's, or an interrupted one) is redone, not trained on: the
    # settings are recorded beside the data once it is complete
    settings = {"size": cfg["data"]["image_size"], "count": ANIMEGANV2_PHOTOS}
    record = data_root / "build_settings.json"
    complete = all((data_root / f).is_dir() for f in folders) and recorded_settings(record) == settings and \
        len(list((data_root / f"{style}/paired").glob("*.png"))) == ANIMEGANV2_PHOTOS
    if force or not complete:
        record.unlink(missing_ok=True)
        run(sys.executable, "datasets/demo_style.py", "--output", data_root, "--size", settings["size"],
            "--count", settings["count"], "--overwrite")  # the demo's own data folder: redone in place
        write_text_atomic(record, json.dumps(settings))
    vgg = ROOT / cfg["loss"]["vgg_ckpt"]
    if force or not vgg.is_file():
        from mindspore_impl.models.vgg19 import random_vgg19_checkpoint

        random_vgg19_checkpoint(vgg, seed=0)


def prepare_pix2pix(cfg: dict, force: bool) -> None:
    """Pairs from scikit-image's colour photos (datasets/colorize_pairs.py on random crops) and the bundled demo
    page, the grey version of a photo kept out of training."""
    from datasets.colorize_demo import write_demo_crops, write_demo_page, write_demo_pairs

    data_root = ROOT / cfg["data"]["root"]
    colour = data_root.parent / "colour"
    if force or not (colour.is_dir() and any(colour.iterdir())):
        write_demo_crops(colour)
    if force or not (data_root / "A").is_dir():
        run(sys.executable, "datasets/colorize_pairs.py", "--input", colour, "--output", data_root, "--overwrite",
            "--no-progress")
    page = ROOT / "runtime/assets/demo_page.png"
    if force or not page.is_file():
        write_demo_page(page)
    pairs = ROOT / "runtime/assets/demo_pairs"  # what runtime/colorize_eval.py scores without arguments
    if force or not (pairs / "B").is_dir():
        write_demo_pairs(pairs)


def prepare_acgan(cfg: dict, force: bool) -> None:
    """4,000 procedural tagged faces at the config's size, in the study's layout (datasets/procedural_faces.py)."""
    root = ROOT / cfg["data"]["root"]
    if force or not (root / "tags.pickle").is_file():
        run(sys.executable, "datasets/procedural_faces.py", "--output", root, "--count", "4000", "--size",
            str(cfg["data"]["image_size"]), "--overwrite")


def prepare_stylegan2(cfg: dict, force: bool) -> None:
    """512 procedural cartoon frames at the demo's resolution (datasets/demo_frames.py), as a zip of PNGs."""
    frames = ROOT / cfg["data"]["source"]
    if force or not frames.is_file():
        run(sys.executable, "datasets/demo_frames.py", "--output", frames, "--count", "512",
            "--size", str(cfg["data"]["resolution"]), "--overwrite")


def prepare_predictor(cfg: dict, force: bool) -> None:
    """The moving-shapes project at 64 px through the manGANime tooling (14 episodes, the last 2 held out), and the
    runtime demo's page and first frame: those of the first held-out triple (an episode training never saw)."""
    import csv

    dataset = ROOT / cfg["data"]["root"]
    if force or not (dataset / "triples.csv").is_file():
        run(sys.executable, "datasets/manganime/moving_shapes.py", "--out", dataset.parent, "--size", "64",
            "--page-side", "128", "--episodes", "14", "--val", "2", "--force")
    with open(dataset / "triples.csv", newline="") as fh:
        first = next(row for row in csv.DictReader(fh) if row["split"] == "val")
    for key, name in (("page_path", "demo_predictor_page.png"), ("frame_path", "demo_predictor_first_frame.png")):
        shutil.copyfile(dataset / first[key], ROOT / "runtime/assets" / name)


DEMOS = {
    "animeganv2": Demo(ROOT / "configs/animeganv2/demo.yaml", ROOT / "runtime/assets/demo_animeganv2.onnx",
                       prepare_animeganv2),
    "pix2pix": Demo(ROOT / "configs/pix2pix/demo.yaml", ROOT / "runtime/assets/demo_pix2pix.onnx", prepare_pix2pix),
    "acgan": Demo(ROOT / "configs/acgan/demo.yaml", ROOT / "runtime/assets/demo_acgan.onnx", prepare_acgan),
    "stylegan2": Demo(ROOT / "configs/stylegan2/demo.yaml", ROOT / "runtime/assets/demo_stylegan2.onnx",
                      prepare_stylegan2, network="G_ema"),
    "predictor": Demo(ROOT / "configs/frame_predictor/demo.yaml", ROOT / "runtime/assets/demo_predictor.onnx",
                      prepare_predictor),
}


def build(demo: Demo, force: bool = False, output: Path | None = None) -> Path:
    from mindspore_impl.config import load_config, parse_yaml

    cfg = load_config(demo.config)
    run_dir = ROOT / cfg["train"]["run_dir"]
    if force:
        shutil.rmtree(run_dir, ignore_errors=True)
    demo.prepare(cfg, force)
    saved = run_dir / "config.yaml"
    if not force and saved.is_file() and parse_yaml(saved.read_text()) != cfg:
        # resuming (or re-exporting) a run made with other settings would bundle the wrong model
        raise DemoError(f"{run_dir} holds a run with other settings than {demo.config.name}; move it away or "
                        f"pass --force")
    train = [sys.executable, "mindspore_impl/train.py", "--config", demo.config]
    if (run_dir / "checkpoints/latest.json").is_file() and not force:
        train.append("--resume")  # finishes an interrupted run; a finished run stops at once
    elif saved.is_file():
        train.append("--overwrite")  # a run of these settings stopped before its first checkpoint: start over
    run(*train)
    output = Path(output or demo.output)
    network = ["--network", demo.network] if demo.network else []
    run(sys.executable, "export/to_onnx.py", "--config", demo.config, "--ckpt", run_dir / "generator.ckpt",
        *network, "--output", output, "--overwrite")  # replacing the bundled model is what this command is for
    print(f"demo model written to {output}")
    return output


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("demo", choices=sorted(DEMOS), help="which bundled demo to rebuild")
    p.add_argument("--force", action="store_true", help="rebuild the data and retrain from scratch")
    p.add_argument("--output", default=None, help="where to write the ONNX file (default: the bundled one)")
    args = p.parse_args(argv)
    build(DEMOS[args.demo], force=args.force, output=args.output)
    return 0


if __name__ == "__main__":
    run_main(main)

"""Rebuild the bundled demo model `runtime/assets/demo_animeganv2.onnx` from nothing, with one command:

    python export/build_demo_model.py            # WALL_TIME on 2 CPU cores

1. the "demo" cel-shading dataset from scikit-image photos (datasets/demo_style.py: DATASET_PHOTOS crops of the
   config's image size), with each training photo's own rendering in demo/paired/;
2. a fixed random-weight VGG19 (seed 0: no real VGG weights can be downloaded here). The family loads it, but the
   demo config gives the VGG terms weight 0, so it is never run;
3. training with the shared trainer on configs/animeganv2/demo.yaml (half-width AnimeGANv2, 64 px, the init phase
   fitted to the paired renderings; the config says why);
4. export through export/ (parity-checked against MindSpore) to runtime/assets/demo_animeganv2.onnx.
Steps whose output already exists are skipped (`--force` redoes them), and training resumes if interrupted.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/animeganv2/demo.yaml"
OUTPUT = ROOT / "runtime/assets/demo_animeganv2.onnx"
DATASET_PHOTOS = 1600  # training photos (and their renderings); crops of 7 source pictures, so many views of each


def run(*cmd):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--force", action="store_true", help="rebuild the dataset and retrain from scratch")
    p.add_argument("--output", default=str(OUTPUT))
    args = p.parse_args()

    sys.path.insert(0, str(ROOT))
    from mindspore_impl.config import load_config, parse_yaml

    cfg = load_config(CONFIG)
    data_root = ROOT / cfg["data"]["root"]
    vgg = ROOT / cfg["loss"]["vgg_ckpt"]
    run_dir = ROOT / cfg["train"]["run_dir"]
    if args.force:
        shutil.rmtree(run_dir, ignore_errors=True)
    style = cfg["data"]["style"]
    folders = ("train_photo", f"{style}/style", f"{style}/smooth", f"{style}/paired")
    if args.force or not all((data_root / f).is_dir() for f in folders):
        run(sys.executable, "datasets/demo_style.py", "--output", data_root, "--size", cfg["data"]["image_size"],
            "--count", DATASET_PHOTOS)
    if args.force or not vgg.is_file():
        from mindspore_impl.models.vgg19 import random_vgg19_checkpoint

        random_vgg19_checkpoint(vgg, seed=0)
    saved = run_dir / "config.yaml"
    if not args.force and saved.is_file() and parse_yaml(saved.read_text()) != cfg:
        # resuming (or re-exporting) a run made with other settings would bundle the wrong model
        sys.exit(f"error: {run_dir} holds a run with other settings than {CONFIG.name}; "
                 f"move it away or pass --force")
    train = [sys.executable, "mindspore_impl/train.py", "--config", CONFIG]
    if (run_dir / "checkpoints/latest.json").is_file() and not args.force:
        train.append("--resume")  # finishes an interrupted run; a finished run stops at once
    run(*train)
    run(sys.executable, "export/to_onnx.py", "--config", CONFIG, "--ckpt", run_dir / "generator.ckpt",
        "--output", args.output)
    print(f"demo model written to {args.output}")


if __name__ == "__main__":
    main()

"""Run a trained generator over images with MindSpore, to check a checkpoint without exporting it.

    python mindspore_impl/infer.py --config configs/animeganv2/hayao.yaml --ckpt runs/animeganv2_hayao/generator.ckpt \
        --input photos/ [more files or folders] --output out/ [--size 256 | --max-side 1024] [--ext .png]

Each image is reflect-padded (bottom/right) to the generator's size multiple and cropped back, so the output has
the size of the (optionally resized) input. `--ckpt` takes a plain generator checkpoint (`generator.ckpt`, or one
written by `import_weights.py`) or a training checkpoint (`checkpoints/step_*.ckpt`, whose generator parameters
carry the `G/` prefix). Unreadable images are reported and skipped (the exit status is then 1); outputs are written
atomically into --output as `<input stem><ext>`, and a run that would overwrite one of its inputs, or (without
--overwrite) an existing file, is refused before anything is written.
Production inference runs on onnxruntime (`runtime/`); this is the MindSpore-side check.

The MindSpore AnimeGANv2 port's infer.py options work too (docs/mindspore_port.md); without --config the network
is recognised from the checkpoint (the port's own names, or the run directory our trainer wrote it into):

    python mindspore_impl/infer.py --infer_dir photos/ --infer_output out/ \
        --ckpt_file_name animeganv2_generator_Hayao.ckpt
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from runtime.errors import EXIT_SKIPPED, UserError, run_main  # noqa: E402


class InferError(UserError):
    """Inference cannot run (bad checkpoint or arguments, nothing readable); the message names the cause."""


# ------------------------------------------------------------------------------------------------ one image
def padded_size(n: int, multiple: int) -> int:
    """Smallest multiple of `multiple` >= n, and at least 2·multiple: the innermost reflect pads need >= 2 pixels."""
    return max(-(-n // multiple) * multiple, 2 * multiple)


def pad_reflect(rgb: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad an HxWx3 image at the bottom/right to padded_size (edge mode for 1-pixel sides)."""
    h, w = rgb.shape[:2]
    ph, pw = padded_size(h, multiple) - h, padded_size(w, multiple) - w
    mode = "reflect" if min(h, w) > 1 else "edge"  # reflection needs two pixels to mirror
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode=mode)


def fit_size(rgb: np.ndarray, size: Optional[int], max_side: Optional[int]) -> np.ndarray:
    """--size N: N×N; --max-side M: shrink (keeping the aspect) so the long side is at most M; else unchanged."""
    from datasets.image_io import resize_rgb

    if size:
        return resize_rgb(rgb, (size, size))
    h, w = rgb.shape[:2]
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
        return resize_rgb(rgb, (max(1, round(h * scale)), max(1, round(w * scale))))
    return rgb


def stylize_rgb(forward: Callable, rgb: np.ndarray, multiple: int) -> np.ndarray:
    """HxWx3 uint8 → generator → HxWx3 uint8 of the same size (pad to the size multiple, crop back)."""
    import mindspore as ms
    from runtime.session import require_finite

    h, w = rgb.shape[:2]
    x = pad_reflect(rgb, multiple).astype(np.float32) / 127.5 - 1.0
    y = forward(ms.Tensor(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))).asnumpy()[0, :, :h, :w]
    require_finite(y, "the generator")
    return np.clip(np.rint((y.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------ files
def collect_inputs(items: List[str]) -> List[Path]:
    """Folders (their image files, not recursive) and files, in the given order, without duplicates."""
    from datasets.image_io import list_images

    found: List[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += list_images(path)
        elif path.is_file():
            found.append(path)
        else:
            raise InferError(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise InferError(f"no image files in {', '.join(items)}")
    return unique


def plan_outputs(inputs: List[Path], out_dir: Path, ext: Optional[str]) -> Dict[Path, Path]:
    """input → output path: `<stem><ext>` (ext None: the input's own suffix), `<stem>_1<ext>`... on name clashes;
    refuses to overwrite any input."""
    taken, plan = set(), {}
    for path in inputs:
        suffix = path.suffix if ext is None else ext
        name, n = f"{path.stem}{suffix}", 0
        while name in taken:
            n += 1
            name = f"{path.stem}_{n}{suffix}"
        taken.add(name)
        plan[path] = (out_dir / name).resolve()
    clash = set(plan.values()) & set(inputs)
    if clash:
        raise InferError(f"--output would overwrite the input {sorted(clash)[0]}; choose another folder or --ext")
    return plan


def run(cfg: dict, ckpt, inputs: List[str], output, size=None, max_side=None, ext: Optional[str] = ".png",
        use_jit=True, progress=True, report=print, network: Optional[str] = None, overwrite: bool = False) -> dict:
    """Stylise every input into `output`; returns {"written": n, "skipped": [lines]}.

    `report` receives one line per skipped (unreadable) image; `ext` None keeps each input's own file name.
    """
    import mindspore as ms
    from tqdm import tqdm
    from datasets.image_io import ImageReadError, ImageWriteError, image_format_for, read_rgb, write_image_atomic
    from runtime.outputs import refuse_existing

    for name, value in (("--size", size), ("--max-side", max_side)):
        if value is not None and value < 1:
            raise InferError(f"{name} must be a positive number of pixels, got {value}")
    if ext is not None:
        ext = ext if ext.startswith(".") else f".{ext}"
    out_dir = Path(output)
    files = collect_inputs(inputs)
    for suffix in {ext} if ext is not None else {p.suffix for p in files}:
        try:
            image_format_for(out_dir / f"x{suffix}")
        except ImageWriteError:
            raise InferError(f"{suffix!r} is not an image format Pillow can write (--ext)") from None
    plan = plan_outputs(files, out_dir.resolve(), ext)
    refuse_existing(plan.values(), overwrite)
    from mindspore_impl.families.base import load_exported

    net = load_exported(cfg, ckpt, network).net
    net.set_train(False)
    multiple = int(getattr(net, "size_multiple", 1))
    forward = ms.jit(net.construct) if use_jit else net  # jit compiles once per distinct image size
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InferError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc})") from None
    written, skipped = 0, []
    bar = tqdm(plan.items(), desc="infer", unit="img", disable=not progress)
    for src, dst in bar:
        try:
            rgb = fit_size(read_rgb(src), size, max_side)
        except ImageReadError as exc:
            skipped.append(f"skipped: {exc}")
            report(skipped[-1])
            continue
        try:
            write_image_atomic(dst, stylize_rgb(forward, rgb, multiple))
        except ImageWriteError as exc:  # disk full, permissions: later images would fail alike
            raise InferError(str(exc)) from None
        written += 1
    if not written:
        raise InferError(f"none of the {len(files)} input file(s) could be read as an image")
    return {"written": written, "skipped": skipped}


def parse_args(argv=None):
    from mindspore_impl.config import add_config_args
    from mindspore_impl.port_cli import DEVICES, KeepNamesOutput
    from runtime.outputs import add_overwrite_argument

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p, required=False, config_help="YAML config (see configs/); default: recognised from --ckpt "
                                                   "(the MindSpore port's names, or its run's config.yaml)")
    p.add_argument("--ckpt", "--ckpt_file_name", dest="ckpt", required=True,
                   help="generator checkpoint, plain or a training checkpoint (G/ prefix), or the MindSpore port's")
    p.add_argument("--network", default=None, metavar="NAME",
                   help="which of the family's networks to run (default: the checkpoint's own, else the family's)")
    p.add_argument("--input", "--infer_dir", dest="input", required=True, nargs="+",
                   help="image files and/or folders of images")
    p.add_argument("--output", default=None, help="output folder (created if needed)")
    p.add_argument("--infer_output", dest="output", action=KeepNamesOutput,
                   help="the port's spelling of --output: the outputs keep their inputs' file names")
    sizing = p.add_mutually_exclusive_group()
    sizing.add_argument("--size", type=int, help="resize every image to SIZE×SIZE first (e.g. the training size)")
    sizing.add_argument("--max-side", type=int, help="shrink images whose long side exceeds this (keeps aspect)")
    p.add_argument("--ext", default=None, help="output file type (default .png; with --infer_output, the input's)")
    p.add_argument("--device", "--device_target", dest="device", choices=DEVICES,
                   help="default: the config's train.device; without --config, the first of GPU, Ascend, CPU "
                        "that exists")
    p.add_argument("--device_id", type=int, default=None, help="device id (the port's option)")
    p.add_argument("--no-jit", action="store_true", help="run eagerly (PyNative) instead of compiling per size")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overwrite_argument(p)
    p.set_defaults(keep_names=False)
    args = p.parse_args(argv)
    if args.output is None:
        p.error("the following arguments are required: --output (or --infer_output)")
    return args


def main(argv=None):
    import mindspore as ms
    from tqdm import tqdm
    from mindspore_impl.checkpoint_config import resolve_config
    from mindspore_impl.families.base import validate_config
    from mindspore_impl.port_cli import available_device, use_device

    args = parse_args(argv)
    resolved = resolve_config(args.config, args.ckpt, args.overrides)
    if resolved.note:
        print(f"note: {resolved.note}", file=sys.stderr)
    cfg = validate_config(resolved.cfg)  # the whole config, before any input
    ms.set_context(mode=ms.PYNATIVE_MODE)
    device = args.device or ((cfg.get("train") or {}).get("device", "CPU") if args.config else available_device())
    use_device(device, args.device_id)
    ext = args.ext if args.ext is not None else (None if args.keep_names else ".png")
    result = run(cfg, args.ckpt, args.input, args.output, size=args.size, max_side=args.max_side, ext=ext,
                 use_jit=not args.no_jit, progress=not args.no_progress, network=args.network,
                 report=lambda line: tqdm.write(f"warning: {line}", file=sys.stderr), overwrite=args.overwrite)
    skipped = f" ({len(result['skipped'])} unreadable skipped)" if result["skipped"] else ""
    print(f"wrote {result['written']} image(s) to {args.output}{skipped}")
    return EXIT_SKIPPED if result["skipped"] else 0


if __name__ == "__main__":
    run_main(main)

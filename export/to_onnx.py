"""Export a trained generator to ONNX, proving parity with MindSpore before anything is written.

    python export/to_onnx.py --config configs/animeganv2/hayao.yaml --ckpt runs/animeganv2_hayao/generator.ckpt \\
        --output exported/hayao.onnx
    python export/to_onnx.py ... --fp16                      # half-precision graph (float32 input/output)
    python export/to_onnx.py ... --int8 --calib photos/ [--check-images other_photos/]
                                                             # also writes <output stem>.int8.onnx
    python export/to_onnx.py ... --bn-stats per-image        # BatchNorm as junyanz test.py without --eval

Without --config the config is recognised from --ckpt: the public MindSpore AnimeGANv2 port's generator files
(animeganv2_generator_Hayao.ckpt, netG_<epoch>.ckpt) by their parameter names, our runs' checkpoints by the
config.yaml of their run directory (see mindspore_impl/checkpoint_config.py).

--ckpt takes a plain checkpoint the trainer writes (RUN_DIR/generator.ckpt for the family's default network,
RUN_DIR/<NAME>.ckpt for the others) or a full training checkpoint (RUN_DIR/checkpoints/step_*.ckpt, each network's
parameters prefixed by its name, e.g. `G_ema/`). --network NAME picks one of the networks the config's family
exports (StyleGAN2: G_ema by default, or G; CycleGAN: G_A or G_B); a checkpoint that holds another network is
refused, naming the networks it holds. The graph is checked with onnx.checker and shape inference, then
onnxruntime is compared with MindSpore on random inputs drawn from the network's ports (images at two sizes,
latents, tags) at batch 1 and 4; above --tolerance the export is refused and no file is left behind. An existing
--output (or .int8.onnx) is not replaced unless --overwrite. Errors: one `error:` line on stderr, exit status 2.

BatchNorm exports in eval mode by default (`--bn-stats moving`: the running statistics, as `test.py --eval`).
junyanz's `test.py` without `--eval` runs the network in train mode, so BatchNorm normalises each image with its
own statistics (its batch size is 1); many pix2pix results were made that way. `--bn-stats per-image` exports that:
every BatchNorm becomes an instance norm with the BatchNorm's gamma and beta (statistics of each image over its
height and width, per channel), for any batch size. Dropout stays off either way (train-mode dropout would make
every run different; the export is deterministic). The choice is recorded in the metadata (`batch_norm_statistics`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python export/to_onnx.py` from the root

from export.api import (DEFAULT_OPSET, DEFAULT_TOLERANCE, interface_of, prepare_generator,  # noqa: E402
                        set_metadata, write_model_atomic)
from export.errors import ExportError  # noqa: E402
from export.quantize import (CALIBRATION_METHODS, DEFAULT_METHOD, DEFAULT_PERCENTILE, int8_quality,  # noqa: E402
                             load_images, quantize_int8, split_calibration)
from mindspore_impl.checkpoint_config import resolve_config  # noqa: E402
from mindspore_impl.config import add_config_args, check_keys, section  # noqa: E402
from mindspore_impl.families.base import load_exported, validate_config  # noqa: E402
from runtime.argtypes import finite_float  # noqa: E402
from runtime.errors import run_main  # noqa: E402
from runtime.outputs import add_overwrite_argument, refuse_existing  # noqa: E402

EXPORT_KEYS = ("style",)  # the config's optional `export:` section


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p, required=False, config_help="YAML config (see configs/); default: recognised from --ckpt "
                                                   "(the MindSpore port's names, or its run's config.yaml)")
    p.add_argument("--ckpt", required=True, help="generator.ckpt, RUN_DIR/<NAME>.ckpt, a training checkpoint, or a "
                                                 "MindSpore AnimeGANv2 port checkpoint")
    p.add_argument("--network", default=None, metavar="NAME",
                   help="which of the family's networks to export (default: the checkpoint's own, else the "
                        "family's default, e.g. G_ema for StyleGAN2)")
    p.add_argument("--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (17 or later; default 17)")
    p.add_argument("--tolerance", type=finite_float, default=None,
                   help=f"max |onnxruntime - MindSpore| (default {DEFAULT_TOLERANCE['fp32']:g}, "
                        f"{DEFAULT_TOLERANCE['fp16']:g} with --fp16)")
    variant = p.add_mutually_exclusive_group()
    variant.add_argument("--fp16", action="store_true", help="write a half-precision graph (float32 input/output)")
    variant.add_argument("--int8", action="store_true",
                         help="also write <output stem>.int8.onnx, statically quantized (needs --calib)")
    p.add_argument("--calib", help="folder of calibration images for --int8")
    p.add_argument("--check-images", help="folder of images for the int8 PSNR report (default: every fourth "
                                          "--calib image, held out of the calibration)")
    p.add_argument("--calib-size", type=int, default=256, help="square side images are cropped/resized to")
    p.add_argument("--calib-method", choices=sorted(CALIBRATION_METHODS), default=DEFAULT_METHOD)
    p.add_argument("--calib-percentile", type=finite_float, default=DEFAULT_PERCENTILE,
                   help=f"with --calib-method percentile: %% of activation values inside the int8 range "
                        f"(default {DEFAULT_PERCENTILE:g})")
    p.add_argument("--min-psnr", type=finite_float, default=None,
                   help="refuse the int8 file when its mean PSNR vs fp32 is below this (dB)")
    p.add_argument("--bn-stats", choices=("moving", "per-image"), default="moving",
                   help="BatchNorm statistics: the running ones (eval mode, default) or each image's own "
                        "(junyanz test.py without --eval); dropout is off either way")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    if (args.calib or args.check_images) and not args.int8:
        p.error("--calib and --check-images only apply with --int8")
    if args.int8 and not args.calib:
        p.error("--int8 needs --calib DIR")
    if not 50.0 < args.calib_percentile <= 100.0:
        p.error(f"--calib-percentile must be in (50, 100], got {args.calib_percentile:g}")
    return args


def _check_paths(args) -> tuple[Path, Path | None]:
    output = Path(args.output)
    if output.suffix.lower() != ".onnx":
        raise ExportError(f"--output must end in .onnx, got {output.name}")
    if output.resolve() == Path(args.ckpt).resolve():
        raise ExportError("--output would overwrite the checkpoint")
    if args.tolerance is not None and not args.tolerance >= 0:
        raise ExportError(f"--tolerance must be >= 0, got {args.tolerance}")
    int8_output = output.with_name(output.stem + ".int8.onnx") if args.int8 else None
    refuse_existing([output] + ([int8_output] if int8_output else []), args.overwrite)
    return output, int8_output


def resolve_style(cfg: dict, config_path: str) -> str:
    """`export.style`, else `data.style`, else the config file's stem."""
    style = section(cfg, "export").get("style") or section(cfg, "data").get("style")
    return str(style) if style else Path(config_path).stem


def main(argv=None) -> int:
    args = parse_args(argv)
    output, int8_output = _check_paths(args)
    resolved = resolve_config(args.config, args.ckpt, args.overrides)
    if resolved.note and not args.quiet:
        print(f"note: {resolved.note}", file=sys.stderr)
    cfg = validate_config(resolved.cfg)
    check_keys(section(cfg, "export"), EXPORT_KEYS, "export")
    loaded = load_exported(cfg, args.ckpt, args.network)
    net = loaded.net
    if args.bn_stats == "per-image":
        from mindspore_impl.layers import per_image_batch_norm

        if not per_image_batch_norm(net):
            raise ExportError(f"--bn-stats per-image: network {loaded.name} has no BatchNorm layer")
    spec = interface_of(net, task=loaded.export.task)
    progress = not args.quiet

    calib_paths = check_paths = None
    if args.int8:  # read the images before the slow part, so a bad folder fails at once
        if not spec.inputs_of("image"):
            raise ExportError(f"--int8 calibrates on images; network {loaded.name} takes no image input")
        if len(spec.inputs) > 1:  # calibration feeds one image tensor (a predictor also takes its page, ...)
            raise ExportError(f"--int8 calibrates networks with one input; network {loaded.name} takes "
                              f"{', '.join(p.name for p in spec.inputs)}")
        multiple = spec.size_multiple
        if args.calib_size < 1 or args.calib_size % multiple:
            raise ExportError(f"--calib-size {args.calib_size} must be a positive multiple of {multiple}")
        calib_paths, check_paths = split_calibration(args.calib, args.check_images)
        calib_images = load_images(calib_paths, args.calib_size, progress)
        check_images = load_images(check_paths, args.calib_size, progress)

    family = cfg.get("family") or section(cfg, "generator")["name"].removesuffix("_generator")
    result = prepare_generator(net, interface=spec, family=str(family), style=resolve_style(cfg, resolved.path),
                               network=loaded.name, config=cfg, source_checkpoint_sha256=loaded.sha256,
                               opset=args.opset,
                               precision="fp16" if args.fp16 else "fp32", tolerance=args.tolerance,
                               progress=progress)
    set_metadata(result.model, {"batch_norm_statistics": args.bn_stats})
    print(f"network {loaded.name} ({spec.task}): parity: {result.parity.summary()}")

    int8_model = None
    if args.int8:
        int8_model = quantize_int8(result.model, calib_images, method=args.calib_method,
                                   percentile=args.calib_percentile)
        quality = int8_quality(result.model, int8_model, check_images, [p.name for p in check_paths])
        method = args.calib_method + (f" {args.calib_percentile:g}%" if args.calib_method == "percentile" else "")
        print(f"int8 ({len(calib_paths)} calibration images, {method}; "
              f"{len(check_paths)} check image(s) at {args.calib_size}px):")
        print(quality.table())
        if args.min_psnr is not None and quality.mean < args.min_psnr:
            raise ExportError(f"int8 mean PSNR {quality.mean:.2f} dB is below --min-psnr {args.min_psnr:g}; "
                              "nothing was written")
        set_metadata(int8_model, {"precision": "int8-qdq", "int8_psnr_vs_fp32_db": f"{quality.mean:.2f}",
                                  "int8_calibration": f"{method}, {len(calib_paths)} images"})

    write_model_atomic(result.model, output)
    print(f"wrote {output}")
    if int8_model is not None:
        write_model_atomic(int8_model, int8_output)
        print(f"wrote {int8_output}")
    return 0


if __name__ == "__main__":
    run_main(main)

"""Sample a trained noise-driven generator in MindSpore, as `runtime/sample.py` samples its ONNX export.

    python mindspore_impl/generate.py --network G.ckpt --config G.yaml --seeds 0-15 [--trunc 0.7] --outdir out/
    python mindspore_impl/generate.py --network RUN/generator.ckpt --config C.yaml --seeds 0-7 --output grid.png

Latents follow the runtime's (and NVlabs') rule, `np.random.RandomState(seed).randn(1, z_dim)`; tags and the
scalar input (truncation_psi) are fed as the runtime feeds them, and the same grid code assembles the picture, so
for the same seeds this writes what `runtime/sample.py` writes for the exported model (up to float rounding between
MindSpore and onnxruntime). `--network-name` picks one of the family's networks (e.g. G instead of G_ema).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from runtime.errors import UserError, run_main  # noqa: E402


class GenerateError(UserError):
    """Sampling cannot run as asked (not a sampling network, bad seeds or tags); the message says why."""


def sample(net, spec, z: np.ndarray, tags: np.ndarray | None, psi: float | None) -> np.ndarray:
    """uint8 [N, H, W, 3] from MindSpore for latents z, tag rows and the scalar input, as the runtime computes."""
    import mindspore as ms
    from runtime.session import to_pixels

    args = []
    for port in spec.inputs:
        if port.kind == "noise":
            args.append(ms.Tensor(z))
        elif port.kind == "onehot":
            args.append(ms.Tensor(np.ascontiguousarray(np.broadcast_to(tags, (len(z), port.width)),
                                                       dtype=np.float32)))
        elif port.kind == "scalar":
            args.append(ms.Tensor(np.array(port.default if psi is None else psi, np.float32)))
        else:
            raise GenerateError(f"cannot feed a {port.kind} input here")
    out = net(*args).asnumpy()
    output = spec.outputs[0]
    return to_pixels(out.transpose(0, 2, 3, 1), output.range)


def parse_args(argv=None):
    from mindspore_impl.config import add_config_args
    from runtime.argtypes import finite_float
    from runtime.outputs import add_overwrite_argument

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--network", required=True, metavar="CKPT", help="generator checkpoint (plain or training)")
    p.add_argument("--network-name", default=None, metavar="NAME",
                   help="which of the family's networks (default: the checkpoint's own, else the family's)")
    p.add_argument("--seeds", default="0-15", help="seeds: ranges a-b and lists 1,5,9 (default 0-15)")
    p.add_argument("--trunc", type=finite_float, default=None, help="truncation psi (networks with a scalar input)")
    p.add_argument("--sigma", type=finite_float, default=1.0, help="latent scale (default 1.0)")
    p.add_argument("--tag", action="append", default=[], metavar="GROUP=VALUE",
                   help="tag value for every sample (networks with tags); repeat for each group")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--output", default=None, help="grid PNG (default outputs/generated.png)")
    out.add_argument("--outdir", default=None, help="one PNG per seed (seed0000.png, ...)")
    p.add_argument("--device", choices=("CPU", "GPU", "Ascend"), default=None)
    add_overwrite_argument(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    import mindspore as ms
    from runtime.interface import interface_of
    from mindspore_impl.config import load_config
    from mindspore_impl.distributed import select_device
    from mindspore_impl.families.base import load_exported, validate_config
    from runtime.sampler import encode_tags, latents, make_grid, near_square, parse_seeds, parse_tags, seeded_tags
    from runtime.imaging import save_image

    from runtime.outputs import refuse_existing

    args = parse_args(argv)
    cfg = validate_config(load_config(args.config, args.overrides))
    seeds = parse_seeds(args.seeds)
    if args.sigma < 0:
        raise GenerateError(f"--sigma {args.sigma} must be >= 0")
    outputs = ([Path(args.outdir) / f"seed{seed:04d}.png" for seed in seeds] if args.outdir
               else [Path(args.output or "outputs/generated.png")])
    refuse_existing(outputs, args.overwrite)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    select_device(args.device or (cfg.get("train") or {}).get("device", "CPU"))
    loaded = load_exported(cfg, args.network, args.network_name)
    spec = interface_of(loaded.net, task=loaded.export.task)
    if spec.task != "sample":
        raise GenerateError(f"network {loaded.name} is an image-to-image network (task {spec.task}); "
                            "use mindspore_impl/infer.py")
    z = latents(spec.inputs_of("noise")[0].width, seeds, args.sigma)
    tag_port = (spec.inputs_of("onehot") or [None])[0]
    tags = None
    if tag_port is not None:
        tags = encode_tags(tag_port, parse_tags(args.tag)) if args.tag else seeded_tags(tag_port, seeds)
    elif args.tag:
        raise GenerateError(f"network {loaded.name} takes no tags")
    if args.trunc is not None and not spec.inputs_of("scalar"):
        raise GenerateError(f"network {loaded.name} has no truncation input")
    loaded.net.set_train(False)
    images = sample(loaded.net, spec, z, tags, args.trunc)
    if args.outdir:
        for path, image in zip(outputs, images):
            print(f"wrote {save_image(path, image)}")
    else:
        rows, cols = near_square(len(images))
        print(f"wrote {save_image(outputs[0], make_grid(images, rows, cols))}")
    return 0


if __name__ == "__main__":
    run_main(main)

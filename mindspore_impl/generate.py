"""Sample a trained noise-driven generator in MindSpore, as `runtime/sample.py` samples its ONNX export.

    python mindspore_impl/generate.py --network G.ckpt --config G.yaml --seeds 0-15 [--trunc 0.7] --outdir out/
    python mindspore_impl/generate.py --network RUN/generator.ckpt --config C.yaml --seeds 0-7 --output grid.png
    python mindspore_impl/generate.py --network G.ckpt --config configs/acgan/faces.yaml --mode fix_noise --seed 3

Latents follow the runtime's (and NVlabs') rule, `np.random.RandomState(seed).randn(1, z_dim)` times sigma (the
network's own `sample_sigma` by default, as the runtime reads it from the export); tags, the scalar input
(truncation_psi) and the --mode grids (runtime/sampler.grid_plan) are planned by the runtime's own functions and the
same grid code assembles the picture, so for the same options this writes what `runtime/sample.py` writes for the
exported model (up to float rounding between MindSpore and onnxruntime). `--network-name` picks one of the
family's networks (e.g. G instead of G_ema).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from runtime.errors import UserError, run_main  # noqa: E402


class GenerateError(UserError):
    """Sampling cannot run as asked (not a sampling network, bad seeds or tags); the message says why."""


def sample(net, spec, z: np.ndarray, tags: np.ndarray | None, psi: float | None, batch: int = 16) -> np.ndarray:
    """uint8 [N, H, W, 3] from MindSpore for latents z, tag rows and the scalar input, as the runtime computes
    (in chunks of `batch`, as the runtime runs them: BatchNorm in eval mode makes chunks independent)."""
    import mindspore as ms
    from runtime.session import to_pixels

    parts = []
    for start in range(0, len(z), batch):
        args = []
        zs = z[start:start + batch]
        for port in spec.inputs:
            if port.kind == "noise":
                args.append(ms.Tensor(np.ascontiguousarray(zs, dtype=np.float32)))
            elif port.kind == "onehot":
                rows = np.broadcast_to(tags, (len(z), port.width))[start:start + batch]
                args.append(ms.Tensor(np.ascontiguousarray(rows, dtype=np.float32)))
            elif port.kind == "scalar":
                args.append(ms.Tensor(np.array(port.default if psi is None else psi, np.float32)))
            else:
                raise GenerateError(f"cannot feed a {port.kind} input here")
        out = net(*args).asnumpy()
        parts.append(to_pixels(out.transpose(0, 2, 3, 1), spec.outputs[0].range))
    return np.concatenate(parts)


def sample_plan(net, spec, plan, psi: float | None = None, batch: int = 16) -> np.ndarray:
    """The images of a runtime.sampler.GridPlan, row-major (the network in eval mode is the caller's job)."""
    return sample(net, spec, plan.z, plan.tags, psi, batch)


def parse_args(argv=None):
    from mindspore_impl.config import add_config_args
    from runtime.argtypes import finite_float
    from runtime.outputs import add_overwrite_argument

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--network", required=True, metavar="CKPT", help="generator checkpoint (plain or training)")
    p.add_argument("--network-name", default=None, metavar="NAME",
                   help="which of the family's networks (default: the checkpoint's own, else the family's)")
    p.add_argument("--mode", default=None, help="a labelled grid, as runtime/sample.py --mode")
    p.add_argument("--seeds", default=None, help="seeds: ranges a-b and lists 1,5,9 (default 0-15; not with --mode)")
    p.add_argument("--seed", type=int, default=None, help="with --mode: the first seed (default 0)")
    p.add_argument("--n", type=int, default=None, help="with --mode: latents or rows (as runtime/sample.py)")
    p.add_argument("--grid", default=None, metavar="RxC", help="grid rows x columns (default: near-square)")
    p.add_argument("--trunc", type=finite_float, default=None, help="truncation psi (networks with a scalar input)")
    p.add_argument("--sigma", type=finite_float, default=None, help="latent scale (default: the network's sample_sigma, "
                                                             "else 1.0)")
    p.add_argument("--tag", action="append", default=[], metavar="GROUP=VALUE",
                   help="tag value for every sample (networks with tags); repeat for each group")
    p.add_argument("--hair", default=None, help="same as --tag hair=HAIR")
    p.add_argument("--eye", default=None, help="same as --tag eye=EYE")
    p.add_argument("--batch", type=int, default=16, help="samples per network call (default 16)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--output", default=None, help="grid PNG (default outputs/generated.png)")
    out.add_argument("--outdir", default=None, help="one PNG per seed (seed0000.png, ...)")
    p.add_argument("--device", choices=("CPU", "GPU", "Ascend"), default=None)
    add_overwrite_argument(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    import mindspore as ms
    from mindspore_impl.config import load_config
    from mindspore_impl.distributed import select_device
    from mindspore_impl.families.base import load_exported, validate_config
    from runtime.interface import interface_of
    from runtime.outputs import refuse_existing
    from runtime.imaging import save_image
    from runtime.sample import collect_tags, parse_grid
    from runtime.sampler import default_sigma, grid_plan, make_grid, parse_seeds, seeds_plan

    args = parse_args(argv)
    if args.mode is not None and (args.seeds or args.grid or args.outdir):
        raise GenerateError("--seeds, --grid and --outdir do not apply with --mode (use --seed and --n)")
    if args.mode is None and (args.seed is not None or args.n is not None):
        raise GenerateError("--seed and --n apply with --mode; without it, list the seeds with --seeds")
    if args.sigma is not None and not (math.isfinite(args.sigma) and args.sigma >= 0):
        raise GenerateError(f"--sigma {args.sigma} must be a finite number >= 0")
    if args.batch < 1:
        raise GenerateError(f"--batch must be >= 1, got {args.batch}")
    tags = collect_tags(args)
    seeds = parse_seeds(args.seeds or "0-15") if args.mode is None else None
    outputs = ([Path(args.outdir) / f"seed{seed:04d}.png" for seed in seeds] if args.outdir
               else [Path(args.output or "outputs/generated.png")])
    refuse_existing(outputs, args.overwrite)  # before any work
    cfg = validate_config(load_config(args.config, args.overrides))
    ms.set_context(mode=ms.PYNATIVE_MODE)
    select_device(args.device or (cfg.get("train") or {}).get("device", "CPU"))
    loaded = load_exported(cfg, args.network, args.network_name)
    spec = interface_of(loaded.net, task=loaded.export.task)
    if spec.task != "sample":
        raise GenerateError(f"network {loaded.name} is an image-to-image network (task {spec.task}); "
                            "use mindspore_impl/infer.py")
    if tags and not spec.inputs_of("onehot"):
        raise GenerateError(f"network {loaded.name} takes no tags")
    if args.trunc is not None and not spec.inputs_of("scalar"):
        raise GenerateError(f"network {loaded.name} has no truncation input")
    sigma = args.sigma if args.sigma is not None else default_sigma(spec.metadata)
    if args.mode is not None:
        plan = grid_plan(args.mode, spec, seed=args.seed or 0, n=args.n, tags=tags, sigma=sigma)
    else:
        rows, cols = parse_grid(args.grid, len(seeds))
        plan = seeds_plan(spec, seeds, rows, cols, tags, sigma)
    loaded.net.set_train(False)
    images = sample_plan(loaded.net, spec, plan, args.trunc, args.batch)
    if args.outdir:
        for path, image in zip(outputs, images):
            print(f"wrote {save_image(path, image)}")
    else:
        grid = make_grid(images, plan.rows, plan.cols, plan.row_labels, plan.col_labels)
        print(f"wrote {save_image(outputs[0], grid)}")
    return 0


if __name__ == "__main__":
    run_main(main)

"""StyleGAN2 latent-space tools (the manGANime study's projection and discriminator experiments), in MindSpore.

    python mindspore_impl/stylegan2_latent.py project --network G.ckpt --config G.yaml --target IMG_OR_VIDEO --outdir out
    python mindspore_impl/stylegan2_latent.py lerp --network G.ckpt --config G.yaml --start a.png --end b.png \
        --frames 48 --outdir out
    python mindspore_impl/stylegan2_latent.py summarize --input out/lerp.mp4 --output out/summary.png
    python mindspore_impl/stylegan2_latent.py ascent --network D.ckpt --config D.yaml --steps 1000 --lr 1e-3 --outdir out
    python mindspore_impl/stylegan2_latent.py ascent --space w --generator G.ckpt --network D.ckpt --config C.yaml ...

project: NVlabs' projector (mindspore_impl/projection.py) on an image or, frame by frame, on a video, each frame
warm-started from the previous frame's w and noise. Writes OUTDIR/latents.npz (w [frames, w_dim], one w per
frame, used by every layer), OUTDIR/frames/proj_NNNNN.png and target_NNNNN.png, and OUTDIR/side_by_side.mp4
(target | projection; side_by_side.png for an image). latents.npz is rewritten (atomically) after every frame;
--resume continues an interrupted run after its last saved frame, if its settings, network and target match.
lerp: projects two targets, interpolates in W (and the noise maps) over --frames frames → OUTDIR/lerp.mp4,
lerp.npz, endpoints.png (target a | projection a | projection b | target b).
summarize: a 1 × --count grid of evenly spaced frames of a video.
ascent: gradient ascent on the discriminator's real score from uniform noise (image space, the study's
backprop.py) or over G's W space (--space w); writes OUTDIR/step_NNNNN.png snapshots, log.csv, grid.png, report.md.

Existing outputs are refused unless --overwrite (checked before any work); errors are one `error:` line, exit 2.
See docs/manganime_projection.md.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from runtime.argtypes import finite_float, positive_int  # noqa: E402
from runtime.errors import UserError, run_main  # noqa: E402

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
LATENTS_VERSION = 1
GRID_MIN_SIDE = 128  # snapshots of tiny networks are enlarged (nearest) to this side in grids


class LatentToolError(UserError):
    """A latent-tool command cannot run as asked (bad target, resume mismatch, bad options)."""


# ------------------------------------------------------------------------------------------------ targets

class Target:
    """An image (one frame) or a video, read as RGB uint8 frames and fitted to the generator like NVlabs'
    projector does: centre crop to a square, then a LANCZOS resize to R × R."""

    def __init__(self, path: str | Path):
        from runtime.imaging import FORMATS, load_image

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.fps = None
        if suffix in FORMATS:
            self.kind, self._frames = "image", [load_image(self.path).rgb]
        elif suffix in VIDEO_SUFFIXES:
            from datasets.manganime.video_io import VideoFrames

            self.kind, self._frames = "video", VideoFrames(self.path)
            self.fps = self._frames.fps
        else:
            raise LatentToolError(f"target {self.path}: not an image ({', '.join(sorted(FORMATS))}) or a video "
                                  f"({', '.join(VIDEO_SUFFIXES)})")

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, index: int, resolution: int) -> np.ndarray:
        from PIL import Image

        rgb = self._frames[index]
        h, w = rgb.shape[:2]
        s = min(h, w)
        image = Image.fromarray(rgb).crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
        return np.asarray(image.resize((resolution, resolution), Image.Resampling.LANCZOS), dtype=np.uint8)


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise LatentToolError(f"cannot read {path} ({exc}); rerun without --resume") from None


def enlarge(image: np.ndarray, min_side: int = GRID_MIN_SIDE) -> np.ndarray:
    """Nearest-neighbour ×k so that the side reaches `min_side` (tiny test networks make 16-px pictures)."""
    k = max(1, -(-min_side // image.shape[0]))
    return image.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else image


# ------------------------------------------------------------------------------------------------ shared options

def add_network_args(p, what: str = "generator") -> None:
    from mindspore_impl.config import add_config_args

    add_config_args(p)
    p.add_argument("--network", required=True, metavar="CKPT", help=f"{what} checkpoint (plain or training)")
    p.add_argument("--network-name", default=None, metavar="NAME",
                   help="which network of the checkpoint (default: the file's own, else G_ema; ascent: D)")
    p.add_argument("--device", choices=("CPU", "GPU", "Ascend"), default=None)


def add_projection_args(p) -> None:
    from mindspore_impl.projection import ProjectionSettings as S

    p.add_argument("--steps", type=positive_int, default=S.steps, help=f"optimisation steps (default {S.steps})")
    p.add_argument("--warm-steps", type=positive_int, default=None,
                   help="steps for video frames warm-started from the previous frame (default: --steps)")
    p.add_argument("--w-avg-samples", type=positive_int, default=S.w_avg_samples,
                   help=f"mapped latents for w_avg and w_std (default {S.w_avg_samples})")
    p.add_argument("--lr", type=finite_float, default=S.lr, help=f"initial learning rate (default {S.lr})")
    p.add_argument("--lr-rampdown", type=finite_float, default=S.lr_rampdown,
                   help=f"lr cosine ramp-down, fraction of the steps (default {S.lr_rampdown})")
    p.add_argument("--lr-rampup", type=finite_float, default=S.lr_rampup,
                   help=f"lr ramp-up, fraction of the steps (default {S.lr_rampup})")
    p.add_argument("--noise-factor", type=finite_float, default=S.noise_factor,
                   help=f"initial w jitter × w_std (default {S.noise_factor})")
    p.add_argument("--noise-ramp", type=finite_float, default=S.noise_ramp,
                   help=f"w jitter ramp length, fraction of the steps (default {S.noise_ramp})")
    p.add_argument("--noise-reg", type=finite_float, default=S.noise_reg_weight,
                   help=f"noise regularisation weight (default {S.noise_reg_weight:g})")
    p.add_argument("--pixel-weight", type=finite_float, default=S.pixel_weight,
                   help=f"weight of the pixel MSE next to the VGG19 distance (default {S.pixel_weight})")
    p.add_argument("--seed", type=int, default=S.seed, help=f"random seed (default {S.seed})")
    p.add_argument("--vgg-ckpt", default=None, metavar="CKPT",
                   help="VGG19 weights (mindspore_impl/vgg19_convert.py); default: fixed random weights")


def projection_settings(args):
    from mindspore_impl.projection import ProjectionSettings

    return ProjectionSettings(steps=args.steps, warm_steps=args.warm_steps, w_avg_samples=args.w_avg_samples,
                              lr=args.lr, lr_rampdown=args.lr_rampdown, lr_rampup=args.lr_rampup,
                              noise_factor=args.noise_factor, noise_ramp=args.noise_ramp,
                              noise_reg_weight=args.noise_reg, pixel_weight=args.pixel_weight, seed=args.seed)


def setup_mindspore(cfg: dict, device: str | None) -> None:
    import mindspore as ms
    from mindspore_impl.distributed import select_device

    ms.set_context(mode=ms.PYNATIVE_MODE)  # the projection and ascent steps are compiled with ms.jit
    select_device(device or (cfg.get("train") or {}).get("device", "CPU"))


def load_config_checked(args) -> dict:
    from mindspore_impl.config import load_config
    from mindspore_impl.families.base import validate_config

    return validate_config(load_config(args.config, args.overrides))


def load_generator(cfg: dict, ckpt: str, name: str | None):
    """(LoadedNetwork of the StyleGAN2 generator, its generator section); a D or another family's network is
    refused by the checkpoint loader or by check_generator."""
    from mindspore_impl.families.base import load_exported
    from mindspore_impl.projection import check_generator

    loaded = load_exported(cfg, ckpt, name)
    check_generator(loaded.net)
    return loaded


def vgg_identity(ckpt: str | None) -> str:
    from runtime.checkpoint_export import file_sha256

    if not ckpt:
        return "random(seed 0)"
    if not Path(ckpt).is_file():
        raise LatentToolError(f"--vgg-ckpt {ckpt}: file not found")
    return file_sha256(Path(ckpt))


def run_settings(args, settings, loaded, cfg, target_path: Path) -> dict:
    """What a resumed run must share with the run it continues (everything but --max-frames)."""
    from runtime.checkpoint_export import file_sha256

    return {"version": LATENTS_VERSION, "projection": settings.as_dict(), "network": loaded.name,
            "network_sha256": loaded.sha256, "generator": cfg.get("generator"),
            "target_sha256": file_sha256(target_path), "vgg": vgg_identity(args.vgg_ckpt)}


# ------------------------------------------------------------------------------------------------ latents file

def save_latents(path: Path, state: dict) -> None:
    from runtime.outputs import output_file

    with output_file(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would add .npz to the temp name
            np.savez(f, **{k: v for k, v in state.items() if k != "settings"},
                     settings=np.array(json.dumps(state["settings"], sort_keys=True)))


def load_latents(path: Path) -> dict:
    if not path.is_file():
        raise LatentToolError(f"--resume: {path} does not exist (nothing to resume; run without --resume)")
    try:
        with np.load(path, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
        state["settings"] = json.loads(str(state["settings"]))
        for key in ("w", "dist", "pixel", "reg", "frame", "noise_last"):
            state[key] = np.asarray(state[key])
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise LatentToolError(f"--resume: cannot read {path} ({type(exc).__name__}: {exc})") from None
    return state


def check_resume(saved: dict, current: dict, path: Path) -> None:
    """Refuse to continue a run made with other settings, network or target, naming the first difference."""
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(saved), flat(json.loads(json.dumps(current, sort_keys=True)))
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            raise LatentToolError(f"--resume: {path} was made with {key}={a.get(key)!r}, this run has "
                                  f"{b.get(key)!r}; use the same settings, network and target (or another --outdir)")


# ------------------------------------------------------------------------------------------------ project

def project_main(args) -> int:
    from tqdm import tqdm

    from mindspore_impl.projection import Projector, load_projection_vgg
    from runtime.imaging import save_image
    from runtime.outputs import prepare_output_dir, refuse_existing
    from runtime.video import write_frames

    settings = projection_settings(args)
    target = Target(args.target)  # a missing or unreadable target stops here, before anything is loaded
    cfg = load_config_checked(args)
    setup_mindspore(cfg, args.device)
    loaded = load_generator(cfg, args.network, args.network_name)
    G, R = loaded.net, loaded.net.img_resolution
    total = len(target) if args.max_frames is None else min(len(target), args.max_frames)
    outdir = Path(args.outdir)
    latents_path = outdir / "latents.npz"
    frames_dir = outdir / "frames"
    compare_path = outdir / ("side_by_side.mp4" if target.kind == "video" else "side_by_side.png")

    def frame_paths(i: int) -> tuple[Path, Path]:
        return frames_dir / f"proj_{i:05d}.png", frames_dir / f"target_{i:05d}.png"

    current = run_settings(args, settings, loaded, cfg, target.path)
    if args.resume:
        state = load_latents(latents_path)
        check_resume(state["settings"], current, latents_path)
        done = len(state["w"])
        missing = [p for i in range(done) for p in frame_paths(i) if not p.is_file()]
        if missing:
            raise LatentToolError(f"--resume: {missing[0]} is missing; rerun without --resume")
    else:
        refuse_existing([latents_path, compare_path] + [p for i in range(total) for p in frame_paths(i)],
                        args.overwrite)
        state, done = None, 0
    projector = Projector(G, load_projection_vgg(args.vgg_ckpt), settings)
    prepare_output_dir(frames_dir)
    if state is None:
        state = {"w": np.zeros((0, G.w_dim), np.float32), "dist": np.zeros(0, np.float32),
                 "pixel": np.zeros(0, np.float32), "reg": np.zeros(0, np.float32), "frame": np.zeros(0, np.int64),
                 "noise_last": np.zeros(projector.noise_size, np.float32), "w_avg": projector.w_avg,
                 "w_std": np.float32(projector.w_std), "num_ws": np.int64(G.num_ws), "settings": current}
    bar = tqdm(total=total, initial=min(done, total), desc="project", unit="frame", disable=args.quiet)
    for i in range(done, total):
        warm = i > 0
        rng = np.random.default_rng([settings.seed, i])  # per frame: a resumed run draws what the full run drew
        steps = settings.steps_for(warm)
        inner = tqdm(total=steps, desc=f"frame {i}", unit="step", leave=False, disable=args.quiet)

        def progress(step, loss, inner=inner):
            inner.update(1)
            if step % 10 == 0:
                inner.set_postfix(loss=f"{loss:.4g}")

        goal = target.frame(i, R)
        result = projector.project(goal, rng, state["w"][-1] if warm else None,
                                   state["noise_last"] if warm else None, steps, progress)
        inner.close()
        proj_path, target_path = frame_paths(i)
        save_image(target_path, goal)
        save_image(proj_path, result.image)
        state.update(w=np.concatenate([state["w"], result.w[None]]),
                     dist=np.append(state["dist"], np.float32(result.dist)),
                     pixel=np.append(state["pixel"], np.float32(result.pixel)),
                     reg=np.append(state["reg"], np.float32(result.reg)),
                     frame=np.append(state["frame"], np.int64(i)), noise_last=result.noise)
        save_latents(latents_path, state)  # after the frame's pictures: a saved frame always has its PNGs
        bar.update(1)
        bar.set_postfix(dist=f"{result.dist:.4g}")
    bar.close()
    count = len(state["w"])
    pairs = (np.concatenate([read_png(frame_paths(i)[1]), read_png(frame_paths(i)[0])], axis=1)
             for i in range(count))
    if target.kind == "video":
        write_frames(compare_path, pairs, target.fps)
    else:
        save_image(compare_path, next(pairs))
    print(f"projected {count} frame(s) into {outdir} (latents.npz, frames/, {compare_path.name}); "
          f"last perceptual distance {state['dist'][-1]:.4g}, pixel MSE {state['pixel'][-1]:.4g}")
    return 0


# ------------------------------------------------------------------------------------------------ lerp

def lerp_main(args) -> int:
    from mindspore_impl.projection import Projector, lerp_latents, load_projection_vgg
    from runtime.imaging import save_image
    from runtime.outputs import prepare_output_dir, refuse_existing
    from runtime.video import write_frames

    settings = projection_settings(args)
    if args.frames < 2:
        raise LatentToolError(f"--frames {args.frames}: an interpolation needs at least 2 frames")
    ends = [Target(args.start), Target(args.end)]
    indices = [args.start_frame, args.end_frame]
    for target, index, option in zip(ends, indices, ("--start-frame", "--end-frame")):
        if not -len(target) <= index < len(target):
            raise LatentToolError(f"{option} {index}: {target.path} has {len(target)} frame(s)")
    cfg = load_config_checked(args)
    outdir = Path(args.outdir)
    outputs = [outdir / "lerp.mp4", outdir / "lerp.npz", outdir / "endpoints.png"]
    setup_mindspore(cfg, args.device)
    loaded = load_generator(cfg, args.network, args.network_name)
    refuse_existing(outputs, args.overwrite)
    G, R = loaded.net, loaded.net.img_resolution
    projector = Projector(G, load_projection_vgg(args.vgg_ckpt), settings)
    goals, results = [], []
    for k, (target, index) in enumerate(zip(ends, indices)):
        goal = target.frame(index % len(target), R)
        goals.append(goal)
        results.append(projector.project(goal, np.random.default_rng([settings.seed, k])))
        print(f"projected {'start' if k == 0 else 'end'}: perceptual distance {results[-1].dist:.4g}, "
              f"pixel MSE {results[-1].pixel:.4g}")
    a, b = results
    ws, noises = lerp_latents(a.w, b.w, a.noise, b.noise, args.frames, projector.layout)
    prepare_output_dir(outdir)
    frames = [projector.render(w, n) for w, n in zip(ws, noises)]
    count = write_frames(outputs[0], frames, args.fps)
    state = {"w": ws, "t": np.linspace(0.0, 1.0, args.frames), "num_ws": np.int64(G.num_ws),
             "settings": {"version": LATENTS_VERSION, "projection": settings.as_dict(), "network": loaded.name,
                          "network_sha256": loaded.sha256, "start": str(args.start), "end": str(args.end),
                          "start_frame": args.start_frame, "end_frame": args.end_frame}}
    save_latents(outputs[1], state)
    save_image(outputs[2], np.concatenate([goals[0], a.image, b.image, goals[1]], axis=1))
    print(f"wrote {outputs[0]} ({count} frames), {outputs[1].name}, {outputs[2].name}")
    return 0


# ------------------------------------------------------------------------------------------------ summarize

def summarize_main(args) -> int:
    from runtime.imaging import save_image
    from runtime.outputs import refuse_existing
    from runtime.sampler import make_grid

    output = Path(args.output) if args.output else Path(args.input).with_name(Path(args.input).stem + "_summary.png")
    refuse_existing([output], args.overwrite)
    target = Target(args.input)
    if target.kind != "video":
        raise LatentToolError(f"summarize reads a video, not the image {target.path}")
    n = len(target)
    if n < args.count:
        raise LatentToolError(f"{target.path} has {n} frame(s), fewer than --count {args.count}")
    picks = np.linspace(0, n - 1, args.count).round().astype(int)
    frames = [target._frames[int(i)] for i in picks]
    grid = make_grid([enlarge(f) for f in frames], 1, args.count, col_labels=[f"frame {i}" for i in picks])
    print(f"wrote {save_image(output, grid)} (frames {', '.join(str(i) for i in picks)} of {n})")
    return 0


# ------------------------------------------------------------------------------------------------ ascent

def ascent_main(args) -> int:
    from mindspore_impl.checkpoint_io import load_network_weights
    from mindspore_impl.config import ConfigError, section
    from mindspore_impl.discriminator_ascent import DEFAULT_LR, AscentSettings, DiscriminatorAscent
    from mindspore_impl.registry import build_network
    from runtime.atomic import write_text_atomic
    from runtime.imaging import save_image
    from runtime.outputs import prepare_output_dir, refuse_existing
    from runtime.sampler import make_grid

    settings = AscentSettings(space=args.space, steps=args.steps,
                              lr=args.lr if args.lr is not None else DEFAULT_LR[args.space], every=args.every,
                              seed=args.seed)
    if (args.space == "w") != (args.generator is not None):
        raise LatentToolError("--generator G.ckpt goes with --space w (and only there)")
    cfg = load_config_checked(args)
    if not section(cfg, "discriminator"):
        raise ConfigError(f"{args.config} has no 'discriminator:' section to build D from")
    outdir = Path(args.outdir)
    snap_steps = sorted({*range(0, settings.steps + 1, settings.every), settings.steps})
    outputs = [outdir / "log.csv", outdir / "grid.png", outdir / "report.md"] + \
        [outdir / f"step_{s:05d}.png" for s in snap_steps]
    refuse_existing(outputs, args.overwrite)
    setup_mindspore(cfg, args.device)
    D = build_network(cfg, "discriminator")
    d_name, d_sha = load_network_weights(D, args.network, args.network_name or "D", exports=("D",))
    G = load_generator(cfg, args.generator, args.generator_name).net if args.generator else None
    ascent = DiscriminatorAscent(D, G)
    from tqdm import tqdm

    bar = tqdm(total=settings.steps, desc=f"ascent ({settings.space})", unit="step", disable=args.quiet)

    def progress(step, p):
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(p=f"{p:.3f}")

    result = ascent.run(settings, progress)
    bar.close()
    prepare_output_dir(outdir)
    for snap in result.snapshots:
        save_image(outdir / f"step_{snap.step:05d}.png", snap.image)
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["step", "p", "p_window_mean", "loss"])
    for snap in result.snapshots:
        writer.writerow([snap.step, f"{snap.p:.6f}", f"{snap.p_window:.6f}", f"{snap.loss:.6f}"])
    write_text_atomic(outdir / "log.csv", rows.getvalue())
    grid = make_grid([enlarge(s.image) for s in result.snapshots], 1, len(result.snapshots),
                     col_labels=[f"{s.step}: p {s.p:.3f}" for s in result.snapshots])
    save_image(outdir / "grid.png", grid)
    where = "pixels, from uniform noise in [-1, 1]" if settings.space == "image" else \
        "G's W space, from the mapped w of seed's z"
    lines = [f"# Discriminator ascent ({settings.space} space)", "",
             f"- discriminator: {args.network} (network {d_name}, sha256 {d_sha[:12]})",
             f"- ascent over {where}; minimise softplus(-D(x)) with Adam, lr {settings.lr:g}, "
             f"{settings.steps} steps, seed {settings.seed}",
             f"- first probability sigma(D(x)): {result.first_p:.4f}", f"- last probability: {result.last_p:.4f}",
             "", "| step | p | mean p since the last row | loss |", "|---|---|---|---|"]
    lines += [f"| {s.step} | {s.p:.4f} | {s.p_window:.4f} | {s.loss:.4f} |" for s in result.snapshots]
    lines += ["", "![snapshots](grid.png)", ""]
    write_text_atomic(outdir / "report.md", "\n".join(lines))
    print(f"ascent ({settings.space}): p {result.first_p:.4f} -> {result.last_p:.4f}; wrote {outdir}/report.md, "
          f"grid.png, log.csv, {len(result.snapshots)} snapshots")
    return 0


# ------------------------------------------------------------------------------------------------ CLI

def parse_args(argv=None):
    from runtime.outputs import add_overwrite_argument

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("project", help="project an image or a video (frame by frame) into W")
    add_network_args(pr)
    pr.add_argument("--target", required=True, help="image or video to project")
    pr.add_argument("--outdir", required=True, help="output folder")
    add_projection_args(pr)
    pr.add_argument("--max-frames", type=positive_int, default=None, help="project at most the first N frames")
    pr.add_argument("--resume", action="store_true",
                    help="continue the run in --outdir after its last saved frame (same settings required)")
    pr.add_argument("--quiet", action="store_true", help="no progress bars")
    add_overwrite_argument(pr)

    lp = sub.add_parser("lerp", help="project two targets and interpolate between them in W")
    add_network_args(lp)
    lp.add_argument("--start", required=True, help="first image or video")
    lp.add_argument("--end", required=True, help="last image or video")
    lp.add_argument("--start-frame", type=int, default=0, help="frame of a --start video (default 0)")
    lp.add_argument("--end-frame", type=int, default=-1, help="frame of an --end video (default -1: the last)")
    lp.add_argument("--frames", type=positive_int, default=48, help="frames of the interpolation (default 48)")
    lp.add_argument("--fps", type=finite_float, default=24.0, help="frame rate of lerp.mp4 (default 24)")
    lp.add_argument("--outdir", required=True, help="output folder")
    add_projection_args(lp)
    add_overwrite_argument(lp)

    sm = sub.add_parser("summarize", help="a 1 x N grid of evenly spaced frames of a video")
    sm.add_argument("--input", required=True, help="video")
    sm.add_argument("--output", default=None, help="grid PNG (default INPUT_summary.png beside the input)")
    sm.add_argument("--count", type=positive_int, default=8, help="frames in the row (default 8)")
    add_overwrite_argument(sm)

    asc = sub.add_parser("ascent", help="gradient ascent on D's real score (an adversarial example)")
    add_network_args(asc, "discriminator")
    asc.add_argument("--space", choices=("image", "w"), default="image",
                     help="optimise the pixels (the study) or G's w (needs --generator)")
    asc.add_argument("--generator", default=None, metavar="CKPT", help="with --space w: the generator checkpoint")
    asc.add_argument("--generator-name", default=None, metavar="NAME", help="which generator (default G_ema)")
    asc.add_argument("--steps", type=positive_int, default=1000, help="Adam steps (default 1000)")
    asc.add_argument("--lr", type=finite_float, default=None, help="learning rate (default 1e-3 image, 1e-2 w)")
    asc.add_argument("--every", type=positive_int, default=100, help="log and snapshot every N steps (default 100)")
    asc.add_argument("--seed", type=int, default=0, help="random start (default 0)")
    asc.add_argument("--outdir", required=True, help="output folder")
    asc.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite_argument(asc)
    return p.parse_args(argv)


COMMANDS = {"project": project_main, "lerp": lerp_main, "summarize": summarize_main, "ascent": ascent_main}


def main(argv=None) -> int:
    args = parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    run_main(main)

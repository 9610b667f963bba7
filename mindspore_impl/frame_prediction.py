"""A trained future-frame predictor in MindSpore: held-out scores against copy-last-frame, and rollouts to video.

The two commands of `mindspore_impl/manganime.py` built on the frame-predictor family:

- `test`: MSE and PSNR of the predictor on the held-out triples (split "val": whole episodes the training never
  saw), next to the **copy-last-frame** baseline (predict that nothing moves) and to the predictor fed the *wrong*
  pages (each sample gets the page of the sample half the split away): if that row is no better than the true
  pages, the model ignores the manga.
  With `--horizon H` (default 4) it also rolls the predictor out H steps from every held-out frame that has H
  successors in its shot (predictions fed back, the page fixed, as `generate` does) and scores the H-th prediction
  against the frame H steps on, next to copying the first frame that far: one-step scores hide drift.
- `generate`: roll the predictor out autoregressively from a first frame and a page into an H.264 clip (the first
  frame, then each prediction fed back), with the same rollout and preprocessing as runtime/manga2anime.py.

Scores are on pixel values scaled to [0, 1]: MSE = mean((ŷ − y)²), PSNR = 10·log10(1 / MSE) of the split's mean
MSE (one number per split, so a perfectly predicted still frame cannot make it infinite).
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from runtime.errors import UserError


class PredictionError(UserError):
    """The predictor cannot be tested or rolled out as asked; the message says why."""


@dataclass
class Scores:
    mse: float
    psnr: float

    @classmethod
    def of(cls, squared_error_sum: float, count: int) -> "Scores":
        mse = squared_error_sum / count
        return cls(mse, 10.0 * math.log10(1.0 / mse) if mse > 0 else float("inf"))


@dataclass
class Evaluation:
    """Scores of one split: the predictor, copy-last-frame, and the predictor with other samples' pages."""

    split: str
    samples: int
    stride: int
    model: Scores
    copy_last: Scores
    wrong_pages: Scores | None
    horizon: int = 0
    rollout: Scores | None = None        # the predictor's H-th autoregressive step vs the frame H steps on
    rollout_copy: Scores | None = None   # the first frame vs the frame H steps on
    rollout_starts: int = 0

    @property
    def mse_ratio(self) -> float:
        """model MSE / copy-last-frame MSE (below 1: the predictor beats copying)."""
        return self.model.mse / self.copy_last.mse

    def table(self) -> str:
        rows = [("predictor", self.model), ("copy last frame", self.copy_last)]
        if self.wrong_pages is not None:
            rows.append(("predictor, wrong pages", self.wrong_pages))
        if self.rollout is not None:
            rows += [(f"predictor, {self.horizon} steps rolled out", self.rollout),
                     (f"copy last frame, {self.horizon} steps ahead", self.rollout_copy)]
        lines = [f"held-out split '{self.split}': {self.samples} triples, stride {self.stride}"
                 + (f"; {self.rollout_starts} rollouts of {self.horizon} steps" if self.rollout else ""),
                 "| prediction | MSE | PSNR (dB) |", "|---|---|---|"]
        lines += [f"| {name} | {s.mse:.5f} | {s.psnr:.2f} |" for name, s in rows]
        lines.append(f"predictor MSE = {self.mse_ratio:.3f} x copy-last-frame "
                     f"({self.model.psnr - self.copy_last.psnr:+.2f} dB)")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "mse_ratio": self.mse_ratio}, indent=2)


def predict(net, batch: dict, page: np.ndarray | None = None) -> np.ndarray:
    """MindSpore's next frames (float32 NCHW in [-1, 1]) for a batch dict (PredictionTriples.arrays); `page`
    replaces the batch's pages."""
    import mindspore as ms
    from runtime.predictor import FRAME, PAGE, previous_names

    args = [batch[FRAME], batch[PAGE] if page is None else page] + [batch[k] for k in previous_names(net.context)]
    return net(*[ms.Tensor(a) for a in args]).asnumpy()


def _squared(pred: np.ndarray, target: np.ndarray) -> float:
    """Sum of squared errors on [0, 1] pixel values ((Δ/2)² for values in [-1, 1])."""
    return float(np.sum(np.square((pred.astype(np.float64) - target) / 2.0)))


def rollout_chains(triples, horizon: int) -> list[list[int]]:
    """Sample indices [i, next(i), …] of `horizon` consecutive samples (each starting where the previous one's
    target is), for every sample that has them."""
    index = {(s.episode, s.raw_frame): i for i, s in enumerate(triples.samples)}
    chains = []
    for i, sample in enumerate(triples.samples):
        chain = [i]
        while len(chain) < horizon:
            following = index.get((sample.episode, triples.samples[chain[-1]].raw_frame + triples.stride))
            if following is None:
                break
            chain.append(following)
        if len(chain) == horizon:
            chains.append(chain)
    return chains


def evaluate_rollout(net, triples, horizon: int, batch_size: int = 16) -> tuple[Scores, Scores, int] | None:
    """(predictor, copy) scores `horizon` steps ahead and the number of rollouts, or None when no sample has
    `horizon` successors. Each rollout starts from a sample's own frame and earlier frames, keeps its page, and
    feeds the predictions back (runtime/predictor.py `rollout` does the same)."""
    from runtime.predictor import FRAME, PAGE, previous_names

    chains = rollout_chains(triples, horizon)
    if not chains:
        return None
    names = previous_names(net.context)
    sums, pixels = {"model": 0.0, "copy": 0.0}, 0
    for start in range(0, len(chains), batch_size):
        part = chains[start:start + batch_size]
        batch = triples.arrays([c[0] for c in part])
        target = triples.arrays([c[-1] for c in part])["target"]
        current, history = batch[FRAME], [batch[k] for k in names]
        for _ in range(horizon):
            following = predict(net, {FRAME: current, PAGE: batch[PAGE], **dict(zip(names, history))})
            history = [current] + history[:-1] if history else []
            current = following
        sums["model"] += _squared(current, target)
        sums["copy"] += _squared(batch[FRAME], target)
        pixels += target.size
    return Scores.of(sums["model"], pixels), Scores.of(sums["copy"], pixels), len(chains)


def evaluate(net, triples, batch_size: int = 16, wrong_pages: bool = True, horizon: int = 0,
             progress: bool = False) -> Evaluation:
    """Score `net` on every sample of `triples` (a PredictionTriples), with the baselines of the module docstring;
    `horizon` > 1 adds the rollout scores."""
    from tqdm import tqdm

    net.set_train(False)
    n = len(triples)
    shift = n // 2 if wrong_pages and n >= 2 else 0
    sums = {"model": 0.0, "copy": 0.0, "wrong": 0.0}
    pixels = 0
    for start in tqdm(range(0, n, batch_size), desc="test", unit="batch", disable=not progress, file=sys.stderr):
        indices = list(range(start, min(n, start + batch_size)))
        batch = triples.arrays(indices)
        target = batch["target"]
        sums["model"] += _squared(predict(net, batch), target)
        sums["copy"] += _squared(batch["frame"], target)
        if shift:
            other = triples.arrays([(i + shift) % n for i in indices])["page"]
            sums["wrong"] += _squared(predict(net, batch, page=other), target)
        pixels += target.size
    result = Evaluation(triples.split, n, triples.stride, Scores.of(sums["model"], pixels),
                        Scores.of(sums["copy"], pixels), Scores.of(sums["wrong"], pixels) if shift else None)
    rolled = evaluate_rollout(net, triples, horizon, batch_size) if horizon > 1 else None
    if rolled is not None:
        result.horizon, (result.rollout, result.rollout_copy, result.rollout_starts) = horizon, rolled
    return result


# ------------------------------------------------------------------------------------------------ loading
def load_predictor(config: str, ckpt: str, overrides=(), device: str | None = None):
    """(config dict, the frame-predictor network with the checkpoint's weights, in inference mode)."""
    import mindspore as ms
    from mindspore_impl.config import load_config
    from mindspore_impl.distributed import select_device
    from mindspore_impl.families.base import load_exported

    cfg = load_config(config, overrides)
    if cfg.get("family") != "frame_predictor":
        raise PredictionError(f"{config} is a config of family '{cfg.get('family')}', not frame_predictor")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    select_device(device or (cfg.get("train") or {}).get("device", "CPU"))
    net = load_exported(cfg, ckpt).net
    net.set_train(False)
    return cfg, net


def held_out(cfg: dict, net, split: str = "val", stride: int | None = None):
    from mindspore_impl.config import build_dataclass, section
    from mindspore_impl.families.frame_predictor import PredictorData, open_split

    data = build_dataclass(PredictorData, section(cfg, "data"), "data")
    if stride is not None:
        data.stride = stride
    return open_split(data, net, split)


# ------------------------------------------------------------------------------------------------ commands
def add_model_arguments(p) -> None:
    from mindspore_impl.config import add_config_args

    add_config_args(p)
    p.add_argument("--ckpt", required=True, help="RUN_DIR/generator.ckpt or a training checkpoint")
    p.add_argument("--device", choices=("CPU", "GPU", "Ascend"), default=None)


def add_test_arguments(p) -> None:
    from runtime.outputs import add_overwrite_argument

    add_model_arguments(p)
    p.add_argument("--split", choices=("val", "train"), default="val",
                   help="which triples to score (default: the held-out episodes, val)")
    p.add_argument("--stride", type=int, default=None, help="frames from input to target (default: the config's)")
    p.add_argument("--horizon", type=int, default=4,
                   help="also score H-step rollouts (default 4; 0 or 1: one-step scores only)")
    p.add_argument("--batch", type=int, default=16, help="samples per forward pass")
    p.add_argument("--json", type=Path, default=None, help="also write the scores as JSON here")
    p.add_argument("--no-progress", action="store_true")
    add_overwrite_argument(p)


def run_test(args) -> int:
    from runtime.atomic import write_text_atomic
    from runtime.outputs import refuse_existing

    if args.batch < 1:
        raise PredictionError(f"--batch must be >= 1, got {args.batch}")
    if args.json is not None:
        refuse_existing([args.json], args.overwrite)
    cfg, net = load_predictor(args.config, args.ckpt, args.overrides, args.device)
    triples = held_out(cfg, net, args.split, args.stride)
    if args.horizon < 0:
        raise PredictionError(f"--horizon must be >= 0, got {args.horizon}")
    result = evaluate(net, triples, args.batch, horizon=args.horizon, progress=not args.no_progress)
    print(result.table())
    if args.json is not None:
        write_text_atomic(args.json, result.to_json() + "\n", make_parents=True)
        print(f"wrote {args.json}")
    return 0


DEFAULT_CLIP = Path("outputs") / "predicted.mp4"


def add_generate_arguments(p) -> None:
    from runtime.outputs import add_overwrite_argument

    add_model_arguments(p)
    p.add_argument("--frames", type=int, default=12, help="frames in the clip: the first, then predictions (12)")
    p.add_argument("--page", type=Path, default=None,
                   help="manga page image (default: the page of the held-out sample --sample)")
    p.add_argument("--first-frame", type=Path, default=None,
                   help="first frame image (default: the frame of the held-out sample --sample)")
    p.add_argument("--sample", type=int, default=0, help="which held-out sample gives the defaults (0)")
    p.add_argument("--output", type=Path, default=DEFAULT_CLIP, help=f"the clip (default {DEFAULT_CLIP})")
    p.add_argument("--strip", type=Path, default=None, help="also write 8 evenly spaced frames as one PNG")
    p.add_argument("--fps", type=float, default=12.0, help="frame rate of the clip (12)")
    p.add_argument("--crf", type=int, default=18, help="x264 quality, 0 (lossless) … 51 (18)")
    p.add_argument("--no-progress", action="store_true")
    add_overwrite_argument(p)


def strip_of(frames: list[np.ndarray], count: int = 8) -> np.ndarray:
    """`count` evenly spaced frames side by side (fewer when the clip is shorter), labelled with their index."""
    from runtime.sampler import make_grid

    picks = sorted(set(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)))
    return make_grid([frames[i] for i in picks], 1, len(picks), col_labels=[str(i) for i in picks])


def run_generate(args) -> int:
    import mindspore as ms
    from runtime.imaging import check_image_suffix, load_image, save_image
    from runtime.outputs import refuse_existing
    from runtime.predictor import fit_to_multiple, frame_input, page_input, rollout, to_frames
    from runtime.video import CONTAINERS, write_frames

    if args.frames < 1:
        raise PredictionError(f"--frames must be >= 1, got {args.frames}")
    if args.output.suffix.lower() not in CONTAINERS:
        raise PredictionError(f"--output {args.output}: choose a video file ({', '.join(sorted(CONTAINERS))})")
    if args.strip is not None:
        check_image_suffix(args.strip)
    for given in (args.page, args.first_frame):
        if given is not None and given.resolve() in (args.output.resolve(),
                                                     args.strip.resolve() if args.strip else None):
            raise PredictionError(f"refusing to overwrite the input {given}")
    refuse_existing([args.output] + ([args.strip] if args.strip else []), args.overwrite)
    page = load_image(args.page).rgb if args.page is not None else None
    first = load_image(args.first_frame).rgb if args.first_frame is not None else None

    cfg, net = load_predictor(args.config, args.ckpt, args.overrides, args.device)
    if page is None or first is None:
        triples = held_out(cfg, net)
        if not 0 <= args.sample < len(triples):
            raise PredictionError(f"--sample {args.sample} is outside the {len(triples)} held-out samples")
        chosen = triples.samples[args.sample]
        page = page if page is not None else triples.page_image(chosen)
        first = first if first is not None else triples.frame_image(chosen)
        print(f"rollout from held-out sample {args.sample}: episode {chosen.episode}, raw frame "
              f"{chosen.raw_frame}, page {chosen.page}", file=sys.stderr)
    first = fit_to_multiple(first, net.size_multiple)
    page_x = page_input(page, *net.page_shape, channels=net.page_channels)

    def step(frame, page_, previous):
        return net(*[ms.Tensor(a) for a in (frame, page_, *previous)]).asnumpy()

    frames = [to_frames(x, (-1.0, 1.0))[0] for x in rollout(step, frame_input(first), page_x, args.frames,
                                                            net.context)]
    count = write_frames(args.output, frames, fps=args.fps, crf=args.crf, progress=not args.no_progress)
    print(f"wrote {args.output} ({count} frames, {first.shape[1]}x{first.shape[0]})")
    if args.strip is not None:
        print(f"wrote {save_image(args.strip, strip_of(frames))}")
    return 0

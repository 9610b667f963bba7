"""Neural style transfer (Gatys et al., 2016) with the AnimeGANv2 loss VGG19: a baseline of the photo-to-anime study.

    python mindspore_impl/style_transfer.py --content C.jpg --style S.jpg --vgg vgg19.ckpt --output out.png
        [--steps 300 --size 256 --content-weight 1 --style-weight 1000 --tv-weight 1000 --lr 0.02]

The image itself is the only trainable parameter: it starts as the content photo and Adam (MindSpore
`value_and_grad` on the image) minimises
    content_weight * mean((conv4_4(x) - conv4_4(content))^2)                      (pre-ReLU, as the AnimeGAN loss)
  + style_weight   * sum_l mean((gram(relu_l(x)) - gram(relu_l(style)))^2),  l in relu1_1, relu2_1, relu3_1, relu4_1
  + tv_weight      * tv_loss(x),
with gram normalised by H*W*C as in the AnimeGANv2 style loss, and the image clipped to [-1, 1] after each step.

Default weights: the PyTorch tutorial's balance (content 1 : style 1e6 on torchvision-normalised features)
rescaled to this network's Caffe 0..255 input range (features ~57x larger, so Gram errors ~1e7x and content
errors ~3e3x larger). They were NOT tuned on real VGG19 weights (none can be downloaded here); adjust per image.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python mindspore_impl/style_transfer.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mindspore as ms
import numpy as np
from mindspore import nn, ops
from tqdm import tqdm

from datasets.image_io import image_format_for, read_rgb, resize_rgb, write_image_atomic
from mindspore_impl.losses.animegan import gram, tv_loss
from mindspore_impl.models.vgg19 import load_vgg19
from runtime.argtypes import finite_float
from runtime.errors import UserError, run_main
from runtime.outputs import add_overwrite_argument, refuse_existing

DEFAULTS = dict(steps=300, size=256, content_weight=1.0, style_weight=1e3, tv_weight=1e3, lr=0.02)
MIN_SIZE = 16  # three 2x2 pools down to conv4_4 still leave a 2x2 map


class StyleTransferError(UserError):
    """Bad arguments or a diverging optimisation in neural style transfer."""


def to_tensor(rgb_uint8: np.ndarray) -> ms.Tensor:
    """HxWx3 uint8 -> 1x3xHxW float32 tensor in [-1, 1]."""
    return ms.Tensor(rgb_uint8.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0)


def to_image(x: ms.Tensor) -> np.ndarray:
    """1x3xHxW tensor in [-1, 1] -> HxWx3 uint8."""
    arr = x.asnumpy()[0].transpose(1, 2, 0)
    return np.clip(np.rint((arr + 1.0) * 127.5), 0, 255).astype(np.uint8)


def fit_long_side(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longer side equals `size`, keeping the aspect ratio."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    return resize_rgb(rgb, (max(MIN_SIZE, round(h * scale)), max(MIN_SIZE, round(w * scale))))


class GatysLoss(nn.Cell):
    """Holds the image being optimised (the only trainable parameter) and returns (total, content, style, tv)."""

    def __init__(self, vgg, content: ms.Tensor, style: ms.Tensor, content_weight: float, style_weight: float,
                 tv_weight: float):
        super().__init__()
        self.vgg = vgg  # frozen, built with with_taps=True
        self.image = ms.Parameter(content.copy(), name="image")
        content_feat, _ = vgg(content)
        _, style_taps = vgg(style)
        # Targets are constants: computed once, outside the differentiated graph.
        self.content_target = ops.stop_gradient(content_feat)
        self.style_grams = tuple(ops.stop_gradient(gram(t)) for t in style_taps)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight

    def construct(self):
        feat, taps = self.vgg(self.image)
        content = ops.mean(ops.square(feat - self.content_target))
        style = 0.0
        for tap, target in zip(taps, self.style_grams):
            style = style + ops.mean(ops.square(gram(tap) - target))
        tv = tv_loss(self.image)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return total, content, style, tv


def check_settings(steps: int, content_weight: float, style_weight: float, tv_weight: float, lr: float) -> None:
    """Raise StyleTransferError naming the first invalid optimisation setting."""
    if steps < 1:
        raise StyleTransferError(f"--steps must be >= 1, got {steps}")
    for name, value in (("content-weight", content_weight), ("style-weight", style_weight),
                        ("tv-weight", tv_weight)):
        if not np.isfinite(value) or value < 0:
            raise StyleTransferError(f"--{name} must be a finite number >= 0, got {value}")
    if not np.isfinite(lr) or lr <= 0:
        raise StyleTransferError(f"--lr must be a finite number > 0, got {lr}")


def stylize(content_rgb: np.ndarray, style_rgb: np.ndarray, vgg, steps: int = DEFAULTS["steps"],
            content_weight: float = DEFAULTS["content_weight"], style_weight: float = DEFAULTS["style_weight"],
            tv_weight: float = DEFAULTS["tv_weight"], lr: float = DEFAULTS["lr"], use_jit: bool = True,
            progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """Optimise an image (initialised with the content) with Adam; returns (HxWx3 uint8, per-step loss dicts).

    `vgg` is a frozen VGG19Features built with with_taps=True. The history entry of step i holds the losses
    measured *before* update i. Raises StyleTransferError if the loss becomes NaN/inf.
    """
    check_settings(steps, content_weight, style_weight, tv_weight, lr)
    loss_net = GatysLoss(vgg, to_tensor(content_rgb), to_tensor(style_rgb), content_weight, style_weight, tv_weight)
    optimizer = nn.Adam([loss_net.image], learning_rate=lr)
    grad_fn = ms.value_and_grad(loss_net, None, optimizer.parameters, has_aux=True)

    def train_step():
        (total, content, style, tv), grads = grad_fn()
        optimizer(grads)
        # Keep the image a valid picture; Adam alone would drift outside [-1, 1].
        ops.assign(loss_net.image, ops.clamp(loss_net.image, -1.0, 1.0))
        return total, content, style, tv

    step_fn = ms.jit(train_step) if use_jit else train_step
    history = []
    bar = tqdm(range(steps), desc="style transfer", unit="step", disable=not progress)
    for _ in bar:
        values = [float(v.asnumpy()) for v in step_fn()]
        entry = dict(zip(("total", "content", "style", "tv"), values))
        if not all(np.isfinite(values)):
            raise StyleTransferError(f"loss became non-finite at step {len(history)} ({entry}); lower --lr or "
                                     f"the weights")
        history.append(entry)
        bar.set_postfix(total=f"{entry['total']:.4g}", content=f"{entry['content']:.3g}",
                        style=f"{entry['style']:.3g}")
    return to_image(loss_net.image), history


def main(argv=None) -> int:
    """CLI entry point (run through runtime.errors.run_main); problems raise UserErrors."""
    parser = argparse.ArgumentParser(description="Gatys neural style transfer with the AnimeGANv2 loss VGG19.")
    parser.add_argument("--content", required=True, help="content image")
    parser.add_argument("--style", required=True, help="style image")
    parser.add_argument("--vgg", required=True, help="VGG19 checkpoint (mindspore_impl/vgg19_convert.py)")
    parser.add_argument("--output", required=True, help="output image (.png, .jpg, ...)")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="Adam steps (default 300)")
    parser.add_argument("--size", type=int, default=DEFAULTS["size"],
                        help="long side of the working resolution in pixels (default 256)")
    parser.add_argument("--content-weight", type=finite_float, default=DEFAULTS["content_weight"])
    parser.add_argument("--style-weight", type=finite_float, default=DEFAULTS["style_weight"])
    parser.add_argument("--tv-weight", type=finite_float, default=DEFAULTS["tv_weight"])
    parser.add_argument("--lr", type=finite_float, default=DEFAULTS["lr"],
                        help="Adam learning rate in [-1,1] image units")
    parser.add_argument("--no-jit", action="store_true", help="run the steps in PyNative mode (debugging)")
    add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    check_settings(args.steps, args.content_weight, args.style_weight, args.tv_weight, args.lr)
    if args.size < MIN_SIZE:
        raise StyleTransferError(f"--size must be >= {MIN_SIZE}, got {args.size}")
    output = Path(args.output)
    image_format_for(output)  # fail before minutes of optimisation, not after
    if not output.parent.is_dir():
        raise StyleTransferError(f"{output}: output directory does not exist")
    if output.resolve() in (Path(args.content).resolve(), Path(args.style).resolve()):
        raise StyleTransferError("--output must not overwrite an input image")
    refuse_existing([output], args.overwrite)
    content = fit_long_side(read_rgb(args.content), args.size)
    style = fit_long_side(read_rgb(args.style), args.size)
    vgg = load_vgg19(args.vgg, with_taps=True)
    image, history = stylize(content, style, vgg, args.steps, args.content_weight, args.style_weight,
                             args.tv_weight, args.lr, use_jit=not args.no_jit)
    write_image_atomic(output, image)
    first, last = history[0]["total"], history[-1]["total"]
    print(f"wrote {output} ({image.shape[1]}x{image.shape[0]}), total loss {first:.4g} -> {last:.4g} "
          f"over {len(history)} steps")
    return 0


if __name__ == "__main__":
    run_main(main)

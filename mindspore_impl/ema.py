"""Exponential moving average of a network's weights, as stylegan2-ada keeps its G_ema (`training_loop.py`).

After every training step (an `AfterStep` hook):

    ema_nimg = half_life_kimg * 1000
    if rampup is not None: ema_nimg = min(ema_nimg, images_seen * rampup)
    beta = 0.5 ** (global_batch / max(ema_nimg, 1e-8))
    p_ema <- p + beta * (p_ema - p)          (torch: p.lerp(p_ema, beta)), for every trainable parameter
    b_ema <- b                               for every other parameter (buffers: BatchNorm statistics, noise consts)

so the average forgets half its weight every `half_life_kimg` thousand images. `images_seen` counts the images of
the steps before this one, so with a ramp-up the first step copies the weights (beta = 0), as stylegan2-ada does.
The target is assigned in place (eager `ops.assign`): compiled graphs that read it see the new values.
"""
from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn, ops


class EMA:
    """`EMA(source, target, half_life_kimg, rampup)` is an AfterStep function: `hook(info, values) -> {"beta": b}`."""

    def __init__(self, source: nn.Cell, target: nn.Cell, half_life_kimg: float = 10.0, rampup: float | None = None):
        if not half_life_kimg > 0:
            raise ValueError(f"EMA half-life must be > 0 kimg, got {half_life_kimg}")
        if rampup is not None and not rampup > 0:
            raise ValueError(f"EMA ramp-up must be > 0 or None, got {rampup}")
        src, dst = dict(source.parameters_and_names()), dict(target.parameters_and_names())
        if list(src) != list(dst) or any(src[k].shape != dst[k].shape for k in src):
            raise ValueError("EMA source and target must be the same architecture (parameter paths differ)")
        self.pairs = [(src[k], dst[k]) for k in src]
        self.half_life_kimg, self.rampup = float(half_life_kimg), rampup

    def beta(self, images_seen: int, global_batch: int) -> float:
        ema_nimg = self.half_life_kimg * 1000.0
        if self.rampup is not None:
            ema_nimg = min(ema_nimg, images_seen * self.rampup)
        return 0.5 ** (global_batch / max(ema_nimg, 1e-8))

    def __call__(self, info, values=None) -> dict:
        beta = self.beta(info.images_seen, info.global_batch)
        b = np.float32(beta)
        for p, p_ema in self.pairs:
            current = p.asnumpy()
            new = current + b * (p_ema.asnumpy() - current) if p.requires_grad else current
            ops.assign(p_ema, ms.Tensor(new.astype(current.dtype, copy=False)))
        return {"beta": beta}

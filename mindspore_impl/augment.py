"""ADA: stylegan2-ada's differentiable augmentations (`training/augment.py`) with the adaptive probability p.

Split in two, so that a resumed run replays every augmentation exactly:
- **On the host** (`AugmentDraws.draw`, NumPy): every random choice of NVlabs' `AugmentPipe.forward` (which ops
  apply to which sample, with p; their values), folded as NVlabs folds them into a 3×3 inverse geometric
  matrix G_inv and a 4×4 colour matrix C per sample, then NVlabs' padding margin for the batch. What the graph
  needs comes out as small arrays: the sampling map of the grid sample (an affine map in canvas pixels, [N, 2, 3]),
  four row/column masks, the colour matrices [N, C, C+1].
- **In the graph** (`AugmentPipe`, MindSpore): reflect padding, the 12-tap sym6 wavelet upsampling ×2, bilinear
  sampling, wavelet downsampling and the colour transform: linear in the image, built from gathers, products and
  convolutions, so R1 (a gradient of D through the augmentation) differentiates again exactly.

Static shapes: NVlabs pads by a margin computed per batch from the transformed image corners; here the image is
always reflect-padded by NVlabs' largest margin (W-1, H-1), and masks zero the canvas outside NVlabs' margin before
and after the upsampling, so the values sampled are NVlabs' (reflected inside the margin, zero outside) while one
compiled graph serves every step. NVlabs executes the geometric stage whenever its pipeline has a geometric op,
even at p = 0 (the wavelet round trip is then nearly but not exactly the identity); so does this.

Supported ops: those of NVlabs' 'blit', 'geom', 'color', 'bg' and 'bgc' pipelines (xflip, rotate90, xint, scale,
rotate, aniso, xfrac, brightness, contrast, lumaflip, hue, saturation). 'filter', 'noise' and 'cutout' are not
implemented.

The adaptive p (`AdaptiveP`): every `interval` steps, p += sign(E[sign(D(real))] − target) · batch · interval /
(ada_kimg · 1000), clamped at 0 from below (NVlabs has no upper clamp), where the expectation is over every real
logit D produced since the last adjustment (main and R1 updates).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from mindspore_impl.models.stylegan2 import Upfirdn2d

# NVlabs `wavelets['sym6']`: the orthogonal low-pass filter of the geometric augmentations.
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)
HZ_PAD = len(SYM6) // 4  # NVlabs Hz_pad

GEOMETRIC_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR_OPS = ("brightness", "contrast", "lumaflip", "hue", "saturation")
UNSUPPORTED_OPS = ("imgfilter", "noise", "cutout")

# NVlabs train.py `augpipe_specs` (the ones built from supported ops).
PIPELINES: Dict[str, Dict[str, float]] = {
    "blit": dict(xflip=1, rotate90=1, xint=1),
    "geom": dict(scale=1, rotate=1, aniso=1, xfrac=1),
    "color": dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    "bg": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1),
    "bgc": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1,
                lumaflip=1, hue=1, saturation=1),
}
NVLABS_ONLY_PIPELINES = ("filter", "noise", "cutout", "bgcf", "bgcfn", "bgcfnc")


class AugmentError(ValueError):
    """An unknown or unsupported augmentation pipeline (the message lists the supported ones)."""


@dataclass(frozen=True)
class AugmentSpec:
    """NVlabs `AugmentPipe.__init__` arguments: probability multipliers (0 = off) and magnitudes."""

    xflip: float = 0.0
    rotate90: float = 0.0
    xint: float = 0.0
    xint_max: float = 0.125
    scale: float = 0.0
    rotate: float = 0.0
    aniso: float = 0.0
    xfrac: float = 0.0
    scale_std: float = 0.2
    rotate_max: float = 1.0
    aniso_std: float = 0.2
    xfrac_std: float = 0.125
    brightness: float = 0.0
    contrast: float = 0.0
    lumaflip: float = 0.0
    hue: float = 0.0
    saturation: float = 0.0
    brightness_std: float = 0.2
    contrast_std: float = 0.5
    hue_max: float = 1.0
    saturation_std: float = 1.0

    @classmethod
    def pipeline(cls, name: str) -> "AugmentSpec":
        if name in NVLABS_ONLY_PIPELINES:
            raise AugmentError(f"augmentation pipeline '{name}' needs NVlabs' imgfilter/noise/cutout ops, which are "
                               f"not implemented here; supported: {', '.join(PIPELINES)}")
        if name not in PIPELINES:
            raise AugmentError(f"unknown augmentation pipeline '{name}'; supported: {', '.join(PIPELINES)}")
        return cls(**PIPELINES[name])

    @property
    def geometric(self) -> bool:
        """NVlabs runs the geometric stage when any geometric op is enabled (whatever p is)."""
        return any(getattr(self, op) > 0 for op in GEOMETRIC_OPS)

    def color(self, channels: int) -> bool:
        ops_ = ("brightness", "contrast", "lumaflip") + (("hue", "saturation") if channels > 1 else ())
        return any(getattr(self, op) > 0 for op in ops_)


# ------------------------------------------------------------------------------------------------ host side: matrices

def _eye(n: int, count: int) -> np.ndarray:
    return np.broadcast_to(np.eye(n), (count, n, n)).copy()


def translate2d(tx, ty) -> np.ndarray:
    m = _eye(3, len(tx))
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def scale2d(sx, sy) -> np.ndarray:
    m = _eye(3, len(sx))
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def rotate2d(theta) -> np.ndarray:
    m = _eye(3, len(theta))
    c, s = np.cos(theta), np.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def translate3d(tx, ty, tz) -> np.ndarray:
    m = _eye(4, len(tx))
    m[:, 0, 3], m[:, 1, 3], m[:, 2, 3] = tx, ty, tz
    return m


def scale3d(sx, sy, sz) -> np.ndarray:
    m = _eye(4, len(sx))
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = sx, sy, sz
    return m


def rotate3d(v: np.ndarray, theta) -> np.ndarray:
    vx, vy, vz = v[0], v[1], v[2]
    s, c = np.sin(theta), np.cos(theta)
    cc = 1 - c
    m = _eye(4, len(theta))
    m[:, 0, :3] = np.stack([vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s], -1)
    m[:, 1, :3] = np.stack([vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s], -1)
    m[:, 2, :3] = np.stack([vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c], -1)
    return m


LUMA_AXIS = np.array([1, 1, 1, 0], np.float64) / np.sqrt(3)


@dataclass
class AugmentDraws:
    """The host-drawn inputs of one `AugmentPipe` call (float32 arrays, batch first where per sample)."""

    geom: Optional[np.ndarray] = None   # [N, 2, 3]: (ix, iy) = geom @ (j, i, 1) in upsampled canvas pixels
    masks: Optional[np.ndarray] = None  # [Hp + Wp + 2Hp + 2Wp]: rows, cols, rows ×2, cols ×2 of NVlabs' canvas
    color: Optional[np.ndarray] = None  # [N, C, C + 1]: colour matrix and offset column
    g_inv: Optional[np.ndarray] = None  # [N, 3, 3] NVlabs' G_inv before padding (for tests and inspection)
    c_mat: Optional[np.ndarray] = None  # [N, 4, 4] NVlabs' C
    margin: Optional[tuple] = None      # NVlabs' (mx0, my0, mx1, my1)

    def arrays(self) -> dict:
        """The graph inputs, by AugmentPipe argument name (only those its configuration takes)."""
        return {k: getattr(self, k) for k in ("geom", "masks", "color") if getattr(self, k) is not None}


def draw_matrices(spec: AugmentSpec, rng: np.random.Generator, n: int, p: float, height: int, width: int,
                  channels: int) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """(G_inv [N, 3, 3] or None, C [N, 4, 4] or None): NVlabs' random choices with probability multiplier p."""
    def chance(prob, shape=(n,)):
        return rng.random(shape) < prob

    g_inv = None
    if spec.geometric:
        g_inv = _eye(3, n)
        if spec.xflip > 0:
            i = np.where(chance(spec.xflip * p), np.floor(rng.random(n) * 2), 0)
            g_inv = g_inv @ scale2d(1 / (1 - 2 * i), np.ones(n))
        if spec.rotate90 > 0:
            i = np.where(chance(spec.rotate90 * p), np.floor(rng.random(n) * 4), 0)
            g_inv = g_inv @ rotate2d(np.pi / 2 * i)  # rotate2d_inv(-pi/2 i)
        if spec.xint > 0:
            t = (rng.random((n, 2)) * 2 - 1) * spec.xint_max
            t = np.where(chance(spec.xint * p, (n, 1)), t, 0)
            g_inv = g_inv @ translate2d(-np.round(t[:, 0] * width), -np.round(t[:, 1] * height))
        if spec.scale > 0:
            s = np.where(chance(spec.scale * p), np.exp2(rng.standard_normal(n) * spec.scale_std), 1)
            g_inv = g_inv @ scale2d(1 / s, 1 / s)
        p_rot = 1 - np.sqrt(np.clip(1 - spec.rotate * p, 0, 1))  # P(pre or post) = rotate * p
        if spec.rotate > 0:
            theta = np.where(chance(p_rot), (rng.random(n) * 2 - 1) * np.pi * spec.rotate_max, 0)
            g_inv = g_inv @ rotate2d(theta)  # rotate2d_inv(-theta), before the anisotropic scaling
        if spec.aniso > 0:
            s = np.where(chance(spec.aniso * p), np.exp2(rng.standard_normal(n) * spec.aniso_std), 1)
            g_inv = g_inv @ scale2d(1 / s, s)
        if spec.rotate > 0:
            theta = np.where(chance(p_rot), (rng.random(n) * 2 - 1) * np.pi * spec.rotate_max, 0)
            g_inv = g_inv @ rotate2d(theta)  # after the anisotropic scaling
        if spec.xfrac > 0:
            t = np.where(chance(spec.xfrac * p, (n, 1)), rng.standard_normal((n, 2)) * spec.xfrac_std, 0)
            g_inv = g_inv @ translate2d(-t[:, 0] * width, -t[:, 1] * height)

    c_mat = None
    if spec.color(channels):
        c_mat = _eye(4, n)
        v = LUMA_AXIS
        if spec.brightness > 0:
            b = np.where(chance(spec.brightness * p), rng.standard_normal(n) * spec.brightness_std, 0)
            c_mat = translate3d(b, b, b) @ c_mat
        if spec.contrast > 0:
            c = np.where(chance(spec.contrast * p), np.exp2(rng.standard_normal(n) * spec.contrast_std), 1)
            c_mat = scale3d(c, c, c) @ c_mat
        if spec.lumaflip > 0:
            i = np.where(chance(spec.lumaflip * p), np.floor(rng.random(n) * 2), 0)
            c_mat = (np.eye(4) - 2 * np.outer(v, v) * i[:, None, None]) @ c_mat  # Householder reflection
        if spec.hue > 0 and channels > 1:
            theta = np.where(chance(spec.hue * p), (rng.random(n) * 2 - 1) * np.pi * spec.hue_max, 0)
            c_mat = rotate3d(v, theta) @ c_mat
        if spec.saturation > 0 and channels > 1:
            s = np.where(chance(spec.saturation * p), np.exp2(rng.standard_normal(n) * spec.saturation_std), 1)
            c_mat = (np.outer(v, v) + (np.eye(4) - np.outer(v, v)) * s[:, None, None]) @ c_mat
    return g_inv, c_mat


def canvas_sizes(height: int, width: int) -> tuple[int, int]:
    """(Hp, Wp): the image reflect-padded by NVlabs' largest margin (H-1, W-1) on every side."""
    return 3 * height - 2, 3 * width - 2


def output_canvas(height: int, width: int) -> tuple[int, int]:
    """The grid sample's output size (H + 2 Hz_pad) × 2, before the wavelet downsampling crops it back."""
    return (height + 2 * HZ_PAD) * 2, (width + 2 * HZ_PAD) * 2


def geometry_inputs(g_inv: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """NVlabs' margin, canvas and normalisation steps for G_inv → (geom [N, 2, 3], masks, margin).

    NVlabs: pad by the margin, upsample ×2, then `grid_sample(canvas, affine_grid(theta))` with bilinear
    interpolation, zero padding, align_corners=False. Here theta is rewritten as an affine map from output pixel
    (j, i) to the source pixel (ix, iy) of our larger canvas (offset by its extra padding).
    """
    n = len(g_inv)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], np.float64)  # [idx, xyz]
    cp = g_inv @ corners.T  # [N, xyz, idx]
    margin = cp[:, :2, :].transpose(1, 0, 2).reshape(2, -1)  # [xy, N * idx]
    margin = np.concatenate([-margin, margin]).max(axis=1)  # [x0, y0, x1, y1]
    margin = margin + np.array([HZ_PAD * 2 - cx, HZ_PAD * 2 - cy] * 2)
    margin = np.minimum(np.maximum(margin, 0), np.array([width - 1, height - 1] * 2))
    # NVlabs computes the margin in float32 on the device; its ceil then rounds up the same way except at exact
    # integers, where float64 and float32 agree too.
    mx0, my0, mx1, my1 = (int(v) for v in np.ceil(margin.astype(np.float32)))
    g = translate2d(np.full(n, (mx0 - mx1) / 2), np.full(n, (my0 - my1) / 2)) @ g_inv
    g = scale2d(np.full(n, 2.0), np.full(n, 2.0)) @ g @ scale2d(np.full(n, 0.5), np.full(n, 0.5))
    g = translate2d(np.full(n, -0.5), np.full(n, -0.5)) @ g @ translate2d(np.full(n, 0.5), np.full(n, 0.5))
    up_h, up_w = 2 * (height + my0 + my1), 2 * (width + mx0 + mx1)  # NVlabs' upsampled canvas
    out_h, out_w = output_canvas(height, width)
    g = (scale2d(np.full(n, 2 / up_w), np.full(n, 2 / up_h)) @ g
         @ scale2d(np.full(n, out_w / 2), np.full(n, out_h / 2)))
    theta = g[:, :2, :]  # normalised output (x, y, 1) → normalised input (affine_grid)
    # affine_grid (align_corners=False): x_o = (2j + 1) / W_o - 1; grid_sample: ix = ((gx + 1) W_in - 1) / 2.
    to_norm = np.array([[2 / out_w, 0, 1 / out_w - 1], [0, 2 / out_h, 1 / out_h - 1], [0, 0, 1]])
    from_norm = np.array([[up_w / 2, 0, (up_w - 1) / 2], [0, up_h / 2, (up_h - 1) / 2]])
    pix = np.einsum("ab,nbc,cd->nad", from_norm, np.concatenate([theta, np.tile([[[0, 0, 1]]], (n, 1, 1))], 1),
                    to_norm)  # [N, 2, 3]
    hp, wp = canvas_sizes(height, width)
    off_x, off_y = (width - 1) - mx0, (height - 1) - my0  # NVlabs' canvas inside ours (before upsampling)
    pix[:, 0, 2] += 2 * off_x
    pix[:, 1, 2] += 2 * off_y

    def band(size, start, length):
        m = np.zeros(size, np.float32)
        m[start:start + length] = 1
        return m

    masks = np.concatenate([band(hp, off_y, height + my0 + my1), band(wp, off_x, width + mx0 + mx1),
                            band(2 * hp, 2 * off_y, up_h), band(2 * wp, 2 * off_x, up_w)])
    return pix.astype(np.float32), masks, (mx0, my0, mx1, my1)


def color_inputs(c_mat: np.ndarray, channels: int) -> np.ndarray:
    """NVlabs' colour application as [N, C, C+1]: RGB uses C[:3, :4]; one channel the mean row, its matrix part
    summed."""
    if channels == 3:
        return c_mat[:, :3, :].astype(np.float32)
    if channels == 1:
        row = c_mat[:, :3, :].mean(axis=1, keepdims=True)
        return np.concatenate([row[:, :, :3].sum(axis=2, keepdims=True), row[:, :, 3:]], axis=2).astype(np.float32)
    raise AugmentError(f"colour augmentation needs 1 or 3 channels, got {channels}")


def draw(spec: AugmentSpec, rng: np.random.Generator, n: int, p: float, channels: int, height: int,
         width: int) -> AugmentDraws:
    """Everything one AugmentPipe call needs for a batch of n images, with probability multiplier p."""
    g_inv, c_mat = draw_matrices(spec, rng, n, float(p), height, width, channels)
    out = AugmentDraws(g_inv=g_inv, c_mat=c_mat)
    if g_inv is not None:
        out.geom, out.masks, out.margin = geometry_inputs(g_inv, height, width)
    if c_mat is not None:
        out.color = color_inputs(c_mat, channels)
    return out


# ------------------------------------------------------------------------------------------------ graph side

def _reflect_indices(size: int, margin: int) -> np.ndarray:
    """torch 'reflect' padding (edge not repeated) as source indices."""
    idx = np.arange(-margin, size + margin)
    period = 2 * (size - 1)
    idx = np.abs(idx) % period if size > 1 else np.zeros_like(idx)
    return np.where(idx >= size, period - idx, idx).astype(np.int32)


class AugmentPipe(nn.Cell):
    """The augmentation of D's inputs: `construct(images, geom=None, masks=None, color=None)`.

    Takes the arrays of `draw(...)` (only those its spec needs: geom and masks for a geometric pipeline, color for
    a colour one). Images [N, C, H, W] at the fixed (height, width) of the constructor.
    """

    def __init__(self, spec: AugmentSpec, channels: int, height: int, width: int):
        super().__init__()
        self.spec, self.channels, self.height, self.width = spec, channels, height, width
        self.geometric, self.colour = spec.geometric, spec.color(channels)
        if self.geometric:
            self.hp, self.wp = canvas_sizes(height, width)
            self.rows = Tensor(_reflect_indices(height, height - 1))
            self.cols = Tensor(_reflect_indices(width, width - 1))
            p0, p1 = (len(SYM6) + 2 - 1) // 2, (len(SYM6) - 2) // 2  # upsample2d padding
            self.upsample = Upfirdn2d(SYM6, up=2, padding=(p0, p1, p0, p1), gain=4, separable=True)
            d0, d1 = -HZ_PAD * 2 + (len(SYM6) - 2 + 1) // 2, -HZ_PAD * 2 + (len(SYM6) - 2) // 2
            self.downsample = Upfirdn2d(SYM6, down=2, padding=(d0, d1, d0, d1), flip_filter=True, separable=True)
            self.out_h, self.out_w = output_canvas(height, width)
            j, i = np.meshgrid(np.arange(self.out_w), np.arange(self.out_h))
            self.base = Tensor(np.stack([j.ravel(), i.ravel(), np.ones(j.size)]).astype(np.float32))  # [3, P]

    def _split_masks(self, masks):
        hp, wp = self.hp, self.wp
        rows = masks[:hp].reshape((1, 1, hp, 1))
        cols = masks[hp:hp + wp].reshape((1, 1, 1, wp))
        rows2 = masks[hp + wp:3 * hp + wp].reshape((1, 1, 2 * hp, 1))
        cols2 = masks[3 * hp + wp:].reshape((1, 1, 1, 2 * wp))
        return rows, cols, rows2, cols2

    def _sample(self, canvas, geom):
        """Bilinear sampling with zero padding (grid_sample, align_corners=False) at geom @ (j, i, 1)."""
        n, c, h, w = canvas.shape
        coords = ops.stop_gradient(ops.matmul(geom, self.base))  # [N, 2, P]
        ix, iy = coords[:, 0], coords[:, 1]
        x0, y0 = ops.floor(ix), ops.floor(iy)
        fx, fy = ix - x0, iy - y0
        flat = canvas.transpose(0, 2, 3, 1).reshape((n * h * w, c))
        # int32 index arithmetic: at 256² a batch's canvas has more pixels than float32 counts exactly
        offset = (ops.arange(n, dtype=ms.int32) * (h * w)).reshape((-1, 1))
        out = None
        for dy in (0, 1):
            for dx in (0, 1):
                xi, yi = x0 + dx, y0 + dy
                inside = ops.logical_and(ops.logical_and(xi >= 0, xi <= w - 1),
                                         ops.logical_and(yi >= 0, yi <= h - 1))
                weight = (fx if dx else 1 - fx) * (fy if dy else 1 - fy) * ops.cast(inside, ms.float32)
                row = ops.cast(ops.clamp(yi, 0, h - 1), ms.int32)
                col = ops.cast(ops.clamp(xi, 0, w - 1), ms.int32)
                index = ops.stop_gradient(row * w + col + offset).reshape(-1)
                taps = ops.gather(flat, index, 0).reshape((n, -1, c)) * ops.stop_gradient(weight).reshape((n, -1, 1))
                out = taps if out is None else out + taps
        return out.transpose(0, 2, 1).reshape((n, c, self.out_h, self.out_w))

    def construct(self, images, geom=None, masks=None, color=None):
        x = images
        if self.geometric:
            rows, cols, rows2, cols2 = self._split_masks(masks)
            x = ops.gather(ops.gather(x, self.rows, 2), self.cols, 3) * rows * cols
            x = self.upsample(x) * rows2 * cols2
            x = self.downsample(self._sample(x, geom))
        if self.colour:
            n, c, h, w = x.shape
            y = ops.matmul(color[:, :, :c], x.reshape((n, c, h * w))) + color[:, :, c:]
            x = y.reshape((n, c, h, w))
        return x


# ------------------------------------------------------------------------------------------------ adaptive p

class AdaptiveP:
    """ADA's p and the real-logit sign statistics since its last adjustment (host state, saved in checkpoints).

    `observe(signs)` after each update that ran D on reals; `step(global_step, global_batch)` after every step
    adjusts p when `(global_step + 1) % interval == 0` (NVlabs counts batch_idx after incrementing it).
    target None keeps p fixed (NVlabs --aug=fixed).
    """

    def __init__(self, p: float = 0.0, target: float | None = 0.6, interval: int = 4, kimg: float = 500.0):
        if interval < 1 or not kimg > 0:
            raise ValueError(f"ADA interval must be >= 1 and ada_kimg > 0, got {interval}, {kimg}")
        self.p, self.target, self.interval, self.kimg = float(p), target, int(interval), float(kimg)
        self.sign_sum, self.sign_count = 0.0, 0

    def observe(self, signs: np.ndarray) -> None:
        signs = np.asarray(signs, np.float64)
        self.sign_sum += float(signs.sum())
        self.sign_count += int(signs.size)

    def adjustment(self, mean_sign: float, global_batch: int) -> float:
        return float(np.sign(mean_sign - self.target) * (global_batch * self.interval) / (self.kimg * 1000))

    def step(self, global_step: int, global_batch: int, reduce=None) -> Optional[float]:
        """Adjust p if this step ends an interval; returns the mean sign used (None otherwise). `reduce` sums the
        (sum, count) pair over data-parallel ranks so every rank keeps the same p."""
        if self.target is None or (global_step + 1) % self.interval:
            return None
        total, count = (self.sign_sum, self.sign_count) if reduce is None else reduce(self.sign_sum, self.sign_count)
        self.sign_sum, self.sign_count = 0.0, 0
        if count == 0:
            return None
        mean = total / count
        self.p = max(self.p + self.adjustment(mean, global_batch), 0.0)
        return mean

    def state(self) -> dict:
        return {"p": self.p, "sign_sum": self.sign_sum, "sign_count": self.sign_count}

    def load_state(self, state: dict) -> None:
        self.p, self.sign_sum, self.sign_count = float(state["p"]), float(state["sign_sum"]), int(state["sign_count"])


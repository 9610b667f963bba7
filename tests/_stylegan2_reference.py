"""Independent NumPy formulations of NVlabs stylegan2-ada-pytorch's ops, written from `torch_utils/ops/*_ref` and
`training/networks.py` (loops and einsums, float64), for the StyleGAN2 parity tests. Nothing here imports the
MindSpore implementation."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def setup_filter(taps, separable=None) -> np.ndarray:
    f = np.asarray(taps, np.float64)
    if separable is None:
        separable = f.ndim == 1 and f.size >= 8
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    return f / f.sum()


def correlate2d(x: np.ndarray, k: np.ndarray, stride=(1, 1)) -> np.ndarray:
    """Per-channel 'valid' cross-correlation of [N, C, H, W] with a 2-D kernel, then striding."""
    windows = sliding_window_view(x, k.shape, axis=(2, 3))  # [N, C, H', W', kh, kw]
    return np.einsum("nchwij,ij->nchw", windows, k)[:, :, ::stride[0], ::stride[1]]


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), flip_filter=False, gain=1.0) -> np.ndarray:
    """NVlabs `_upfirdn2d_ref`: zero insertion, pad (negative = crop), FIR (convolution unless flip_filter), down."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    if up > 1:
        z = np.zeros((n, c, h * up, w * up))
        z[:, :, ::up, ::up] = x
        x = z
    x0, x1, y0, y1 = padding
    x = np.pad(x, ((0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    f = np.asarray(f, np.float64) * gain ** (np.ndim(f) / 2)
    if not flip_filter:
        f = np.flip(f)
    if f.ndim == 2:
        return correlate2d(x, f, (down, down))
    x = correlate2d(x, f.reshape(1, -1), (1, down))
    return correlate2d(x, f.reshape(-1, 1), (down, 1))


def conv2d(x, w, padding=0, stride=1) -> np.ndarray:
    """torch.nn.functional.conv2d (cross-correlation), x [N, I, H, W], w [O, I, k, k]."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # [N, I, H', W', kh, kw]
    return np.einsum("nihwab,oiab->nohw", windows, np.asarray(w, np.float64))[:, :, ::stride, ::stride]


def conv_transpose2d(x, w, stride=2) -> np.ndarray:
    """torch.nn.functional.conv_transpose2d without padding, x [N, I, H, W], w [I, O, k, k]."""
    n, _, h, wd = x.shape
    o, k = w.shape[1], w.shape[2]
    out = np.zeros((n, o, (h - 1) * stride + k, (wd - 1) * stride + k))
    for a in range(k):
        for b in range(k):
            out[:, :, a:a + stride * h:stride, b:b + stride * wd:stride] += np.einsum("nihw,io->nohw", x, w[:, :, a, b])
    return out


def modulated_conv2d(x, weight, styles, up=1, demodulate=True, filt=(1, 3, 3, 1)) -> np.ndarray:
    """NVlabs' fused formulation: one weight per sample, w_n = weight · s_n (· rsqrt(Σ w_n² + 1e-8))."""
    x, weight, styles = (np.asarray(a, np.float64) for a in (x, weight, styles))
    out = []
    for n in range(x.shape[0]):
        wn = weight * styles[n][None, :, None, None]
        if demodulate:
            wn = wn / np.sqrt(np.square(wn).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        xn = x[n:n + 1]
        if up == 1:
            out.append(conv2d(xn, wn, padding=weight.shape[2] // 2))
        else:
            y = conv_transpose2d(xn, wn.transpose(1, 0, 2, 3), stride=2)
            out.append(upfirdn2d(y, setup_filter(filt), padding=(1, 1, 1, 1), gain=4))
    return np.concatenate(out)


def bias_act(x, b=None, act="linear", gain=None, clamp=None) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if b is not None:
        x = x + np.asarray(b).reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = np.where(x >= 0, x, 0.2 * x)
    gain = (np.sqrt(2) if act == "lrelu" else 1.0) if gain is None else gain
    x = x * gain
    return np.clip(x, -clamp, clamp) if clamp is not None else x


def fully_connected(x, weight, bias, act="linear", lr_multiplier=1.0) -> np.ndarray:
    w = np.asarray(weight, np.float64) * (lr_multiplier / np.sqrt(weight.shape[1]))
    b = None if bias is None else np.asarray(bias, np.float64) * lr_multiplier
    return bias_act(np.asarray(x, np.float64) @ w.T, b, act)


def normalize_2nd_moment(x, eps=1e-8) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.square(x).mean(axis=1, keepdims=True) + eps)


def minibatch_std(x, group_size=4, num_channels=1) -> np.ndarray:
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    g = min(group_size, n) if group_size is not None else n
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w)
    y = np.sqrt(np.square(y - y.mean(axis=0)).mean(axis=0) + 1e-8).mean(axis=(2, 3, 4))
    y = np.tile(y.reshape(-1, num_channels, 1, 1), (g, 1, h, w))
    return np.concatenate([x, y], axis=1)

"""The losses of latent projection (NVlabs stylegan2-ada-pytorch `projector.py`, on this project's VGG19).

- `noise_regularization(maps)`: NVlabs' penalty on the optimised noise maps. Per map, at every level of a pyramid
  of 2×2 average-pooled versions down to 8×8 (a map of 8×8 or less has one level): the squared mean of the map times
  itself shifted by one pixel (circularly) along x, plus the same along y. It is 0 for white noise and grows when
  the optimiser hides image content in the noise (spatially correlated maps).
- `PerceptualDistance`: an LPIPS-style distance on the project's VGG19 (`models/vgg19.py`), at relu1_1, relu2_1,
  relu3_1, relu4_1 and conv4_4 (pre-ReLU). Each layer's features are normalised to unit length over channels
  (LPIPS' `normalize_tensor`), and the distance is Σ_layers mean_pixels Σ_channels (f̂_a − f̂_b)², i.e. LPIPS with
  unit linear weights. NVlabs uses the LPIPS VGG16 (`vgg16.pt`, learned linear weights on 5 ReLU layers); that
  network and its weights cannot be downloaded here, so the layers and weights differ (see
  docs/manganime_projection.md). Images larger than 256² are area-downsampled to 256² first, as NVlabs does.
- `pixel_mse`: mean squared difference of the images in [-1, 1] (NVlabs has no pixel term; with random VGG weights
  it is what ties the projection to the picture).

Each has a NumPy (noise penalty: torch too) parity test in tests/test_manganime_projection.py.
"""
from __future__ import annotations

from typing import Sequence

from mindspore import nn, ops

VGG_MAX_SIDE = 256  # NVlabs: "Downsample image to 256x256 if it's larger than that. VGG was built for 224x224."
PYRAMID_MIN_SIDE = 8  # NVlabs' noise pyramid stops at 8×8


def _roll1(x, axis: int):
    """torch.roll(x, shifts=1, dims=axis) for axis 2 or 3 of NCHW, by slicing (static shapes, graph-friendly)."""
    if axis == 3:
        return ops.concat((x[:, :, :, -1:], x[:, :, :, :-1]), axis=3)
    return ops.concat((x[:, :, -1:, :], x[:, :, :-1, :]), axis=2)


def avg_pool2(x):
    """2×2/2 average pooling of NCHW with even sides (F.avg_pool2d(x, 2))."""
    n, c, h, w = x.shape
    return x.reshape((n, c, h // 2, 2, w // 2, 2)).mean(axis=(3, 5))


def noise_regularization(maps: Sequence):
    """NVlabs' noise regulariser over [1, 1, r, r] maps (see the module docstring); a scalar tensor."""
    reg = None
    for noise in maps:
        while True:
            term = (ops.square((noise * _roll1(noise, 3)).mean()) + ops.square((noise * _roll1(noise, 2)).mean()))
            reg = term if reg is None else reg + term
            if noise.shape[2] <= PYRAMID_MIN_SIDE:
                break
            noise = avg_pool2(noise)
    return reg


def area_downsample(x, side: int):
    """F.interpolate(x, (side, side), mode='area') for a square NCHW image whose side is a multiple of `side`."""
    n, c, h, w = x.shape
    if h <= side:
        return x
    f = h // side
    return x.reshape((n, c, side, f, side, f)).mean(axis=(3, 5))


def normalize_channels(x, eps: float = 1e-10):
    """LPIPS `normalize_tensor`: x / (‖x‖ over channels + eps)."""
    return x / (ops.sqrt(ops.square(x).sum(axis=1, keepdims=True)) + eps)


def pixel_mse(a, b):
    return ops.square(a - b).mean()


class PerceptualDistance(nn.Cell):
    """`features(img)` → the normalised feature maps of a [N, 3, R, R] image in [-1, 1]; `construct(img, *target)`
    → [N] distances of `img` to the target's features (computed once with `features`). `vgg` is a frozen
    `VGG19Features(with_taps=True)`."""

    def __init__(self, vgg: nn.Cell, max_side: int = VGG_MAX_SIDE):
        super().__init__()
        if not getattr(vgg, "with_taps", False):
            raise ValueError("PerceptualDistance needs VGG19Features(with_taps=True)")
        self.vgg = vgg
        self.max_side = int(max_side)

    def features(self, img):
        conv4_4, taps = self.vgg(area_downsample(img, self.max_side))
        return tuple(normalize_channels(f) for f in tuple(taps) + (conv4_4,))

    def construct(self, img, *target):
        dist = None
        for f, t in zip(self.features(img), target):
            d = ops.square(f - t).sum(axis=1).mean(axis=(1, 2))
            dist = d if dist is None else dist + d
        return dist

"""An FID-style metric for training runs: the Fréchet distance between Gaussian fits of feature vectors of
generated and training images (Heusel et al. 2017).

The feature network here is NOT Inception-v3 (whose weights cannot be downloaded in this project): it is the
project's VGG19 (`mindspore_impl/models/vgg19.py`, conv4_4 before its ReLU, averaged over the image: 512 values),
with the weights of `vgg_ckpt` (converted from `vgg19.npy` or torchvision by `mindspore_impl/vgg19_convert.py`),
or, when none is given, fixed random He-initialised weights (seed 0). Its values track the same kind of
distribution distance as FID, and fall as a run improves, but they are not comparable to published FID numbers
(NVlabs' fid50k uses Inception-v3 pool3 features of 50,000 samples), nor across feature networks; with few samples
the covariance estimate is biased upwards.
"""
from __future__ import annotations

from typing import Callable, Optional

import mindspore as ms
import numpy as np
from scipy import linalg


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 − mu2|² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), the real part of the matrix square root (as NVlabs' metric)."""
    root, _ = linalg.sqrtm(np.dot(sigma1, sigma2), disp=False)
    return float(np.square(mu1 - mu2).sum() + np.trace(sigma1 + sigma2 - 2 * np.real(root)))


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


class FeatureNetwork:
    """VGG19 features of [N, 3, H, W] images in [-1, 1] (greyscale is replicated): [N, 512]."""

    def __init__(self, vgg_ckpt: Optional[str] = None):
        from mindspore_impl.models import vgg19

        if vgg_ckpt:
            self.net = vgg19.load_vgg19(vgg_ckpt)
            self.name = "vgg19"
        else:
            self.net = vgg19.freeze(vgg19.VGG19Features())
            params = vgg19.random_vgg19_params(seed=0)
            for name, p in self.net.parameters_and_names():
                p.set_data(ms.Tensor(params[name]))
            self.name = "vgg19-random"

    def __call__(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch):
            x = np.asarray(images[i:i + batch], np.float32)
            if x.shape[1] == 1:
                x = np.repeat(x, 3, axis=1)
            out.append(self.net(ms.Tensor(x)).asnumpy().mean(axis=(2, 3)))
        return np.concatenate(out)


class FIDMetric:
    """`metric(generate) -> float`: generate(n) returns n images; the training-set statistics are computed once."""

    def __init__(self, real_images: Callable[[int], np.ndarray], samples: int, vgg_ckpt: Optional[str] = None):
        if samples < 2:
            raise ValueError(f"the FID metric needs at least 2 samples, got {samples}")
        self.samples = int(samples)
        self.features = FeatureNetwork(vgg_ckpt)
        self._real_images = real_images
        self._real = None

    def real_stats(self):
        if self._real is None:
            self._real = feature_stats(self.features(self._real_images(self.samples)))
        return self._real

    def __call__(self, generate: Callable[[int], np.ndarray]) -> float:
        mu_r, s_r = self.real_stats()
        mu_g, s_g = feature_stats(self.features(generate(self.samples)))
        return frechet_distance(mu_g, s_g, mu_r, s_r)
